"""A model's reply -> the next action, or why it cannot be one.

Tool-calling mode reads the first tool call (its JSON arguments checked
field by field); a reply without one falls back to the text rules. Text
mode accepts `<code>` tags (and `<execute_ipython>`, `<execute_bash>`),
fenced blocks and bare code; several blocks of the same language are
joined; anything inside reasoning blocks (`<think>`) is ignored as code.
`<finish>answer</finish>` (or a "Final answer:" line) ends the task. Code
wins over a finish in the same reply: the model has not seen its output yet.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from codeact.v1 import common_pb2, events_pb2, planner_pb2

from .prompts import TOOLS_BY_NAME, ToolId

PYTHON, BASH = events_pb2.TOOL_EXECUTE_PYTHON, events_pb2.TOOL_EXECUTE_BASH
REASONING = re.compile(r"<(think|thinking|reasoning)>(.*?)(?:</\1>|$)", re.S | re.I)
TAGGED = re.compile(
    r"<(code|python|execute_python|execute_ipython|bash|execute_bash)>\n?(.*?)(?:</\1>|$)",
    re.S | re.I,
)
FENCED = re.compile(r"^[ \t]*```[ \t]*([\w+.-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)
FINISH = re.compile(r"<(finish|answer|final_answer)>(.*?)(?:</\1>|$)", re.S | re.I)
FINAL_LINE = re.compile(r"^[ \t*]*final answer[ \t*]*:[ \t*]*(.+)", re.S | re.I | re.M)
LANGUAGES = {
    "": PYTHON,
    "python": PYTHON,
    "python3": PYTHON,
    "py": PYTHON,
    "ipython": PYTHON,
    "bash": BASH,
    "sh": BASH,
    "shell": BASH,
    "console": BASH,
}
TAG_LANGUAGES = {"bash": BASH, "execute_bash": BASH}
EDIT_COMMANDS = {
    "view": events_pb2.EDIT_COMMAND_VIEW,
    "create": events_pb2.EDIT_COMMAND_CREATE,
    "str_replace": events_pb2.EDIT_COMMAND_STR_REPLACE,
    "insert": events_pb2.EDIT_COMMAND_INSERT,
}


@dataclass(frozen=True)
class Parsed:
    action: planner_pb2.ProposedAction | None
    failure: str = ""
    # The tool call used, for the assistant message (tool-calling mode).
    tool_call: common_pb2.ToolCall | None = None


def _failure(reason: str) -> Parsed:
    return Parsed(None, reason)


def parse_text(content: str, tools: Collection[ToolId]) -> Parsed:
    reasoning = [m.group(2).strip() for m in REASONING.finditer(content)]
    visible = REASONING.sub("", content)
    blocks: list[tuple[int, ToolId, str]] = []
    for match in TAGGED.finditer(visible):
        language = TAG_LANGUAGES.get(match.group(1).lower(), PYTHON)
        blocks.append((match.start(), language, _unfence(match.group(2))))
    prose = TAGGED.sub("", visible)
    if not blocks:
        for match in FENCED.finditer(visible):
            fenced = LANGUAGES.get(match.group(1).lower())
            if fenced is not None:
                blocks.append((match.start(), fenced, match.group(2)))
        prose = FENCED.sub(lambda m: "" if m.group(1).lower() in LANGUAGES else m.group(0), visible)
    blocks = [b for b in blocks if b[2].strip()]
    finish = FINISH.search(prose)
    if finish is not None:
        prose = prose[: finish.start()] + prose[finish.end() :]
    thought = "\n\n".join([*reasoning, prose.strip()]).strip()
    if blocks:
        language = blocks[0][1]
        if language not in tools:
            other = "bash" if language == BASH else "Python"
            return _failure(f"{other} is not enabled here")
        joiner = "\n\n" if language == PYTHON else "\n"
        code = joiner.join(b[2].strip("\n") for b in blocks if b[1] == language)
        return Parsed(
            planner_pb2.ProposedAction(
                thought=thought, action=events_pb2.CodeAction(tool=language, code=code)
            )
        )
    if finish is not None:
        return _finish(thought, finish.group(2).strip())
    final = FINAL_LINE.search(visible)
    if final is not None:
        return _finish(visible[: final.start()].strip(), final.group(1).strip())
    if PYTHON in tools and looks_like_code(visible):
        action = events_pb2.CodeAction(tool=PYTHON, code=visible.strip("\n"))
        return Parsed(planner_pb2.ProposedAction(thought="\n\n".join(reasoning), action=action))
    if not content.strip():
        return _failure("the reply was empty")
    return _failure("it has no code block and no <finish> tag")


def _finish(thought: str, answer: str) -> Parsed:
    action = events_pb2.CodeAction(tool=events_pb2.TOOL_FINISH)
    return Parsed(planner_pb2.ProposedAction(thought=thought, action=action, answer=answer))


def _unfence(code: str) -> str:
    """Code inside tags that is also fenced."""
    match = FENCED.fullmatch(code.strip())
    return match.group(2) if match is not None else code


def looks_like_code(text: str) -> bool:
    """Bare Python: it parses and does something (not a lone name or constant)."""
    text = text.strip()
    if not text:
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(
        not isinstance(node, ast.Expr)
        or not isinstance(node.value, ast.Name | ast.Constant | ast.Attribute)
        for node in tree.body
    )


def parse_reply(
    content: str, calls: list[common_pb2.ToolCall], tools: Collection[ToolId], text_mode: bool
) -> Parsed:
    if text_mode or not calls:
        parsed = parse_text(content, tools)
        if not text_mode and parsed.action is None:
            return _failure("no tool was called")
        return parsed
    return _parse_call(content, calls[0], tools)


def _parse_call(content: str, call: common_pb2.ToolCall, tools: Collection[ToolId]) -> Parsed:
    tool = TOOLS_BY_NAME.get(call.name)
    if tool is None:
        return _failure(f"there is no tool named {call.name!r}")
    if tool not in tools:
        return _failure(f"the tool {call.name} is not enabled here")
    try:
        arguments: Any = json.loads(call.arguments_json or "{}")
    except json.JSONDecodeError as exc:
        raw = call.arguments_json
        if tool in (PYTHON, BASH) and not raw.lstrip().startswith("{"):
            arguments = {"code" if tool == PYTHON else "command": raw}
        else:
            return _failure(f"the arguments of {call.name} are not valid JSON ({exc.msg})")
    if not isinstance(arguments, dict):
        return _failure(f"the arguments of {call.name} must be a JSON object")
    try:
        action, answer = _action(tool, arguments)
    except _Missing as missing:
        return _failure(f"{call.name} needs {missing}")
    action.tool_call_id = call.id
    thought = content.strip()
    if tool == events_pb2.TOOL_THINK:
        thought, answer = f"{thought}\n\n{answer}".strip(), ""
    proposed = planner_pb2.ProposedAction(thought=thought, action=action, answer=answer)
    return Parsed(proposed, tool_call=call)


class _Missing(Exception):
    pass


def _string(arguments: dict[str, Any], name: str, required: bool = True) -> str:
    value = arguments.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip() and name != "new_str"):
        raise _Missing(f"a non-empty string '{name}'")
    return value


def _action(tool: ToolId, arguments: dict[str, Any]) -> tuple[events_pb2.CodeAction, str]:
    action = events_pb2.CodeAction(tool=tool)
    if tool == PYTHON:
        action.code = _string(arguments, "code")
    elif tool == BASH:
        action.code = _string(arguments, "command")
    elif tool == events_pb2.TOOL_THINK:
        return action, _string(arguments, "thought")
    elif tool == events_pb2.TOOL_FINISH:
        return action, _string(arguments, "answer", required=False)
    else:
        command = arguments.get("command")
        if command not in EDIT_COMMANDS:
            raise _Missing(f"'command' to be one of {', '.join(EDIT_COMMANDS)}")
        edit = action.edit
        edit.command = EDIT_COMMANDS[command]
        edit.path = _string(arguments, "path")
        edit.file_text = _string(arguments, "file_text", required=command == "create")
        edit.old_str = _string(arguments, "old_str", required=command == "str_replace")
        edit.new_str = _string(arguments, "new_str", required=command == "insert")
        if command == "insert":
            line = arguments.get("insert_line")
            if not isinstance(line, int) or isinstance(line, bool) or line < 0:
                raise _Missing("a non-negative integer 'insert_line'")
            edit.insert_line = line
    return action, ""

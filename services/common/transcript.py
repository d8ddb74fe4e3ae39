"""Events -> the chat messages of a prompt.

An action with a tool call id becomes an assistant message with that tool
call and its observation a tool message (native tool calling); without one,
the code goes in a fenced block and the observation comes back as a user
message (text mode). A thought is the content of the assistant message of
the action that follows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from codeact.v1 import common_pb2, events_pb2, executor_pb2

TOOL_NAMES = {
    events_pb2.TOOL_EXECUTE_PYTHON: "execute_python",
    events_pb2.TOOL_EXECUTE_BASH: "execute_bash",
    events_pb2.TOOL_EDIT_FILE: "edit_file",
    events_pb2.TOOL_THINK: "think",
    events_pb2.TOOL_FINISH: "finish",
}
EDIT_COMMANDS = {
    events_pb2.EDIT_COMMAND_VIEW: "view",
    events_pb2.EDIT_COMMAND_CREATE: "create",
    events_pb2.EDIT_COMMAND_STR_REPLACE: "str_replace",
    events_pb2.EDIT_COMMAND_INSERT: "insert",
}
MASKED = "<observation omitted to keep the prompt short>"


@dataclass
class Summary:
    """A condensation's summary, standing in the view for forgotten events."""

    text: str


def text_of(event: events_pb2.Event) -> str:
    """The text of an event as the model will see it (also what is counted)."""
    kind = event.WhichOneof("payload")
    if kind == "action":
        return _action_text(event.action)
    if kind is None:
        return ""
    value = getattr(event, kind)
    for field in ("text", "content", "message"):
        if hasattr(value, field):
            return str(getattr(value, field))
    if kind == "policy_verdict":
        return "; ".join(f"{f.rule_id}: {f.message}" for f in value.findings)
    if kind == "condensation":
        return str(value.summary)
    return ""


def _action_arguments(action: events_pb2.CodeAction) -> dict[str, object]:
    if action.tool == events_pb2.TOOL_EDIT_FILE:
        edit = action.edit
        args: dict[str, object] = {
            "command": EDIT_COMMANDS.get(edit.command, ""),
            "path": edit.path,
        }
        for name in ("file_text", "old_str", "new_str"):
            if getattr(edit, name):
                args[name] = getattr(edit, name)
        if edit.command == events_pb2.EDIT_COMMAND_INSERT:
            args["insert_line"] = edit.insert_line
        return args
    key = "command" if action.tool == events_pb2.TOOL_EXECUTE_BASH else "code"
    return {key: action.code}


def _action_text(action: events_pb2.CodeAction) -> str:
    if action.tool in (events_pb2.TOOL_EXECUTE_PYTHON, events_pb2.TOOL_EXECUTE_BASH):
        language = "bash" if action.tool == events_pb2.TOOL_EXECUTE_BASH else "python"
        return f"```{language}\n{action.code}\n```"
    return f"{TOOL_NAMES.get(action.tool, 'tool')}: {json.dumps(_action_arguments(action))}"


def messages(
    view: list[events_pb2.Event | Summary], masked: frozenset[str] = frozenset()
) -> list[common_pb2.Message]:
    """The messages for a view of the conversation; `masked` observation ids are shortened."""
    out: list[common_pb2.Message] = []
    thought = ""

    def flush() -> None:
        """A thought no action took up is said on its own, where it was."""
        nonlocal thought
        if thought:
            out.append(common_pb2.Message(role=common_pb2.ROLE_ASSISTANT, content=thought))
            thought = ""

    for item in view:
        if isinstance(item, Summary):
            flush()
            out.append(_user(f"Summary of the earlier steps:\n{item.text}"))
            continue
        kind = item.WhichOneof("payload")
        if kind == "thought":
            thought = f"{thought}\n{item.thought.text}".strip()
        elif kind == "action":
            out.append(_action_message(item.action, thought))
            thought = ""
        elif kind == "final_answer":
            out.append(
                common_pb2.Message(
                    role=common_pb2.ROLE_ASSISTANT,
                    content=f"{thought}\n\n{item.final_answer.text}".strip(),
                )
            )
            thought = ""
        elif kind == "system_prompt":
            flush()
            out.append(
                common_pb2.Message(role=common_pb2.ROLE_SYSTEM, content=item.system_prompt.text)
            )
        elif kind == "user_message":
            flush()
            out.append(_user(item.user_message.text))
        elif kind == "observation":
            flush()
            content = MASKED if item.id in masked else _observation_text(item.observation)
            if item.observation.tool_call_id:
                out.append(
                    common_pb2.Message(
                        role=common_pb2.ROLE_TOOL,
                        content=content,
                        tool_call_id=item.observation.tool_call_id,
                    )
                )
            else:
                out.append(_user(f"Observation:\n{content}"))
        elif kind == "error":
            flush()
            out.append(_user(f"Error ({item.error.reason}): {item.error.message}"))
    flush()
    return pair_tool_calls(out)


def _action_message(action: events_pb2.CodeAction, thought: str) -> common_pb2.Message:
    message = common_pb2.Message(role=common_pb2.ROLE_ASSISTANT, content=thought)
    if action.tool_call_id:
        message.tool_calls.add(
            id=action.tool_call_id,
            name=TOOL_NAMES.get(action.tool, "tool"),
            arguments_json=json.dumps(_action_arguments(action)),
        )
    else:
        message.content = f"{thought}\n\n{_action_text(action)}".strip()
    return message


def pair_tool_calls(out: list[common_pb2.Message]) -> list[common_pb2.Message]:
    """Chat APIs refuse a tool call not followed by its result, or a result
    without its call (condensation or a budget can separate them). Such
    halves are kept, as plain text."""
    fixed: list[common_pb2.Message] = []
    for index, message in enumerate(out):
        if message.tool_calls:
            following = out[index + 1] if index + 1 < len(out) else None
            answered = following is not None and following.tool_call_id == message.tool_calls[0].id
            if not answered:
                calls = "".join(f"\n\n{c.name}: {c.arguments_json}" for c in message.tool_calls)
                text = (message.content + calls).strip()
                message = common_pb2.Message(role=message.role, content=text)
        elif message.role == common_pb2.ROLE_TOOL:
            previous = fixed[-1] if fixed else None
            if previous is None or not any(
                c.id == message.tool_call_id for c in previous.tool_calls
            ):
                message = _user(f"Observation:\n{message.content}")
        fixed.append(message)
    return fixed


def _observation_text(observation: events_pb2.Observation) -> str:
    status = observation.status
    if status in (executor_pb2.EXECUTION_STATUS_UNSPECIFIED, executor_pb2.EXECUTION_STATUS_OK):
        return observation.content
    name = executor_pb2.ExecutionStatus.Name(status).removeprefix("EXECUTION_STATUS_")
    return f"[{name}] {observation.content}"


def _user(text: str) -> common_pb2.Message:
    return common_pb2.Message(role=common_pb2.ROLE_USER, content=text)

"""Replies -> actions: text mode's many shapes, tool calls, and failures."""

from __future__ import annotations

import pytest

from codeact.v1 import common_pb2, events_pb2
from services.planner.parsing import looks_like_code, parse_reply, parse_text
from services.planner.planning import ALL_TOOLS

PY, BASH, FINISH = (
    events_pb2.TOOL_EXECUTE_PYTHON,
    events_pb2.TOOL_EXECUTE_BASH,
    events_pb2.TOOL_FINISH,
)
TEXT = {PY, BASH, FINISH}


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        ("Let me compute.\n<code>\nprint(1 + 1)\n</code>", "print(1 + 1)"),
        ("Sure:\n```python\nx = 2\nprint(x)\n```\nThat prints 2.", "x = 2\nprint(x)"),
        ("```py\nx = 1\n```", "x = 1"),
        ("```\nimport math\nmath.pi\n```", "import math\nmath.pi"),
        (
            "<execute_ipython>\nimport os\nos.listdir('.')\n</execute_ipython>",
            "import os\nos.listdir('.')",
        ),
        ("<code>\n```python\nprint('both')\n```\n</code>", "print('both')"),
        ("import numpy as np\nprint(np.arange(3))", "import numpy as np\nprint(np.arange(3))"),
        # Several blocks of the same language are joined in order.
        ("First:\n```python\na = 1\n```\nthen:\n```python\nprint(a)\n```", "a = 1\n\nprint(a)"),
        # Blocks in other languages are not code to run.
        ("The data:\n```json\n{\"a\": 1}\n```\n```python\nprint('x')\n```", "print('x')"),
        # A reply cut off inside a block still yields the code so far.
        (
            "Running:\n```python\nfor i in range(3):\n    print(i)",
            "for i in range(3):\n    print(i)",
        ),
        ("<code>\nprint('unclosed')", "print('unclosed')"),
    ],
)
def test_text_mode_finds_the_code(reply: str, code: str) -> None:
    parsed = parse_text(reply, TEXT)
    assert parsed.action is not None, parsed.failure
    assert parsed.action.action.tool == PY
    assert parsed.action.action.code == code


def test_thought_is_the_prose_around_the_code() -> None:
    parsed = parse_text("I will add.\n```python\nprint(1+1)\n```\nDone soon.", TEXT)
    assert parsed.action is not None
    assert parsed.action.thought == "I will add.\n\nDone soon."


def test_fences_inside_reasoning_are_ignored() -> None:
    reply = (
        "<think>Maybe ```python\nimport os; os.system('rm -rf /')\n``` no, better not.</think>"
        "<code>print('safe')</code>"
    )
    parsed = parse_text(reply, TEXT)
    assert parsed.action is not None
    assert parsed.action.action.code == "print('safe')"
    assert "better not" in parsed.action.thought
    only_reasoning = parse_text("<think>```python\nprint(1)\n```</think>Nothing to run.", TEXT)
    assert only_reasoning.action is None


def test_bash_blocks_and_disabled_bash() -> None:
    parsed = parse_text("```bash\nls -la\n```", TEXT)
    assert parsed.action is not None
    assert (parsed.action.action.tool, parsed.action.action.code) == (BASH, "ls -la")
    refused = parse_text("```bash\nls\n```", {PY, FINISH})
    assert refused.action is None
    assert "bash is not enabled" in refused.failure


@pytest.mark.parametrize(
    ("reply", "answer"),
    [
        ("All done.\n<finish>42</finish>", "42"),
        ("<answer>The mean is 3.5</answer>", "The mean is 3.5"),
        ("I checked it twice.\nFinal Answer: 17", "17"),
        ("**Final answer:** the list is [1, 2]", "the list is [1, 2]"),
    ],
)
def test_text_mode_finish(reply: str, answer: str) -> None:
    parsed = parse_text(reply, TEXT)
    assert parsed.action is not None, parsed.failure
    assert parsed.action.action.tool == FINISH
    assert parsed.action.answer == answer


def test_code_wins_over_a_finish_in_the_same_reply() -> None:
    parsed = parse_text("```python\nprint(6*7)\n```\n<finish>42</finish>", TEXT)
    assert parsed.action is not None
    assert parsed.action.action.tool == PY


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("", "empty"),
        ("   \n", "empty"),
        ("I think the answer is probably around forty.", "no code block"),
        ("done", "no code block"),
        ("```text\njust words\n```", "no code block"),
    ],
)
def test_unparseable_text(reply: str, reason: str) -> None:
    parsed = parse_text(reply, TEXT)
    assert parsed.action is None
    assert reason in parsed.failure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x = 1", True),
        ("print('hi')", True),
        ("def f():\n    return 1", True),
        ("hello", False),
        ("42", False),
        ("np.pi", False),
        ("This is a sentence.", False),
        ("", False),
    ],
)
def test_bare_code_heuristic(text: str, expected: bool) -> None:
    assert looks_like_code(text) is expected


def call(name: str, arguments: str, id: str = "call_1") -> common_pb2.ToolCall:
    return common_pb2.ToolCall(id=id, name=name, arguments_json=arguments)


def test_tool_calls_become_actions_with_their_ids() -> None:
    parsed = parse_reply(
        "Computing.", [call("execute_python", '{"code": "print(2)"}')], ALL_TOOLS, False
    )
    assert parsed.action is not None
    action = parsed.action.action
    assert (action.tool, action.code, action.tool_call_id) == (PY, "print(2)", "call_1")
    assert parsed.action.thought == "Computing."
    assert parsed.tool_call is not None and parsed.tool_call.id == "call_1"
    # Only the first of several calls is used (the assistant message keeps that one).
    two = parse_reply(
        "",
        [call("execute_bash", '{"command": "ls"}'), call("finish", '{"answer": "x"}', "c2")],
        ALL_TOOLS,
        False,
    )
    assert two.action is not None and two.action.action.tool == BASH


def test_edit_think_and_finish_calls() -> None:
    edit = parse_reply(
        "",
        [
            call(
                "edit_file",
                '{"command": "str_replace", "path": "a.py", "old_str": "x", "new_str": "y"}',
            )
        ],
        ALL_TOOLS,
        False,
    )
    assert edit.action is not None
    assert edit.action.action.edit.command == events_pb2.EDIT_COMMAND_STR_REPLACE
    assert (edit.action.action.edit.old_str, edit.action.action.edit.new_str) == ("x", "y")
    think = parse_reply("Hmm.", [call("think", '{"thought": "plan: a then b"}')], ALL_TOOLS, False)
    assert think.action is not None
    assert think.action.thought == "Hmm.\n\nplan: a then b"
    finish = parse_reply("", [call("finish", '{"answer": "42"}')], ALL_TOOLS, False)
    assert finish.action is not None and finish.action.answer == "42"


@pytest.mark.parametrize(
    ("name", "arguments", "reason"),
    [
        ("execute_python", '{"code": ', "not valid JSON"),
        ("execute_python", "[1, 2]", "must be a JSON object"),
        ("execute_python", '{"cmd": "x"}', "non-empty string 'code'"),
        ("execute_python", '{"code": ""}', "non-empty string 'code'"),
        ("browse", '{"url": "x"}', "no tool named 'browse'"),
        ("edit_file", '{"command": "delete", "path": "a"}', "'command' to be one of"),
        ("edit_file", '{"command": "create", "path": "a"}', "'file_text'"),
        (
            "edit_file",
            '{"command": "insert", "path": "a", "new_str": "x", "insert_line": -1}',
            "insert_line",
        ),
    ],
)
def test_bad_tool_calls_say_why(name: str, arguments: str, reason: str) -> None:
    parsed = parse_reply("", [call(name, arguments)], ALL_TOOLS, False)
    assert parsed.action is None
    assert reason in parsed.failure


def test_raw_code_as_arguments_is_accepted() -> None:
    parsed = parse_reply("", [call("execute_python", "print('raw')")], ALL_TOOLS, False)
    assert parsed.action is not None and parsed.action.action.code == "print('raw')"


def test_a_tool_not_offered_is_refused() -> None:
    parsed = parse_reply("", [call("execute_bash", '{"command": "ls"}')], (PY, FINISH), False)
    assert parsed.action is None
    assert "not enabled" in parsed.failure


def test_no_tool_call_falls_back_to_code_blocks() -> None:
    parsed = parse_reply("```python\nprint(3)\n```", [], ALL_TOOLS, False)
    assert parsed.action is not None and parsed.action.action.code == "print(3)"
    assert parsed.action.action.tool_call_id == ""
    nothing = parse_reply("I am not sure what to do.", [], ALL_TOOLS, False)
    assert nothing.action is None and nothing.failure == "no tool was called"

"""`codeact sessions | exec | check | memory | completion`, and --json, against
the live services."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest

from codeact import Client, events
from tests.clients.python.test_cli import codeact
from tests.llm_stub import LLMStub
from tests.services.agent.scenarios import finish, py
from tests.stack import Stack
from tests.support import KEYS

KEY = KEYS["acme"]


def test_sessions_create_list_delete(stack: Stack) -> None:
    target = ("--target", stack.executor.address, "--token", KEY)
    code, out, _ = codeact("sessions", "create", "--memory", str(256 << 20), *target)
    assert code == 0
    session_id = out.strip()
    code, out, _ = codeact("sessions", "list", *target)
    assert session_id in out and "mem=256MiB" in out
    code, out, _ = codeact("sessions", "list", "--json", *target)
    assert session_id in [s["id"] for s in json.loads(out)]
    code, out, _ = codeact("sessions", "delete", session_id, *target)
    assert (code, out.strip()) == (0, f"deleted {session_id}")
    code, _, err = codeact("sessions", "delete", session_id, *target)
    assert code == 2 and "SESSION_NOT_FOUND" in err


def test_exec_streams_a_file_and_saves_images(stack: Stack, tmp_path: Path) -> None:
    source = tmp_path / "chart.py"
    source.write_text(
        "import matplotlib.pyplot as plt\nprint('drawing')\nplt.plot([1, 2])\nplt.show()\n6 * 7"
    )
    code, out, _ = codeact(
        "exec", str(source), "--target", stack.executor.address, "--token", KEY,
        "--images", str(tmp_path / "imgs"),
    )  # fmt: skip
    assert code == 0
    assert out.startswith("drawing\n") and "42\n" in out
    saved = tmp_path / "imgs" / "output-1.png"
    assert f"[image/png saved to {saved}]" in out
    assert saved.read_bytes().startswith(b"\x89PNG")


def test_exec_reads_stdin_keeps_state_and_fails_on_errors(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Client(stack.executor.address, token=KEY) as client:
        session = client.executor.create_session()
        target = ("--target", stack.executor.address, "--token", KEY, "--session", session.id)
        monkeypatch.setattr("sys.stdin", io.StringIO("x = 20"))
        assert codeact("exec", "-", *target)[0] == 0
        monkeypatch.setattr("sys.stdin", io.StringIO("print(x + 22)"))
        assert codeact("exec", *target)[1] == "42\n"
        monkeypatch.setattr("sys.stdin", io.StringIO("1/0"))
        code, _, err = codeact("exec", *target)
        assert code == 1 and "ZeroDivisionError" in err
        monkeypatch.setattr("sys.stdin", io.StringIO("echo $((6 * 7))"))
        code, out, _ = codeact("exec", "--bash", "--json", *target)
        lines = [json.loads(line) for line in out.splitlines()]
        assert code == 0 and lines[0]["output"]["text"] == "42\n"
        assert "completion" in lines[-1]
        session.delete()


def test_check_reports_like_a_linter(stack: Stack, tmp_path: Path) -> None:
    good = tmp_path / "good.py"
    good.write_text("import math\nprint(math.pi)\n")
    bad = tmp_path / "bad.py"
    bad.write_text("import os\nimport pandass\nos.system('id')\n")
    target = ("--target", stack.policy.address, "--token", KEY)
    code, out, _ = codeact("check", str(good), *target)
    assert code == 0 and f"{good}: ALLOW" in out
    code, out, _ = codeact("check", str(good), str(bad), "--profile", "strict", *target)
    assert code == 1
    assert f"{bad}:2:1: error [import-not-available]" in out
    assert "did you mean: pandas" in out
    assert f"{bad}: DENY (strict)" in out
    code, out, _ = codeact("check", str(bad), "--json", *target)
    report = json.loads(out)
    assert code == 1 and report[0]["file"] == str(bad) and report[0]["decision"] == "DECISION_DENY"


def test_memory_list_show_context(stack: Stack) -> None:
    with Client(stack.memory.address, token=KEY) as client:
        made = client.memory.create_conversation(labels={"cli": "yes"})
        client.memory.append(made.id, events.user("Plot the data"), events.thought("First, load"))
    target = ("--target", stack.memory.address, "--token", KEY)
    code, out, _ = codeact("memory", "list", *target)
    assert code == 0 and made.id in out and "cli=yes" in out
    code, out, _ = codeact("memory", "show", made.id, *target)
    assert "user_message: Plot the data" in out and "thought: First, load" in out
    code, out, _ = codeact("memory", "context", made.id, *target)
    assert "--- user\nPlot the data" in out
    code, out, _ = codeact("memory", "context", made.id, "--json", *target)
    assert json.loads(out)["messages"]
    code, _, err = codeact("memory", "show", *target)
    assert code == 2 and "needs a conversation id" in err


def test_run_json_is_one_event_per_line(stack: Stack, llm: LLMStub) -> None:
    llm.script(py("print(6 * 7)"), finish("42"))
    code, out, _ = codeact(
        "run", "six times seven", "--json", "--target", stack.agent.address, "--token", KEY
    )
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and lines[-1]["end"]["outcome"] == "TASK_OUTCOME_FINISHED"


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    code, out, _ = codeact("completion", shell)
    assert code == 0
    for word in ("run", "eval", "sessions", "exec", "check", "memory", "--json", "--profile"):
        assert word in out
    script = tmp_path / "completion.sh"
    script.write_text(out)
    if shell == "bash":
        probe = f"source {script}; COMP_WORDS=(codeact se); COMP_CWORD=1; _codeact; "
        probe += 'echo "${COMPREPLY[@]}"'
        done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
        assert done.stdout.split() == ["sessions"]

"""The README's Python example runs as written against a live executor."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import KEYS, ServerThread

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_example() -> str:
    text = README.read_text()
    section = text[text.index("## Calling the executor") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_python_example_runs(executor: ServerThread) -> None:
    code = _python_example()
    assert "127.0.0.1:50054" in code and '"s3cret"' in code
    code = code.replace("127.0.0.1:50054", executor.address).replace('"s3cret"', repr(KEYS["acme"]))
    exec(compile(code, "README.md", "exec"), {})


def test_the_readme_policy_example_runs(tmp_path: Path) -> None:
    from services.policy.__main__ import build_service
    from services.policy.settings import PolicySettings
    from tests.support import INLINE_KEYS

    text = README.read_text()
    section = text[text.index("## Checking code with the policy service") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    server = ServerThread(PolicySettings(api_keys=INLINE_KEYS, metrics_port=-1), build_service)
    server.start()
    try:
        code = match.group(1).replace("127.0.0.1:50053", server.address)
        exec(compile(code.replace('"s3cret"', repr(KEYS["acme"])), "README.md", "exec"), {})
    finally:
        server.stop()


def test_the_readme_memory_example_runs(tmp_path: Path) -> None:
    from services.memory.__main__ import build_service
    from services.memory.settings import MemorySettings
    from tests.support import INLINE_KEYS

    text = README.read_text()
    section = text[text.index("## Conversations and contexts with the memory service") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    settings = MemorySettings(
        api_keys=INLINE_KEYS, metrics_port=-1, dsn=f"sqlite://{tmp_path / 'm.db'}"
    )
    server = ServerThread(settings, build_service).start()
    try:
        code = match.group(1).replace("127.0.0.1:50055", server.address)
        exec(compile(code.replace('"s3cret"', repr(KEYS["acme"])), "README.md", "exec"), {})
    finally:
        server.stop()


def test_the_readme_agent_example_runs(stack, llm, capsys) -> None:
    from tests.services.agent.scenarios import finish, py

    text = README.read_text()
    section = text[text.index("## Running a task with the agent") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    llm.script(py("print(2 ** 10)"), finish("1024"))
    code = match.group(1).replace("127.0.0.1:50051", stack.agent.address)
    exec(compile(code.replace('"s3cret"', repr(KEYS["acme"])), "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "code: print(2 ** 10)" in printed
    assert "1024\nanswer: 1024" in printed
    assert "outcome: 1 steps: 2" in printed


def test_the_readme_planner_example_runs(stack, llm, capsys) -> None:
    from tests.services.agent.scenarios import py

    text = README.read_text()
    section = text[text.index("### Prompts and the planner") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    llm.script(py("print(sum(range(11)))"))
    code = match.group(1).replace("127.0.0.1:50052", stack.planner.address)
    exec(compile(code.replace("s3cret", KEYS["acme"]), "README.md", "exec"), {})
    assert capsys.readouterr().out == "print(sum(range(11)))\n"


def _buf_curl_commands() -> list[str]:
    text = README.read_text()
    section = text[text.index("### buf curl") : text.index("### TypeScript / Node")]
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        commands += [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    return commands


def test_the_readme_buf_curl_examples_run(stack, llm) -> None:
    """Every `buf curl` line of the README, against the five live services."""
    import json
    import shlex
    import subprocess
    import sys

    from tests.services.agent.scenarios import finish, py

    buf = str(Path(sys.executable).parent / "buf")
    ports = {
        "50051": stack.agent.address,
        "50052": stack.planner.address,
        "50053": stack.policy.address,
        "50054": stack.executor.address,
        "50055": stack.memory.address,
    }
    llm.script(py("print(sum(range(1, 11)))"), py("print(2 ** 10)"), finish("1024"))
    variables: dict[str, str] = {}
    ids: dict[str, str] = {}
    ran = 0
    for command in _buf_curl_commands():
        if re.fullmatch(r"\w+=.*", command):
            name, _, value = command.partition("=")
            variables[name] = shlex.split(value)[0]
            continue
        for name, value in variables.items():
            command = command.replace(f'"${name}"', shlex.quote(value))
        command = command.replace("s3cret", KEYS["acme"])
        for port, address in ports.items():
            command = command.replace(f"127.0.0.1:{port}", address)
        command = command.replace("<agent session id>", ids.get("agent", ""))
        service = "memory" if "MemoryService" in command else "executor"
        command = command.replace("<id>", ids.get(service, ""))
        argv = shlex.split(command)
        assert argv[:2] == ["buf", "curl"], command
        done = subprocess.run([buf, *argv[1:]], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (command, done.stderr)
        ran += 1
        if command.endswith("/CreateSession"):
            ids["executor"] = json.loads(done.stdout)["session"]["id"]
        elif command.endswith("/CreateConversation"):
            ids["memory"] = json.loads(done.stdout)["conversation"]["id"]
        elif command.endswith("/CreateAgentSession"):
            ids["agent"] = json.loads(done.stdout)["session"]["id"]
        elif command.endswith("/Execute"):
            assert "42" in done.stdout
        elif command.endswith("/CheckCode"):
            assert "DECISION_DENY" in done.stdout
        elif command.endswith("/RunTask"):
            assert "TASK_OUTCOME_FINISHED" in done.stdout and "1024" in done.stdout
    assert ran == 9


def test_the_readme_async_example_runs(executor: ServerThread, capsys) -> None:
    text = README.read_text()
    section = text[text.index("### Python, asynchronously") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    code = match.group(1).replace("127.0.0.1:50054", executor.address)
    exec(compile(code.replace('"s3cret"', repr(KEYS["acme"])), "README.md", "exec"), {})
    assert capsys.readouterr().out == "42\n\n"  # print() of "42\n"

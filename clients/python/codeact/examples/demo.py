"""`make demo`: start the stack and give the agent the Fibonacci-and-chart
task when a model endpoint is configured; without one, say how to configure
one and run the sandbox part of the demo (the same work as cells).

An endpoint is configured by CODEACT_PLANNER_LLM_BASE_URL (any
OpenAI-compatible server), or OPENAI_API_KEY alone (OpenAI itself), or
llm_base_url in the [planner] table of $CODEACT_CONFIG.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from codeact import Client
from codeact.console import Printer
from codeact.examples.fibonacci import run_cells
from codeact.v1 import agent_pb2

TASK = (
    "Compute the first 10 Fibonacci numbers, print them, and plot them as a line chart "
    "with a title."
)
HOW_TO = """\
No model endpoint is configured, so the agent cannot run the task yet. Point the
planner at any OpenAI-compatible endpoint and run `make demo` again:

  OpenAI      export OPENAI_API_KEY=sk-...   (model: CODEACT_PLANNER_LLM_MODEL, default gpt-4o-mini)
  vLLM        export CODEACT_PLANNER_LLM_BASE_URL=http://localhost:8000/v1
              export CODEACT_PLANNER_LLM_MODEL=Qwen/Qwen2.5-Coder-7B-Instruct
  llama.cpp   export CODEACT_PLANNER_LLM_BASE_URL=http://localhost:8080/v1
              export CODEACT_PLANNER_LLM_MODE=text   (if the model has no tool calling)
  Ollama      export CODEACT_PLANNER_LLM_BASE_URL=http://localhost:11434/v1
              export CODEACT_PLANNER_LLM_MODEL=qwen2.5-coder

Meanwhile, the sandbox part of the demo: the same work as cells in one session.
"""


def configured_endpoint() -> str | None:
    for name in ("CODEACT_PLANNER_LLM_BASE_URL", "CODEACT_LLM_BASE_URL"):
        if os.environ.get(name):
            return os.environ[name]
    config = os.environ.get("CODEACT_CONFIG")
    if config and Path(config).is_file():
        with open(config, "rb") as f:
            table = tomllib.load(f)
        for section in ("planner", "server"):
            url = table.get(section, {}).get("llm_base_url")
            if url:
                return str(url)
    if os.environ.get("OPENAI_API_KEY"):
        return "https://api.openai.com/v1"
    return None


def start_stack(key: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """`codeact-server up` with a fresh key; the addresses from its banner."""
    env = {**os.environ, "CODEACT_API_KEYS": f"demo:{key}", "CODEACT_LOG_LEVEL": "warning"}
    # The audit trail goes to a file, not between the demo's lines.
    env.setdefault(
        "CODEACT_AUDIT_FILE", os.path.join(tempfile.gettempdir(), "codeact-demo-audit.jsonl")
    )
    stack = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "up"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert stack.stdout is not None
    addresses: dict[str, str] = {}
    for line in stack.stdout:
        print(line, end="")
        parts = line.split()
        if line.startswith("  ") and len(parts) == 2:
            addresses[parts[0]] = parts[1]
        if len(addresses) == 5:
            break
    return stack, addresses


def run_agent(target: str, key: str, images: Path) -> int:
    printer = Printer(sys.stdout, sys.stdout.isatty(), images)
    print(f"\ntask: {TASK}\n")
    with Client(target, token=key, timeout=60) as client, client.agent.create_session() as agent:
        for event in agent.run(TASK, timeout=600):
            printer.show(event)
            if event.WhichOneof("event") == "end":
                return 0 if event.end.outcome == agent_pb2.TASK_OUTCOME_FINISHED else 1
    return 1


def main() -> int:
    endpoint = configured_endpoint()
    if endpoint is None:
        print(HOW_TO)
    key = secrets.token_urlsafe(24)
    stack, addresses = start_stack(key)
    try:
        if len(addresses) < 5:
            print("the stack did not start", file=sys.stderr)
            return 1
        if endpoint is None:
            return run_cells(addresses["executor"], key)
        print(f"\nmodel endpoint: {endpoint}")
        return run_agent(
            addresses["agent"], key, Path(os.environ.get("CODEACT_DEMO_IMAGES", "codeact-images"))
        )
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=30)
        print("\nstack stopped")


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo` with and without a model endpoint (the stack in processes)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.llm_stub import LLMStub
from tests.services.agent.scenarios import finish, py
from tests.services.agent.test_scenarios import FIB_AND_CHART
from tests.support import can_jail

SERVICES = ("agent", "planner", "policy", "executor", "memory")
LLM_VARIABLES = (
    "OPENAI_API_KEY",
    "CODEACT_PLANNER_LLM_BASE_URL",
    "CODEACT_LLM_BASE_URL",
    "CODEACT_CONFIG",
)


def demo_env(tmp_path: Path, state_root: Path) -> dict[str, str]:
    sockets = [socket.socket() for _ in SERVICES]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    env = {k: v for k, v in os.environ.items() if k not in LLM_VARIABLES}
    env |= {f"CODEACT_{n.upper()}_PORT": str(p) for n, p in zip(SERVICES, ports, strict=True)}
    env |= {f"CODEACT_{n.upper()}_METRICS_PORT": "-1" for n in SERVICES}
    # Jails must traverse the state directory (pytest's tmp_path is 0700).
    state = state_root / f"demo-{tmp_path.name}"
    env |= {
        "CODEACT_EXECUTOR_STATE_DIR": str(state),
        "CODEACT_EXECUTOR_INSTANCE": f"demo{os.getpid()}",
        "CODEACT_MEMORY_DSN": f"sqlite://{tmp_path / 'memory.db'}",
        "CODEACT_DEMO_IMAGES": str(tmp_path / "images"),
    }
    return env


def run_demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeact.examples.demo"],
        env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip


@pytest.fixture(autouse=True)
def _root() -> None:
    if not can_jail():
        pytest.skip("the executor needs real jails")


def test_without_an_endpoint_it_says_how_and_runs_the_sandbox_part(
    tmp_path: Path, state_root: Path
) -> None:
    done = run_demo(demo_env(tmp_path, state_root))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("No model endpoint is configured")
    for name in ("OpenAI", "vLLM", "llama.cpp", "Ollama"):
        assert name in out
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out
    assert "stack stopped" in out


def test_with_an_endpoint_the_agent_does_the_task(tmp_path: Path, state_root: Path) -> None:
    stub = LLMStub().start()
    stub.script(
        py(FIB_AND_CHART, "Computing and plotting."), finish("0, 1, 1, 2, 3, 5, 8, 13, 21, 34")
    )
    env = demo_env(tmp_path, state_root) | {"CODEACT_PLANNER_LLM_BASE_URL": stub.base_url}
    try:
        done = run_demo(env)
    finally:
        stub.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert f"model endpoint: {stub.base_url}" in out
    assert "Computing and plotting." in out
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out
    assert "answer: 0, 1, 1, 2, 3, 5, 8, 13, 21, 34" in out
    images = list((tmp_path / "images").glob("*.png"))
    assert len(images) == 1 and str(images[0]) in out
    assert len(stub.requests) == 2

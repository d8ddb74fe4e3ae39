"""Helpers for benchmarks: executor processes, percentiles, BENCH lines."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

ROOT = Path(__file__).resolve().parent.parent


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def bench_line(name: str, **values: object) -> str:
    parts = " ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()
    )
    line = f"BENCH {name} {parts}"
    print(line, flush=True)
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def service_process(
    service: str, key: str | None = None, **settings: Any
) -> Iterator[tuple[str, str]]:
    """A service in its own process; yields (address, api key). Services that
    call each other on a caller's behalf share one `key`."""
    port = int(settings.pop("port", 0)) or free_port()
    key = key or secrets.token_urlsafe(16)
    state = Path(tempfile.mkdtemp(prefix="codeact-bench-"))
    state.chmod(0o711)
    prefix = f"CODEACT_{service.upper()}_"
    env = {
        **os.environ,
        "CODEACT_API_KEYS": f"bench:{key}",
        "CODEACT_LOG_LEVEL": "warning",
        # The audit trail is written (its cost is part of each call), not shown.
        "CODEACT_AUDIT_FILE": os.devnull,
        f"{prefix}METRICS_PORT": "-1",
    }
    if service == "executor":
        env |= {f"{prefix}STATE_DIR": str(state / "executor"), f"{prefix}INSTANCE": f"bench{port}"}
    env |= {f"{prefix}{k.upper()}": str(v) for k, v in settings.items()}
    proc = subprocess.Popen(
        [sys.executable, "-m", f"services.{service}", "--port", str(port)], env=env, cwd=ROOT
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
        yield f"127.0.0.1:{port}", key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        subprocess.run(["rm", "-rf", str(state)], check=False)


def executor_process(**settings: Any) -> Any:
    """An executor in its own process; yields (address, api key)."""
    return service_process("executor", **settings)


def timed(fn: object, *args: object) -> float:
    started = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000

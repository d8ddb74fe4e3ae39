"""The sandbox part of `make demo` (codeact/examples/demo.py), also runnable
alone: start the stack, run "compute the first 10 Fibonacci numbers" as
cells in one sandboxed session, print each cell's output and status, and
stop the stack.

Set CODEACT_DEMO_TARGET to run the cells against a stack that is already up
(with CODEACT_API_KEY if it needs a key).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap

from codeact import CellResult, Client

CELLS = [
    "def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    "fibs = [fib(i) for i in range(10)]\nprint(fibs)",
    "sum(fibs)",
    "import numpy as np\nratios = np.array(fibs[2:]) / np.array(fibs[1:-1])\n"
    "print(f'ratio -> {ratios[-1]:.4f} (golden ratio 1.6180)')",
    "fibs[10]  # an error is reported, not fatal",
    "len(fibs)",
]


def show(number: int, code: str, result: CellResult) -> None:
    print(f"\n[{number}] " + textwrap.indent(code, "    ").lstrip())
    if result.stdout:
        print(textwrap.indent(result.stdout.rstrip("\n"), "    | "))
    if result.stderr:
        print(textwrap.indent(result.stderr.rstrip("\n"), "    ! "))
    if result.result is not None:
        print(f"    => {result.result.plain}")
    if result.error is not None:
        print(f"    {result.error.ename}: {result.error.evalue}")
    detail = f" ({result.message})" if result.message else ""
    print(f"    status {result.status.name}, {result.wall_time * 1000:.1f} ms{detail}")


def run_cells(target: str, token: str | None) -> int:
    with Client(target, token=token) as client, client.session() as session:
        print(f"session {session.id} on {target}")
        for number, code in enumerate(CELLS, 1):
            show(number, code, session.run(code))
    return 0


def main() -> int:
    target = os.environ.get("CODEACT_DEMO_TARGET")
    if target:
        return run_cells(target, os.environ.get("CODEACT_API_KEY"))
    key = secrets.token_urlsafe(24)
    env = {**os.environ, "CODEACT_API_KEYS": f"demo:{key}", "CODEACT_LOG_LEVEL": "warning"}
    stack = subprocess.Popen(
        [sys.executable, "-m", "services.launcher", "up"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert stack.stdout is not None
        for line in stack.stdout:
            print(line, end="")
            if line.startswith("  memory"):
                break
        else:
            print("the stack did not start", file=sys.stderr)
            return 1
        return run_cells("127.0.0.1:50054", key)
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=30)
        print("\nstack stopped")


if __name__ == "__main__":
    raise SystemExit(main())

"""The kernel's cell execution, run in-process (it is stdlib only)."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from sandbox.kernel.cells import PythonCells


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def send(self, header: dict[str, Any], body: bytes = b"") -> None:
        self.frames.append(header)


@pytest.fixture
def cells() -> Any:
    main = sys.modules["__main__"]
    runner = PythonCells(Recorder(), lambda: None)  # type: ignore[arg-type]
    yield runner
    sys.modules["__main__"] = main


def test_statements_then_trailing_expression(cells: PythonCells) -> None:
    assert cells.run(1, "a = 2\nb = 3") == "ok"
    assert cells.run(2, "a * b") == "ok"
    assert cells.channel.frames[-1]["text"] == {"text/plain": "6"}  # type: ignore[attr-defined]
    assert cells.namespace["a"] == 2


def test_none_gives_no_result_and_syntax_errors_are_errors(cells: PythonCells) -> None:
    assert cells.run(1, "None") == "ok"
    assert cells.channel.frames == []  # type: ignore[attr-defined]
    assert cells.run(2, "def (:") == "error"
    frame = cells.channel.frames[-1]  # type: ignore[attr-defined]
    assert frame["ename"] == "SyntaxError"
    assert any("def (:" in line for line in frame["traceback"])


def test_memory_error_and_keyboard_interrupt_have_their_own_status(cells: PythonCells) -> None:
    assert cells.run(1, "raise MemoryError('big')") == "oom"
    assert cells.run(2, "raise KeyboardInterrupt") == "interrupted"
    assert cells.run(3, "raise SystemExit(3)") == "error"


def test_broken_repr_and_str_are_reported_not_fatal(cells: PythonCells) -> None:
    code = (
        "class Bad(Exception):\n"
        "    def __str__(self):\n"
        "        raise RuntimeError('no str')\n"
        "    def __repr__(self):\n"
        "        raise RuntimeError('no repr')\n"
    )
    assert cells.run(1, code) == "ok"
    assert cells.run(2, "Bad()") == "error"
    assert cells.run(3, "raise Bad()") == "error"
    assert cells.channel.frames[-1]["evalue"] == "<unprintable Bad>"  # type: ignore[attr-defined]


def test_huge_results_are_truncated(cells: PythonCells) -> None:
    cells.result_limit = 100
    assert cells.run(1, "'x' * 1000") == "ok"
    text = cells.channel.frames[-1]["text"]["text/plain"]  # type: ignore[attr-defined]
    assert text.startswith("'xxx") and "truncated" in text and len(text) < 200


def test_tracebacks_show_cell_source_lines(cells: PythonCells) -> None:
    cells.run(1, "def f():\n    return {}['missing']")
    cells.run(2, "f()")
    lines = "".join(cells.channel.frames[-1]["traceback"])  # type: ignore[attr-defined]
    assert '<cell-1>", line 2' in lines and "return {}['missing']" in lines
    assert "kernel" not in lines

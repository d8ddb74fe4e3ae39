"""The system report's tables and plot, from recorded samples."""

from __future__ import annotations

from pathlib import Path

from bench.system.report import plot, rpc_table, table
from bench.system.workload import Sample, solving_model


def test_rpc_table_counts_errors_and_takes_percentiles_of_successes() -> None:
    samples = [Sample(0.1 * i, "Execute", float(i), True) for i in range(1, 101)]
    samples += [Sample(5.0, "Execute", 9999.0, False, "UNAVAILABLE: gone")]
    samples += [Sample(1.0, "CheckCode", 2.0, True)]
    rows = {r["rpc"]: r for r in rpc_table(samples, seconds=10)}
    assert rows["Execute"]["calls"] == 101 and rows["Execute"]["errors"] == 1
    assert rows["Execute"]["p50_ms"] in (50.0, 51.0) and rows["Execute"]["p99_ms"] == 99.0
    assert rows["CheckCode"]["per_s"] == 0.1


def test_tables_escape_cells() -> None:
    text = table([{"case": "a|b", "error": "line\nbreak"}])
    assert "a\\|b" in text and "line break" in text and text.count("\n") == 3
    assert table([]) == "(none)\n"


def test_the_plot_is_a_png(tmp_path: Path) -> None:
    samples = [Sample(0.5, "Execute", 3.0, True), Sample(1.0, "Execute", 50.0, False, "x")]
    path = tmp_path / "latency.png"
    plot(samples, [(0.8, "executor")], path, "title")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_load_model_runs_a_cell_then_finishes() -> None:
    first = solving_model({"messages": [{"role": "user", "content": "sum"}]})
    assert first.tool_calls[0]["name"] == "execute_python"
    then = solving_model({"messages": [{"role": "tool", "content": "45"}]})
    assert then.tool_calls[0]["name"] == "finish"

"""Checkpoints and rollback, over gRPC in real jails."""

from __future__ import annotations

import pytest

from codeact import Client, Status
from codeact.errors import FailedPrecondition, NotFound, ResourceExhausted


def test_restore_brings_back_variables_and_keeps_the_checkpoint(acme: Client) -> None:
    with acme.session() as s:
        s.run("import numpy as np\ndata = np.arange(10)\ncounter = 1")
        first = s.checkpoint()
        assert first.id.startswith("ckpt-") and first.execution_count == 1
        s.run("counter = 2\ndata[:] = 0\nextra = 'new'")
        second = s.checkpoint()
        s.run("counter = 3")
        s.restore(first.id)
        r = s.run("(counter, int(data.sum()), 'extra' in globals())")
        assert r.result is not None and r.result.plain == "(1, 45, False)"
        # Newer checkpoints are gone; the restored one stays for another go.
        assert [c.id for c in s.refresh().checkpoints] == [first.id]
        with pytest.raises(NotFound) as caught:
            s.restore(second.id)
        assert caught.value.reason == "CHECKPOINT_NOT_FOUND"
        s.run("counter = 99")
        s.restore(first.id)
        assert s.run("counter").result.plain == "1"  # type: ignore[union-attr]


def test_a_restored_session_still_streams_interrupts_and_runs_bash(acme: Client) -> None:
    with acme.session() as s:
        s.run("x = 'before'")
        cp = s.checkpoint()
        s.run("x = 'after'")
        s.restore(cp.id)
        r = s.run(
            "import time\nprint(x, flush=True)\nwhile True:\n    time.sleep(0.01)", timeout=0.5
        )
        assert r.status is Status.TIMEOUT and r.stdout == "before\n" and r.interpreter_alive
        assert s.run_bash("echo bash ok").stdout == "bash ok\n"
        assert s.run("x").result.plain == "'before'"  # type: ignore[union-attr]


def test_checkpoints_report_memory_and_are_capped(acme: Client) -> None:
    with acme.session() as s:
        s.run("blob = bytearray(20 << 20)")
        cp = s.checkpoint()
        s.run("blob[:] = b'x' * len(blob)")  # the live copy diverges from the checkpoint
        listed = s.refresh().checkpoints
        assert listed[0].id == cp.id and listed[0].memory_bytes > 10 << 20
        ids = [cp.id] + [s.checkpoint().id for _ in range(7)]
        with pytest.raises(ResourceExhausted) as caught:
            s.checkpoint()
        assert caught.value.reason == "CHECKPOINT_LIMIT"
        for checkpoint_id in ids:
            s.delete_checkpoint(checkpoint_id)
        assert not s.refresh().checkpoints
        with pytest.raises(NotFound):
            s.delete_checkpoint(ids[0])


def test_rollback_on_error_undoes_a_failed_cell(acme: Client) -> None:
    with acme.session() as s:
        s.run("items = [1, 2]")
        r = s.run("items.append(3)\nraise ValueError('boom')", rollback_on_error=True)
        assert r.status is Status.ERROR and r.rolled_back
        assert "rolled back" in r.message
        assert s.run("items").result.plain == "[1, 2]"  # type: ignore[union-attr]
        r = s.run("items.append(4)", rollback_on_error=True)
        assert r.ok and not r.rolled_back
        assert s.run("items").result.plain == "[1, 2, 4]"  # type: ignore[union-attr]
        r = s.run("items.clear()\nwhile True:\n    pass", timeout=0.3, rollback_on_error=True)
        assert r.status is Status.TIMEOUT and r.rolled_back
        assert s.run("items").result.plain == "[1, 2, 4]"  # type: ignore[union-attr]
        assert not s.refresh().checkpoints  # the rollback checkpoint is not kept


def test_checkpoints_are_refused_while_a_cell_runs(acme: Client) -> None:
    with acme.session() as s:
        stream = s.stream("import time\nprint('go', flush=True)\ntime.sleep(30)")
        next(stream)
        with pytest.raises(FailedPrecondition) as caught:
            s.checkpoint()
        assert caught.value.reason == "SESSION_BUSY"
        s.interrupt()
        for _ in stream:
            pass


def test_runtime_info_lists_what_the_sandbox_has(acme: Client) -> None:
    info = acme.executor.runtime_info()
    assert info.python_version.startswith("3.11")
    names = {p.name.lower(): p for p in info.packages}
    assert {"numpy", "pandas", "matplotlib"} <= set(names)
    assert "numpy" in names["numpy"].modules
    assert "json" in info.stdlib_modules and "asyncio" in info.stdlib_modules
    assert info.default_limits.memory_bytes == 256 << 20
    assert info.max_limits.memory_bytes >= info.default_limits.memory_bytes

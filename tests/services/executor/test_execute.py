"""Cells over gRPC in real jails: state, streaming, results, errors, limits."""

from __future__ import annotations

import time

import pytest

from codeact import Client, Status
from codeact.errors import FailedPrecondition
from codeact.v1 import executor_pb2


def test_state_persists_across_cells(acme: Client) -> None:
    with acme.session() as s:
        assert s.run("x = 41").ok
        r = s.run("print(x + 1)")
        assert r.stdout == "42\n"
        assert r.status is Status.OK
        assert r.execution_count == 2


def test_trailing_expression_gives_a_result_and_errors_a_traceback(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("def f(n):\n    return n * 2\nf(21)")
        assert r.result is not None and r.result.plain == "42"
        r = s.run("def g():\n    return 1 / 0\ng()")
        assert r.status is Status.ERROR
        assert r.error is not None
        assert r.error.ename == "ZeroDivisionError"
        assert r.error.evalue == "division by zero"
        text = str(r.error)
        assert "<cell-2>" in text and "return 1 / 0" in text
        assert "codeact_kernel" not in text  # the kernel's own frames are hidden


def test_stdout_stderr_and_child_process_output_in_order(acme: Client) -> None:
    code = (
        "import subprocess, sys\n"
        "print('one')\n"
        "subprocess.run(['/bin/echo', 'two'])\n"
        "print('oops', file=sys.stderr)\n"
        "print('three')\n"
    )
    with acme.session() as s:
        r = s.run(code)
        assert r.stdout == "one\ntwo\nthree\n"
        assert r.stderr == "oops\n"


def test_output_is_streamed_while_the_cell_runs(acme: Client) -> None:
    code = "import time\nprint('first', flush=True)\ntime.sleep(0.5)\nprint('second')"
    with acme.session() as s:
        seen: list[tuple[str, str]] = []
        for event in s.stream(code):
            kind = event.WhichOneof("event")
            if kind == "output" and not seen:
                # The first line arrives while the cell is still sleeping.
                seen.append(("output", event.output.text))
                assert s.refresh().state == executor_pb2.SESSION_STATE_BUSY
            elif kind == "output":
                seen.append(("output", event.output.text))
            elif kind == "completion":
                seen.append(
                    ("completion", executor_pb2.ExecutionStatus.Name(event.completion.status))
                )
        texts = "".join(text for kind, text in seen if kind == "output")
        assert texts == "first\nsecond\n"
        assert seen[-1] == ("completion", "EXECUTION_STATUS_OK")


def test_first_line_arrives_before_the_cell_ends(acme: Client) -> None:
    # Deterministic: on the first line we interrupt; a buffered stream would
    # only show it after the 60 s sleep had finished normally.
    with acme.session() as s:
        statuses, text = [], ""
        for event in s.stream(
            "import time\nprint('first', flush=True)\ntime.sleep(60)\nprint('x')"
        ):
            kind = event.WhichOneof("event")
            if kind == "output":
                if not text:  # the first chunk: the cell is still sleeping
                    assert event.output.text.startswith("first")
                    assert s.interrupt() is True
                text += event.output.text
            elif kind == "completion":
                statuses.append(event.completion.status)
        assert text == "first\n"
        assert statuses == [executor_pb2.EXECUTION_STATUS_INTERRUPTED]
        assert s.run("print('alive')").stdout == "alive\n"


def test_infinite_loop_times_out_and_the_session_works_after_restart(acme: Client) -> None:
    with acme.session() as s:
        s.run("kept = 7")
        r = s.run("while True:\n    pass", timeout=0.5)
        assert r.status is Status.TIMEOUT
        assert "wall-time limit" in r.message
        # An interruptible loop leaves the interpreter and its state alive.
        assert r.interpreter_alive and not r.interpreter_restarted
        assert s.run("print(kept)").stdout == "7\n"

        # A loop that ignores SIGINT is killed; a fresh interpreter takes over.
        r = s.run(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
            timeout=0.5,
        )
        assert r.status is Status.TIMEOUT
        assert r.interpreter_restarted
        assert "variables are lost" in r.message
        assert s.refresh().state == executor_pb2.SESSION_STATE_IDLE
        assert s.info.restart_count == 1
        r = s.run("print('fresh', 'kept' in globals())")
        assert r.stdout == "fresh False\n"


def test_without_auto_restart_a_killed_interpreter_stays_dead(manual_executor: object) -> None:
    from tests.support import KEYS

    with Client(manual_executor.address, token=KEYS["acme"]) as client, client.session() as s:  # type: ignore[attr-defined]
        r = s.run(
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
            timeout=0.3,
        )
        assert r.status is Status.TIMEOUT
        assert not r.interpreter_alive and not r.interpreter_restarted
        assert s.refresh().state == executor_pb2.SESSION_STATE_DEAD
        with pytest.raises(FailedPrecondition) as caught:
            s.run("1")
        assert caught.value.reason == "SESSION_DEAD"
        s.restart()
        assert s.info.restart_count == 1
        assert s.run("print('back')").stdout == "back\n"


def test_two_gigabyte_allocation_ends_as_oom(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("b = bytearray(2 * 1024**3)")
        assert r.status is Status.OOM
        assert r.error is not None and r.error.ename == "MemoryError"
        assert r.interpreter_alive
        assert s.run("print('still here')").stdout == "still here\n"


def test_memory_over_the_cgroup_limit_kills_and_reports_oom(acme: Client) -> None:
    # Small pieces stay under RLIMIT_AS; the cgroup's hard limit stops them.
    with acme.session(limits={"memory_bytes": 128 << 20}) as s:
        r = s.run("hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))")
        assert r.status is Status.OOM
        assert r.interpreter_restarted
        assert "memory limit" in r.message
        assert s.run("1 + 1").result.plain == "2"  # type: ignore[union-attr]


def test_completion_reports_time_and_memory(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("sum(i * i for i in range(300_000))")
        assert r.ok
        assert r.wall_time > 0
        assert r.cpu_time > 0
        assert r.peak_memory_bytes > 1 << 20


def test_output_beyond_the_limit_is_truncated(acme: Client) -> None:
    with acme.session(limits={"output_bytes": 4096}) as s:
        r = s.run("for i in range(10_000):\n    print('x' * 99)")
        assert r.ok
        assert r.output_truncated
        assert len(r.stdout.encode()) <= 4096
        r = s.run("print('small')")
        assert r.stdout == "small\n" and not r.output_truncated


def test_unencodable_and_nul_output_does_not_break_the_stream(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("print('\\udcff nul:\\x00 end')\nimport os\nos.write(1, b'\\xff\\xfe raw\\n')")
        assert r.ok
        assert "nul:\x00 end" in r.stdout
        assert "raw" in r.stdout


def test_sandbox_environment_packages_import(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import numpy as np\nint(np.arange(10).sum())")
        assert r.ok, r.error
        assert r.result is not None and r.result.plain == "45"


def test_interrupt_of_an_idle_session_is_a_no_op(acme: Client) -> None:
    with acme.session() as s:
        assert s.interrupt() is False
        assert s.run("1").ok


def test_a_second_cell_while_one_runs_is_refused(acme: Client) -> None:
    with acme.session() as s:
        stream = s.stream("import time\nprint('go', flush=True)\ntime.sleep(30)")
        next(stream)  # the cell is running
        with pytest.raises(FailedPrecondition) as caught:
            s.run("1")
        assert caught.value.reason == "SESSION_BUSY"
        s.interrupt()
        for _ in stream:
            pass


def test_deadline_interrupts_the_cell_and_the_session_survives(acme: Client) -> None:
    from codeact.errors import DeadlineExceeded

    with acme.session() as s:
        s.run("kept = 'yes'")
        with pytest.raises(DeadlineExceeded):
            s.run("while True:\n    pass", deadline=0.5)  # the cell's own limit is 10 s
        _wait_idle(s)
        assert s.run("print(kept)").stdout == "yes\n"


def test_client_cancel_interrupts_the_cell(acme: Client) -> None:
    with acme.session() as s:
        call = s.client.stub.Execute(
            executor_pb2.ExecuteRequest(
                session_id=s.id, code="import time\nprint('go', flush=True)\ntime.sleep(60)"
            ),
            metadata=acme.settings.metadata(),
        )
        first = next(call)
        assert first.output.text.startswith("go")
        call.cancel()
        _wait_idle(s)
        assert s.run("print('after cancel')").stdout == "after cancel\n"


def _wait_idle(session: object, attempts: int = 100) -> None:
    for _ in range(attempts):
        if session.refresh().state == executor_pb2.SESSION_STATE_IDLE:  # type: ignore[attr-defined]
            return
        time.sleep(0.05)
    raise AssertionError("the session did not settle")


def test_bash_cells_keep_cwd_and_environment(acme: Client) -> None:
    with acme.session() as s:
        r = s.run_bash("cd /tmp && export GREETING=hello\npwd")
        assert r.ok and r.stdout == "/tmp\n"
        r = s.run_bash("echo $GREETING from $(pwd); echo oops >&2")
        assert (r.stdout, r.stderr) == ("hello from /tmp\n", "oops\n")
        r = s.run_bash("exit_code() { return 3; }\nexit_code")
        assert r.status is Status.ERROR
        assert r.error is not None and r.error.evalue == "exit status 3"
        r = s.run_bash("sleep 30", timeout=0.5)
        assert r.status is Status.TIMEOUT and r.interpreter_alive
        assert s.run_bash("echo $GREETING").stdout == "hello\n"
        # Python and bash share the jail and the workspace.
        s.run("open('/workspace/from_python.txt', 'w').write('py')")
        assert s.run_bash("cat /workspace/from_python.txt").stdout == "py"


def test_bash_streams_like_python(acme: Client) -> None:
    from codeact.v1 import common_pb2

    with acme.session() as s:
        text = ""
        for event in s.stream(
            "echo first; sleep 60; echo never", language=common_pb2.LANGUAGE_BASH
        ):
            if event.WhichOneof("event") == "output":
                if not text:
                    assert s.interrupt()
                if event.output.name == executor_pb2.STREAM_NAME_STDOUT:
                    text += event.output.text
            elif event.WhichOneof("event") == "completion":
                assert event.completion.status == executor_pb2.EXECUTION_STATUS_INTERRUPTED
        assert text == "first\n"


def _cpu_share(session: object) -> float:
    """CPU time over wall time of a cell that spins for 0.6 s of wall time."""
    r = session.run(  # type: ignore[attr-defined]
        "import time\nend = time.monotonic() + 0.6\nwhile time.monotonic() < end:\n    pass"
    )
    assert r.ok
    return float(r.cpu_time / r.wall_time)


def test_cpu_limit_gives_the_share_it_promises(acme: Client) -> None:
    with acme.session(limits={"cpu_millicores": 1000}) as s:
        assert _cpu_share(s) > 0.8  # a whole core (was 0.1 with a stale 1 s quota period)
    with acme.session(limits={"cpu_millicores": 250}) as s:
        assert 0.1 < _cpu_share(s) < 0.45

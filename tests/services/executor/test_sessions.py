"""Session lifecycle over gRPC: create, get, list, restart, delete, reaping."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from codeact import Client, Session
from codeact.errors import NotFound
from codeact.v1 import executor_pb2
from tests.support import pids_with_argument, sandbox_processes, uid_of


def test_create_get_list_delete(acme: Client) -> None:
    s = acme.executor.create_session(
        limits={"memory_bytes": 200 << 20, "cell_timeout": 5}, labels={"job": "fib"}
    )
    try:
        assert s.id.startswith("test-")
        assert s.info.state == executor_pb2.SESSION_STATE_IDLE
        assert s.info.limits.memory_bytes == 200 << 20
        assert s.info.limits.cell_timeout.ToTimedelta().total_seconds() == 5
        assert s.info.limits.max_pids == 64  # the server default fills the rest
        assert dict(s.info.labels) == {"job": "fib"}
        assert s.info.instance == "test"
        assert s.info.expire_time.ToSeconds() > s.info.create_time.ToSeconds()
        assert s.id in {x.id for x in acme.executor.list_sessions()}
        again = acme.executor.get_session(s.id)
        assert again.info.id == s.id
    finally:
        s.delete()
    with pytest.raises(NotFound):
        acme.executor.get_session(s.id)
    assert s.id not in {x.id for x in acme.executor.list_sessions()}


def test_list_is_paged(acme: Client) -> None:
    sessions = [acme.executor.create_session() for _ in range(3)]
    try:
        stub, meta = acme.executor.stub, acme.settings.metadata()
        first = stub.ListSessions(executor_pb2.ListSessionsRequest(page_size=2), metadata=meta)
        assert len(first.sessions) == 2 and first.next_page_token
        rest = stub.ListSessions(
            executor_pb2.ListSessionsRequest(page_size=2, page_token=first.next_page_token),
            metadata=meta,
        )
        ids = [x.id for x in [*first.sessions, *rest.sessions]]
        assert {s.id for s in sessions} <= set(ids)
        assert len(ids) == len(set(ids))
    finally:
        for s in sessions:
            s.delete()


def session_uid(session: Session) -> int:
    """The outside uid of a session, found through a child with a unique argument."""
    token = f"{time.time_ns() % 10**9}.5"
    r = session.run(f"import subprocess\nsubprocess.Popen(['/bin/sleep', '{token}'])")
    assert r.ok
    for _ in range(100):
        if pids := pids_with_argument(token):
            return uid_of(pids[0])
        time.sleep(0.01)
    raise AssertionError("the marker process never appeared")


def test_delete_leaves_no_process_behind(acme: Client) -> None:
    s = acme.executor.create_session()
    uid = session_uid(s)
    # A child that ignores signals and a daemonized grandchild.
    r = s.run(
        "import os, subprocess, time\n"
        "subprocess.Popen(['/bin/sh', '-c', 'trap \"\" INT TERM HUP; sleep 300'])\n"
        "subprocess.Popen(['/bin/sh', '-c', '(setsid sleep 300 &) ; sleep 300'])\n"
        "while len([p for p in os.listdir('/proc') if p.isdigit()]) < 7:\n"
        "    time.sleep(0.01)\n"
    )
    assert r.ok
    # init, kernel, the marker, two shells and their sleepers
    assert len(sandbox_processes({uid})) >= 7
    s.delete()
    for _ in range(50):
        if not sandbox_processes({uid}):
            break
        time.sleep(0.05)
    assert not sandbox_processes({uid})


def test_restart_keeps_the_workspace_and_drops_variables(acme: Client) -> None:
    with acme.session() as s:
        s.run("value = 1\nopen('/workspace/note.txt', 'w').write('kept')")
        s.restart()
        r = s.run("print(open('/workspace/note.txt').read(), 'value' in globals())")
        assert r.stdout == "kept False\n"
        assert s.info.restart_count == 1


def test_idle_sessions_are_reaped_after_their_ttl(acme: Client) -> None:
    s = acme.executor.create_session(limits={"idle_ttl": 1})
    uid = session_uid(s)
    for _ in range(100):
        try:
            acme.executor.get_session(s.id)
        except NotFound:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the idle session was not reaped")
    assert s.id not in {x.id for x in acme.executor.list_sessions()}
    for _ in range(50):
        if not sandbox_processes({uid}):
            break
        time.sleep(0.05)
    assert not sandbox_processes({uid})


def test_sessions_come_from_the_warm_pool_and_metrics_count_it(tmp_path: object) -> None:
    import urllib.request

    from services.executor.__main__ import build_service
    from tests.conftest import executor_settings
    from tests.support import KEYS, ServerThread

    state = Path(tempfile.mkdtemp(prefix="codeact-pool-"))
    state.chmod(0o711)
    settings = executor_settings(state / "pool", instance="pool", pool_size=2, metrics_port=0)
    server = ServerThread(settings, build_service).start()
    try:
        with Client(server.address, token=KEYS["acme"]) as client:
            time.sleep(1.0)  # the pool fills
            warm = [client.session() for _ in range(2)]
            cold = client.session()  # the refill waits a moment: this one is a miss
            assert [s.warm for s in warm] == [True, True] and not cold.warm
            assert warm[0].run("1 + 1").ok
            for s in [*warm, cold]:
                s.delete()
        assert server.server is not None
        url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
        text = urllib.request.urlopen(url, timeout=5).read().decode()
        assert "codeact_executor_pool_hits_total 2.0" in text
        assert "codeact_executor_pool_misses_total 1.0" in text
        assert "codeact_executor_pool_ready" in text
    finally:
        server.stop()

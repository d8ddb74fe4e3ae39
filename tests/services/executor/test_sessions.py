"""Session lifecycle over gRPC: create, get, list, restart, delete, reaping."""

from __future__ import annotations

import time

import pytest

from codeact import Client
from codeact.errors import NotFound
from codeact.v1 import executor_pb2
from tests.support import sandbox_processes


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


def test_delete_leaves_no_process_behind(acme: Client) -> None:
    before = set(sandbox_processes())
    s = acme.executor.create_session()
    # A child that ignores signals and a daemonized grandchild.
    r = s.run(
        "import subprocess\n"
        "subprocess.Popen(['/bin/sh', '-c', 'trap \"\" INT TERM HUP; sleep 300'])\n"
        "subprocess.Popen(['/bin/sh', '-c', '(setsid sleep 300 &) ; sleep 300'])\n"
    )
    assert r.ok
    during = set(sandbox_processes()) - before
    assert len(during) >= 4  # init, kernel and the sleepers
    s.delete()
    for _ in range(50):
        if not (set(sandbox_processes()) & during):
            break
        time.sleep(0.05)
    assert not (set(sandbox_processes()) & during)


def test_restart_keeps_the_workspace_and_drops_variables(acme: Client) -> None:
    with acme.session() as s:
        s.run("value = 1\nopen('/workspace/note.txt', 'w').write('kept')")
        s.restart()
        r = s.run("print(open('/workspace/note.txt').read(), 'value' in globals())")
        assert r.stdout == "kept False\n"
        assert s.info.restart_count == 1


def test_idle_sessions_are_reaped_after_their_ttl(acme: Client) -> None:
    before = set(sandbox_processes())
    s = acme.executor.create_session(limits={"idle_ttl": 1})
    mine = set(sandbox_processes()) - before
    assert mine
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
        if not (set(sandbox_processes()) & mine):
            break
        time.sleep(0.05)
    assert not (set(sandbox_processes()) & mine)

"""Every attack in the catalog, inside a real jail, with its containment
asserted; a bystander session of another tenant watches the whole suite."""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from codeact import Client, Session
from tests.security.catalog import ATTACKS, Attack
from tests.security.conftest import INSTANCE
from tests.support import ServerThread, sandbox_processes


@pytest.fixture(scope="module")
def bystander(victim: Client) -> Iterator[Session]:
    session = victim.session()
    session.run(
        "import hashlib\n"
        "secret = 'bystander state'\n"
        "fingerprint = hashlib.sha256(secret.encode()).hexdigest()"
    )
    session.upload("precious.txt", b"bystander file")
    yield session
    session.delete()


def _run(session: Session, attack: Attack) -> object:
    if attack.language == "bash":
        return session.run_bash(attack.code, timeout=attack.timeout)
    return session.run(attack.code, timeout=attack.timeout)


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.id for a in ATTACKS])
def test_attack_is_contained(attacker: Client, bystander: Session, attack: Attack) -> None:
    with attacker.session(limits={"cell_timeout": 10, **attack.limits}) as session:
        outcome = _run(session, attack)
        attack.check(outcome)  # type: ignore[arg-type]
        if attack.follow_up is not None:
            time.sleep(attack.pause)
            code, check = attack.follow_up
            check(session.run(code))
        # The session is still usable afterwards (with a fresh interpreter if it had to die).
        after = session.run("1 + 1")
        assert after.result is not None and after.result.plain == "2", (after.status, after.message)


def test_another_sessions_workspace_is_out_of_reach(attacker: Client, bystander: Session) -> None:
    with attacker.session(limits={"cell_timeout": 120}) as session:
        r = session.run(
            "import os\nfound = []\n"
            "for top in ['/', '/tmp', '/workspace', '/dev/shm', '/opt']:\n"
            "    for root, dirs, files in os.walk(top):\n"
            "        if root.startswith(('/proc', '/sys')):\n"
            "            dirs[:] = []\n            continue\n"
            "        for name in files:\n"
            "            try:\n"
            "                path = os.path.join(root, name)\n"
            "                if b'bystander file' in open(path, 'rb').read(1 << 16):\n"
            "                    found.append(path)\n"
            "            except OSError:\n                pass\n"
            "found",
            timeout=60,
        )
        assert r.result is not None and r.result.plain == "[]", (r.status, r.error)


def test_after_the_suite_nothing_is_left(
    security_executor: ServerThread, bystander: Session, victim: Client
) -> None:
    # The bystander was untouched.
    r = bystander.run("import hashlib\nhashlib.sha256(secret.encode()).hexdigest() == fingerprint")
    assert r.result is not None and r.result.plain == "True"
    assert bystander.download("precious.txt") == b"bystander file"
    # The service is healthy.
    with grpc.insecure_channel(security_executor.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    # Once the last session is gone, no sandbox process of this executor remains.
    assert not [s for s in victim.executor.list_sessions() if s.id != bystander.id]
    bystander.delete()
    deadline = time.monotonic() + 10
    while sandbox_processes(instance=INSTANCE) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sandbox_processes(instance=INSTANCE) == []
    bystander.delete = lambda: None  # type: ignore[method-assign]  # already gone

"""PolicyService over gRPC on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from codeact.status import from_rpc_error
from codeact.v1 import common_pb2, policy_pb2, policy_pb2_grpc
from services.policy.__main__ import build_service
from services.policy.settings import PolicySettings
from tests.support import INLINE_KEYS, KEYS, TENANTS_TOML, ServerThread


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    tenants = Path(tmp_path_factory.mktemp("policy")) / "tenants.toml"
    tenants.write_text(TENANTS_TOML)
    settings = PolicySettings(
        api_keys=INLINE_KEYS, metrics_port=-1, tenants_file=str(tenants), max_code_bytes=4096
    )
    server = ServerThread(settings, build_service).start()
    yield server
    server.stop()


def _call(server: ServerThread, method: str, request: object, tenant: str = "acme") -> Any:
    with grpc.insecure_channel(server.address) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        metadata = (("authorization", f"Bearer {KEYS[tenant]}"),)
        try:
            return getattr(stub, method)(request, metadata=metadata, timeout=10)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None


def test_findings_over_grpc(policy: ServerThread) -> None:
    reply = _call(
        policy,
        "CheckCode",
        policy_pb2.CheckCodeRequest(
            code="import numpy as np\nimport pandass", profile_name="standard"
        ),
    )
    assert reply.decision == common_pb2.DECISION_DENY
    (finding,) = reply.findings
    assert finding.rule_id == "import-not-available" and finding.line == 2
    assert finding.severity == common_pb2.SEVERITY_ERROR
    assert finding.suggestions[0] == "pandas"
    assert reply.profile_name == "standard"
    assert reply.elapsed.ToTimedelta().total_seconds() < 1


def test_default_profile_and_clean_code(policy: ServerThread) -> None:
    reply = _call(
        policy, "CheckCode", policy_pb2.CheckCodeRequest(code="import pandas as pd\npd.__version__")
    )
    assert reply.decision == common_pb2.DECISION_ALLOW and not reply.findings


def test_inline_profile(policy: ServerThread) -> None:
    inline = policy_pb2.PolicyProfile(
        name="mine", allowed_imports=["math"], check_installed=True,
        rule_severity={"process": common_pb2.SEVERITY_ERROR},
    )  # fmt: skip
    reply = _call(
        policy,
        "CheckCode",
        policy_pb2.CheckCodeRequest(code="import math\nimport json", inline_profile=inline),
    )
    assert reply.decision == common_pb2.DECISION_DENY
    assert [f.rule_id for f in reply.findings] == ["import-not-allowed"]


def test_bash_is_not_analysed(policy: ServerThread) -> None:
    reply = _call(
        policy,
        "CheckCode",
        policy_pb2.CheckCodeRequest(code="rm -rf /", language=common_pb2.LANGUAGE_BASH),
    )
    assert reply.decision == common_pb2.DECISION_ALLOW
    assert reply.findings[0].rule_id == "unchecked-language"


def test_profiles_list_get_and_tenants_own(policy: ServerThread) -> None:
    names = [
        p.name for p in _call(policy, "ListProfiles", policy_pb2.ListProfilesRequest()).profiles
    ]
    assert names == ["permissive", "standard", "strict"]
    own = [
        p.name
        for p in _call(policy, "ListProfiles", policy_pb2.ListProfilesRequest(), "initech").profiles
    ]
    assert "no-json" in own
    strict = _call(policy, "GetProfile", policy_pb2.GetProfileRequest(name="strict")).profile
    assert strict.require_restricted_python and "ctypes" in strict.denied_imports
    reply = _call(
        policy,
        "CheckCode",
        policy_pb2.CheckCodeRequest(code="import json", profile_name="no-json"),
        "initech",
    )
    assert reply.decision == common_pb2.DECISION_DENY


def _check(code: str = "x", **fields: object) -> policy_pb2.CheckCodeRequest:
    return policy_pb2.CheckCodeRequest(code=code, **fields)  # type: ignore[arg-type]


BAD_INPUT = [
    (_check(""), "INVALID_ARGUMENT", "CODE_EMPTY", "code"),
    (_check("x = 1\n" * 1000), "INVALID_ARGUMENT", "CODE_TOO_LARGE", "code"),
    (
        _check(inline_profile=policy_pb2.PolicyProfile(denied_imports=["a b"])),
        "INVALID_ARGUMENT",
        "INVALID_PROFILE",
        "inline_profile.denied_imports[0]",
    ),
    (
        _check(inline_profile=policy_pb2.PolicyProfile(disabled_rules=["nope"])),
        "INVALID_ARGUMENT",
        "INVALID_PROFILE",
        "inline_profile.rules",
    ),
    (_check(extra_modules=["../x"]), "INVALID_ARGUMENT", "INVALID_ARGUMENT", "extra_modules[0]"),
    (_check(profile_name="missing"), "NOT_FOUND", "PROFILE_NOT_FOUND", None),
]


@pytest.mark.parametrize(("request_", "code", "reason", "field"), BAD_INPUT)
def test_bad_input(
    policy: ServerThread, request_: object, code: str, reason: str, field: str | None
) -> None:
    from codeact.errors import CodeActError

    with pytest.raises(CodeActError) as caught:
        _call(policy, "CheckCode", request_)
    assert (caught.value.code, caught.value.reason) == (code, reason)
    if field is not None:
        assert caught.value.field_violations[0].field == field


def test_another_tenants_profile_is_not_found(policy: ServerThread) -> None:
    from codeact.errors import NotFound

    with pytest.raises(NotFound):
        _call(
            policy,
            "CheckCode",
            policy_pb2.CheckCodeRequest(code="x", profile_name="no-json"),
            "globex",
        )
    with pytest.raises(NotFound):
        _call(policy, "GetProfile", policy_pb2.GetProfileRequest(name="no-json"), "globex")


def test_workers_share_the_port_and_stop_together() -> None:
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CODEACT_API_KEYS": INLINE_KEYS,
        "CODEACT_LOG_LEVEL": "warning",
        "CODEACT_POLICY_WORKERS": "2",
    }
    parent = subprocess.Popen(
        [sys.executable, "-m", "services.policy", "--port", str(port), "--metrics-port", "-1"],
        env=env,
    )
    try:
        options = [("grpc.use_local_subchannel_pool", 1)]
        for _ in range(4):  # separate connections land on either worker
            with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
                grpc.channel_ready_future(channel).result(timeout=20)
                stub = policy_pb2_grpc.PolicyServiceStub(channel)
                reply = stub.CheckCode(
                    policy_pb2.CheckCodeRequest(code="import os\nos.fork()"),
                    metadata=(("authorization", f"Bearer {KEYS['acme']}"),),
                    timeout=10,
                )
                assert [f.rule_id for f in reply.findings] == ["process"]
        with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as f:
            workers = [int(p) for p in f.read().split()]
        assert len(workers) == 2
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=20) == 0
        time.sleep(0.2)
        assert not [w for w in workers if os.path.exists(f"/proc/{w}")]
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

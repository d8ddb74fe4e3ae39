"""API keys: hashed, mapped to tenants, health exempt, dev mode explicit."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeact.errors import Unauthenticated
from services.common.auth import Authenticator, KeyRing, digest


def test_keys_from_a_file_and_inline(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[[keys]]\ntenant = "acme"\nsha256 = "{digest("file-key")}"\n')
    ring = KeyRing.from_sources(str(keys), f"globex:inline-key,initech:sha256:{digest('hashed')}")
    assert ring.tenant_for("file-key") == "acme"
    assert ring.tenant_for("inline-key") == "globex"
    assert ring.tenant_for("hashed") == "initech"
    assert ring.tenant_for("nope") is None
    assert len(ring) == 3


@pytest.mark.parametrize("bad", ["nocolon", "tenant:", "t:sha256:abc", ":key"])
def test_malformed_inline_keys_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"tenant|digest|key"):
        KeyRing.from_sources("", bad)


def test_authentication() -> None:
    auth = Authenticator(KeyRing.from_sources("", "acme:k1"))
    method = "/codeact.v1.ExecutorService/ListSessions"
    identity = auth.authenticate(method, [("authorization", "Bearer k1")])
    assert identity is not None and identity.tenant == "acme" and identity.method == "api_key"
    assert auth.authenticate("/grpc.health.v1.Health/Check", []) is None
    reflection = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    assert auth.authenticate(reflection, []) is None
    strict = Authenticator(KeyRing.from_sources("", "acme:k1"), public_reflection=False)
    with pytest.raises(Unauthenticated):
        strict.authenticate(reflection, [])
    for metadata, reason in [
        ([], "API_KEY_MISSING"),
        ([("authorization", "Bearer k2")], "API_KEY_INVALID"),
        ([("authorization", "k1")], "API_KEY_MALFORMED"),
    ]:
        with pytest.raises(Unauthenticated) as caught:
            auth.authenticate(method, metadata)
        assert caught.value.reason == reason


def test_no_keys_without_dev_mode_is_a_startup_error() -> None:
    with pytest.raises(ValueError, match="--dev"):
        Authenticator(KeyRing())
    dev = Authenticator(KeyRing(), dev_mode=True).authenticate("/x/Y", [])
    assert dev is not None and dev.tenant == "dev"

"""Per-tenant ceilings on limits and on concurrent sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeact import Client
from codeact.errors import ResourceExhausted
from services.common.tenants import TenantDirectory


def test_a_tenant_is_held_to_its_own_ceilings(initech: Client, acme: Client) -> None:
    with initech.session() as s:
        assert s.info.limits.memory_bytes == 256 << 20  # the default is already below
    with pytest.raises(ResourceExhausted) as caught:
        initech.session(limits={"memory_bytes": 400 << 20})
    assert caught.value.reason == "LIMIT_ABOVE_CEILING"
    assert caught.value.metadata["ceiling"] == str(300 << 20)
    with pytest.raises(ResourceExhausted):
        initech.session(limits={"cpu_millicores": 1000})
    with initech.session(limits={"cpu_millicores": 500}) as s:
        assert s.info.limits.cpu_millicores == 500
    # Other tenants keep the server's ceilings.
    with acme.session(limits={"memory_bytes": 400 << 20, "cpu_millicores": 1000}) as s:
        assert s.info.limits.memory_bytes == 400 << 20


def test_a_tenant_is_held_to_its_session_count(initech: Client) -> None:
    first, second = initech.session(), initech.session()
    try:
        with pytest.raises(ResourceExhausted) as caught:
            initech.session()
        assert caught.value.reason == "SESSION_QUOTA_EXCEEDED"
        assert caught.value.metadata["limit"] == "2"
    finally:
        first.delete()
        second.delete()
    initech.session().delete()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tenants.a]\nmax_session = 1\n", "unknown keys"),
        ("[tenants.a]\nmax_sessions = -1\n", "non-negative"),
        ("[tenants.a.ceilings]\nmemory_bytes = 0\n", "positive"),
        ("[tenant.a]\n", "unknown top-level"),
    ],
)
def test_a_tenants_file_with_mistakes_is_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        TenantDirectory.from_file(path)

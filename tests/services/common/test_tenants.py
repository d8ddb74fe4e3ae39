"""The tenants file: keys with expiry and revocation, certificate subjects,
quotas, and what it refuses; reloading keeps the last good file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.common.auth import digest
from services.common.tenants import TenantDirectory, TenantsSource

GOOD = f"""
[tenants.acme]
max_sessions = 3
executions_per_minute = 120
execution_burst = 10
max_conversations = 5
max_storage_bytes = 1000000
audit_cell_content = true
certificates = ["acme-client", "spiffe://codeact/tenant/acme"]
[[tenants.acme.keys]]
id = "ci"
sha256 = "{digest("k1")}"
expires = 2030-01-01T00:00:00Z
[[tenants.acme.keys]]
sha256 = "{digest("k2")}"
revoked = true
"""


def test_a_full_tenant(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(GOOD)
    directory = TenantDirectory.from_file(path)
    acme = directory.get("acme")
    assert (acme.max_sessions, acme.executions_per_minute, acme.execution_burst) == (3, 120.0, 10)
    assert (acme.max_conversations, acme.max_storage_bytes) == (5, 1_000_000)
    assert acme.audit_cell_content is True
    ci = directory.keys[digest("k1")]
    assert (ci.tenant, ci.id, ci.revoked) == ("acme", "ci", False)
    assert ci.expires == pytest.approx(1893456000.0)
    assert directory.keys[digest("k2")].revoked
    assert directory.certificates == {
        "acme-client": "acme",
        "spiffe://codeact/tenant/acme": "acme",
    }
    assert directory.get("nobody").max_sessions is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tenants.a]\nmax_sesions = 1\n", "unknown keys"),
        ("[tenants.a]\nexecutions_per_minute = 0\n", "executions_per_minute"),
        ("[tenants.a]\nexecution_burst = 1.5\n", "execution_burst"),
        ("[tenants.a]\nmax_storage_bytes = -1\n", "max_storage_bytes"),
        ('[tenants.a]\ncertificates = "x"\n', "certificates"),
        ('[[tenants.a.keys]]\nsha256 = "abc"\n', "64 hex"),
        (f'[[tenants.a.keys]]\nsha256 = "{digest("k")}"\nexpires = 2030-01-01\n', "offset"),
        (f'[[tenants.a.keys]]\nsha256 = "{digest("k")}"\nrevoked = "yes"\n', "revoked"),
        (
            f'[[tenants.a.keys]]\nsha256 = "{digest("k")}"\n'
            f'[[tenants.b.keys]]\nsha256 = "{digest("k")}"\n',
            "twice",
        ),
        ('[tenants.a]\ncertificates = ["c"]\n[tenants.b]\ncertificates = ["c"]\n', "maps to"),
        ("[tenants.a.ceilings]\nmemory = 5\n", "unknown ceilings"),
        ('[tenants.a.policy_profiles.p]\ndenied_imports = "os"\n', "list of module names"),
    ],
)
def test_mistakes_are_refused_by_name(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        TenantDirectory.from_file(path)


def test_a_source_reloads_good_files_and_keeps_the_last_good(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.acme]\nmax_sessions = 1\n")
    source = TenantsSource(path, interval=0.0)
    assert source.current().get("acme").max_sessions == 1
    path.write_text("[tenants.acme]\nmax_sessions = 2\n")
    assert source.current().get("acme").max_sessions == 2
    path.write_text("[tenants.acme\n")
    assert source.current().get("acme").max_sessions == 2
    path.unlink()
    assert source.current().get("acme").max_sessions == 2
    path.write_text("[tenants.acme]\nmax_sessions = 4\n")
    assert source.current().get("acme").max_sessions == 4
    assert source.generation == 2


def test_a_source_checks_no_more_often_than_its_interval(tmp_path: Path) -> None:
    path = tmp_path / "tenants.toml"
    path.write_text("[tenants.acme]\nmax_sessions = 1\n")
    source = TenantsSource(path, interval=0.3)
    path.write_text("[tenants.acme]\nmax_sessions = 2\n")
    assert source.current().get("acme").max_sessions == 1
    time.sleep(0.35)
    assert source.current().get("acme").max_sessions == 2

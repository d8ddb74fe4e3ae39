"""The Python SDK and the `codeact` CLI over mutual TLS: a tenant's
certificate is its only credential."""

from __future__ import annotations

import re

import pytest

from codeact import Client
from codeact.settings import ConnectionSettings, TLSConfig
from tests.clients.python.test_cli import codeact
from tests.services.agent.scenarios import finish, py
from tests.tenancy.stack import SecureStack
from tests.test_readme import README


def test_the_sdk_runs_cells_with_a_tenant_certificate(secure_stack: SecureStack) -> None:
    tls = secure_stack.pki.tls("acme")
    with (
        Client(secure_stack.address("executor"), tls=tls, token="") as client,
        client.session() as session,
    ):
        session.run("x = 20")
        assert session.run("print(x + 22)").stdout == "42\n"
        ids = [s.id for s in client.executor.list_sessions()]
        assert session.id in ids


def test_the_sdk_reads_tls_from_the_environment(
    secure_stack: SecureStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = secure_stack.pki
    monkeypatch.setenv("CODEACT_TLS_CA_FILE", pki.path("ca.pem"))
    monkeypatch.setenv("CODEACT_TLS_CERT_FILE", pki.path("globex.pem"))
    monkeypatch.setenv("CODEACT_TLS_KEY_FILE", pki.path("globex-key.pem"))
    monkeypatch.delenv("CODEACT_API_KEY", raising=False)
    settings = ConnectionSettings(target=secure_stack.address("memory"))
    assert settings.tls == TLSConfig(
        pki.path("ca.pem"), pki.path("globex.pem"), pki.path("globex-key.pem")
    )
    with Client(settings=settings) as client:
        made = client.memory.create_conversation()
        assert client.memory.get_conversation(made.id).id == made.id


def test_codeact_run_over_mtls(secure_stack: SecureStack) -> None:
    secure_stack.stub.reset()
    secure_stack.stub.script(py("print(6 * 7)"), finish("42"))
    pki = secure_stack.pki
    code, out, err = codeact(
        "run", "What is 6 * 7?", "--target", secure_stack.address("agent"), "--token", "",
        "--tls-ca", pki.path("ca.pem"), "--tls-cert", pki.path("acme.pem"),
        "--tls-key", pki.path("acme-key.pem"), "--color", "never",
    )  # fmt: skip
    assert code == 0, err
    assert "answer: 42" in out
    assert [r["body"]["model"] for r in secure_stack.stub.requests] == ["acme-model"] * 2


def test_the_readme_mtls_example_runs(
    secure_stack: SecureStack, capsys: pytest.CaptureFixture[str]
) -> None:
    text = README.read_text()
    section = text[text.index("## Tenants, mTLS, quotas and the audit log") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    code = match.group(1).replace("127.0.0.1:50054", secure_stack.address("executor"))
    code = code.replace('"certs/', f'"{secure_stack.pki.root}/')
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out == "42\n\n"

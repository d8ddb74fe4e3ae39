"""What a session can and cannot reach (the full attack suite is tests/security)."""

from __future__ import annotations

import os

from codeact import Client


def test_no_network(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import socket\nsocket.create_connection(('1.1.1.1', 80), timeout=3)")
        assert r.error is not None and r.error.ename in ("OSError", "TimeoutError")
        r = s.run("import socket\nsocket.getaddrinfo('example.com', 80)")
        assert r.error is not None and r.error.ename == "gaierror"


def test_writes_outside_the_workspace_fail(acme: Client) -> None:
    with acme.session() as s:
        for path in (
            "/x",
            "/etc/passwd",
            "/usr/lib/evil",
            "/opt/codeact/env/evil.py",
            "/opt/codeact/codeact_kernel/cells.py",
            "/proc/sys/kernel/hostname",
        ):
            r = s.run(f"open({path!r}, 'w').write('x')")
            assert r.error is not None, path
            assert r.error.ename in ("OSError", "PermissionError", "FileNotFoundError"), (
                path,
                r.error,
            )
        r = s.run(
            "open('/workspace/ok.txt', 'w').write('fine')\nopen('/tmp/t', 'w').write('tmp ok')"
        )
        assert r.ok


def test_unprivileged_and_with_a_cleared_environment(acme: Client) -> None:
    os.environ["CODEACT_TEST_SECRET"] = "host-secret"
    with acme.session() as s:
        r = s.run(
            "import os\n"
            "status = open('/proc/self/status').read().splitlines()\n"
            "caps = [x for x in status if x.startswith('CapEff')][0].split()[1]\n"
            "print(os.getuid(), os.getgid(), int(caps, 16), sorted(os.environ))"
        )
        uid, gid, caps, env = r.stdout.split(" ", 3)
        assert (uid, gid, caps) == ("1000", "1000", "0")
        assert "CODEACT_TEST_SECRET" not in env and "host-secret" not in r.stdout
        assert "HOME" in env


def test_only_its_own_processes_are_visible(acme: Client) -> None:
    with acme.session() as s:
        r = s.run("import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())")
        assert r.result is not None
        pids = eval(r.result.plain)
        assert pids[:2] == [1, 2] and len(pids) <= 4


def test_sessions_do_not_share_a_workspace(acme: Client) -> None:
    with acme.session() as a, acme.session() as b:
        a.run("open('/workspace/secret.txt', 'w').write('a only')")
        r = b.run("import os\nos.listdir('/workspace')")
        assert r.result is not None and r.result.plain == "[]"


def test_namespaces_cannot_be_created(acme: Client) -> None:
    with acme.session() as s:
        r = s.run(
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "(libc.unshare(0x10000000), ctypes.get_errno())"
        )
        assert r.result is not None and r.result.plain == "(-1, 1)"

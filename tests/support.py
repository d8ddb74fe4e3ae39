"""Test support: servers on background loops, API keys, sandbox process scans."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from services.common.server import Server, Service
from services.common.settings import ServerSettings

# Two tenants with their keys, as a client would hold them.
KEYS = {"acme": "acme-secret-key", "globex": "globex-secret-key", "initech": "initech-key"}
# initech is held to tighter limits than the server's.
TENANTS_TOML = """
[tenants.initech]
max_sessions = 2
[tenants.initech.ceilings]
memory_bytes = 314572800
cpu_millicores = 500

[tenants.initech.policy_profiles.no-json]
description = "initech's own: standard, and no json"
denied_imports = ["json"]
"""
INLINE_KEYS = ",".join(f"{tenant}:{key}" for tenant, key in KEYS.items())
SANDBOX_UID_BASE = 200_000


class ServerThread:
    """A real gRPC server on loopback, on its own event loop in a thread,
    so tests can use the synchronous client against it."""

    def __init__(self, settings: ServerSettings, build: Callable[[Any], Service]) -> None:
        self.settings = replace(settings, port=0, host="127.0.0.1")
        self.build = build
        self.loop = asyncio.new_event_loop()
        self.server: Server | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.server = Server(self.settings, self.build(self.settings))
            self.loop.run_until_complete(self.server.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def call(self, coroutine: Any, timeout: float = 60) -> Any:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.stop(grace=0.5))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def sandbox_processes(uids: set[int] | None = None, instance: str | None = None) -> list[int]:
    """Pids of processes running as a sandbox uid (outside view), optionally
    only those in the cgroups of one executor instance."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            if (
                instance is not None
                and f"/codeact/{instance}/" not in (entry / "cgroup").read_text()
            ):
                continue
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
                if (uids is None and uid >= SANDBOX_UID_BASE) or (uids and uid in uids):
                    found.append(int(entry.name))
                break
    return found


def can_jail() -> bool:
    return os.geteuid() == 0


def uid_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise LookupError(pid)


def pids_with_argument(argument: str) -> list[int]:
    """Pids whose command line has this exact argument."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argument.encode() in args:
                found.append(int(entry.name))
    return found

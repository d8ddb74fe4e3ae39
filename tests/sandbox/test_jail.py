"""The jail spec: what nsjail is told."""

from __future__ import annotations

import itertools
from pathlib import Path

from sandbox.factory import ETC_DIR, KERNEL_DIR, SECCOMP_POLICY
from sandbox.jail import ENV_MOUNT, JailSpec
from sandbox.limits import CEILINGS


def spec(**changes: object) -> JailSpec:
    base = dict(
        nsjail=Path("/bin/nsjail"),
        python=Path("/usr/bin/python3"),
        kernel_dir=KERNEL_DIR,
        etc_dir=ETC_DIR,
        workspace=Path("/state/ws1"),
        outside_uid=200_123,
        ceilings=CEILINGS,
        env_dir=Path("/env"),
        seccomp_policy=SECCOMP_POLICY,
        cgroup_args=("--cgroup_mem_max", "1"),
    )
    base.update(changes)
    return JailSpec(**base)  # type: ignore[arg-type]


def _pairs(argv: list[str]) -> set[tuple[str, str]]:
    return set(itertools.pairwise(argv))


def test_argv_maps_an_unprivileged_uid_and_mounts_read_only() -> None:
    argv = spec().argv()
    pairs = _pairs(argv)
    assert ("--user", "1000:200123:1") in pairs and ("--group", "1000:200123:1") in pairs
    assert ("--bindmount", "/state/ws1:/workspace") in pairs
    assert ("--bindmount_ro", f"{KERNEL_DIR}:/opt/codeact/codeact_kernel") in pairs
    assert ("--bindmount_ro", f"/env:{ENV_MOUNT}") in pairs
    assert ("--bindmount_ro", f"{ETC_DIR}:/etc") in pairs
    assert ("--seccomp_policy", str(SECCOMP_POLICY)) in pairs
    assert ("--time_limit", "0") in pairs
    # No flag weakens the namespaces or keeps the host environment.
    assert not [a for a in argv if a.startswith("--disable_clone") or a.startswith("--keep_")]
    assert "--" in argv and argv[argv.index("--") + 1] == "/usr/bin/python3"
    assert argv[-1] == ENV_MOUNT  # the kernel adds the sandbox packages


def test_environment_is_rebuilt_not_inherited() -> None:
    envs = [b for a, b in _pairs(spec().argv()) if a == "--env"]
    names = {e.split("=", 1)[0] for e in envs}
    assert {"HOME", "PATH", "LANG", "MPLBACKEND", "OPENBLAS_NUM_THREADS"} <= names


def test_an_interpreter_outside_usr_is_bound_too() -> None:
    argv = spec(extra_ro_dirs=(Path("/opt/python"),), env_dir=None).argv()
    assert ("--bindmount_ro", "/opt/python") in _pairs(argv)
    assert argv[-2] == "-c"  # no sandbox packages to add

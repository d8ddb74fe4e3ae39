"""The seccomp policy is load-bearing: the same system calls, in a jail that
is identical but for the policy, partly succeed. Each denied call is tried
with ctypes in one program, once with and once without the policy."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from sandbox.factory import ETC_DIR, KERNEL_DIR, SECCOMP_POLICY, default_nsjail
from sandbox.jail import JailSpec
from sandbox.limits import CEILINGS
from tests.security.catalog import DENIED_SYSCALLS
from tests.support import can_jail

PROGRAM = """import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
calls = json.loads(os.environ["CALLS"])
out = {}
for name, number, args in calls:
    ret = libc.syscall(number, *eval("(" + args + ",)"))
    if number == 56 and ret == 0:  # a raw clone() that worked: this is the child
        os._exit(0)
    out[name] = [ret, ctypes.get_errno()]
print(json.dumps(out))
"""


def _run(policy: Path | None) -> dict[str, list[int]]:
    with tempfile.TemporaryDirectory(prefix="codeact-control-") as workspace:
        Path(workspace).chmod(0o777)
        spec = JailSpec(
            nsjail=default_nsjail(),
            python=Path("/usr/bin/python3"),
            kernel_dir=KERNEL_DIR,
            etc_dir=ETC_DIR,
            workspace=Path(workspace),
            outside_uid=199_999,
            ceilings=CEILINGS,
            seccomp_policy=policy,
            # Harmless probes only: nothing here may reach the host if a call succeeds.
            extra_env={"CALLS": json.dumps([[n, num, a] for n, num, a, _ in DENIED_SYSCALLS_SAFE])},
        )
        argv = [
            str(spec.nsjail),
            *spec.options().build_args(),
            "--",
            "/usr/bin/python3",
            "-c",
            PROGRAM,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(done.stdout))


# Calls that could disturb this machine if the kernel allowed them are left
# out of the control run (reboot, swap, module and kexec loading, time and
# quota changes); the policy run in test_attacks covers every call.
UNSAFE_WITHOUT_POLICY = {
    "reboot", "swapon", "swapoff", "kexec_load", "kexec_file_load", "init_module", "finit_module",
    "delete_module", "clock_settime", "acct", "quotactl", "syslog",
}  # fmt: skip
DENIED_SYSCALLS_SAFE = [c for c in DENIED_SYSCALLS if c[0] not in UNSAFE_WITHOUT_POLICY]


@pytest.mark.skipif(not can_jail(), reason="real jails need root")
def test_the_policy_alone_stops_calls_the_jail_would_otherwise_allow() -> None:
    with_policy = _run(SECCOMP_POLICY)
    without = _run(None)
    expected = {name: errno for name, _, _, errno in DENIED_SYSCALLS_SAFE}
    assert {name: tuple(v) for name, v in with_policy.items()} == {
        name: (-1, errno) for name, errno in expected.items()
    }
    succeeded = {name for name, (ret, _) in without.items() if ret >= 0}
    # Reached kernel code: succeeded, or failed on its arguments, not on permission.
    reached = {name for name, (ret, err) in without.items() if ret >= 0 or err not in (1, 38)}
    # Without the policy a jailed process creates nested user and network
    # namespaces (snekbox's gap), uses kernel keyrings, changes its personality...
    assert {
        "unshare(CLONE_NEWUSER)",
        "unshare(CLONE_NEWNET)",
        "add_key",
        "personality(READ_IMPLIES_EXEC)",
    } <= succeeded, sorted(succeeded)
    # ...and reaches BPF, perf and io_uring code, where kernel exploits live.
    assert {"bpf", "perf_event_open", "io_uring_setup"} <= reached, sorted(reached)

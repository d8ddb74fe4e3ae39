"""The attack catalog: every program the suite runs inside a real jail, what
must happen, and which layer stops it. docs/security.md is generated from
this file (python -m tests.security.catalog > docs/security.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from codeact import CellResult, Status

Check = Callable[[CellResult], None]


@dataclass(frozen=True)
class Attack:
    id: str
    category: str
    title: str
    code: str
    expect: str
    layer: str
    check: Check
    language: str = "python"
    limits: dict[str, float] = field(default_factory=dict)
    timeout: float | None = None
    # A later cell of the same session, after a pause, and what it must show.
    follow_up: tuple[str, Check] | None = None
    pause: float = 0.0


# --- checks -------------------------------------------------------------------
def result(text: str) -> Check:
    def check(r: CellResult) -> None:
        assert r.result is not None, (r.status, r.error, r.stdout, r.stderr)
        assert r.result.plain == text, r.result.plain

    return check


def status(*wanted: str) -> Check:
    def check(r: CellResult) -> None:
        assert r.status.name in wanted, (r.status, r.message, r.error)

    return check


def error(*names: str) -> Check:
    def check(r: CellResult) -> None:
        assert r.error is not None, (r.status, r.stdout)
        assert r.error.ename in names, (r.error.ename, r.error.evalue)

    return check


def stdout_is(text: str) -> Check:
    def check(r: CellResult) -> None:
        assert r.stdout == text, r.stdout[:300]

    return check


def killed_and_replaced(r: CellResult) -> None:
    assert r.status in (Status.KILLED, Status.OOM, Status.TIMEOUT), (r.status, r.message)
    assert r.interpreter_restarted, r.message


def both(*checks: Check) -> Check:
    def check(r: CellResult) -> None:
        for c in checks:
            c(r)

    return check


def holds(predicate: Callable[[CellResult], bool], what: str) -> Check:
    def check(r: CellResult) -> None:
        assert predicate(r), f"{what}: {r.status} {r.stdout[:200]!r} {r.message} {r.error}"

    return check


def within_memory(limit: int) -> Check:
    # The session's cgroup (children included) never held more than its limit.
    return holds(lambda r: 0 < r.peak_memory_bytes <= limit + (1 << 20), f"peak memory <= {limit}")


def truncated(r: CellResult) -> None:
    assert r.output_truncated
    assert len(r.stdout.encode()) + len(r.stderr.encode()) <= 64 * 1024


# --- raw syscalls (x86_64 numbers) ---------------------------------------------
EPERM, ENOSYS = 1, 38
SYSCALL = """import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ret = libc.syscall({number}, {args})
(ret, ctypes.get_errno())"""

DENIED_SYSCALLS: list[tuple[str, int, str, int]] = [
    # name, number, arguments, errno the policy answers
    ("ptrace", 101, "16, 1, 0, 0", EPERM),  # PTRACE_ATTACH to pid 1
    ("process_vm_readv", 310, "1, 0, 0, 0, 0, 0", EPERM),
    ("process_vm_writev", 311, "1, 0, 0, 0, 0, 0", EPERM),
    ("mount", 165, "b'none', b'/tmp', b'tmpfs', 0, 0", EPERM),
    ("umount2", 166, "b'/tmp', 0", EPERM),
    ("pivot_root", 155, "b'/tmp', b'/tmp'", EPERM),
    ("unshare(CLONE_NEWUSER)", 272, "0x10000000", EPERM),
    ("unshare(CLONE_NEWNET)", 272, "0x40000000", EPERM),
    ("setns", 308, "0, 0", EPERM),
    ("clone(CLONE_NEWUSER)", 56, "0x10000000 | 17, 0, 0, 0, 0", EPERM),
    ("clone(CLONE_NEWPID)", 56, "0x20000000 | 17, 0, 0, 0, 0", EPERM),
    ("clone3", 435, "0, 0", ENOSYS),
    ("bpf", 321, "0, 0, 0", EPERM),
    ("perf_event_open", 298, "0, 0, -1, -1, 0", EPERM),
    ("keyctl", 250, "0, 0, 0, 0, 0", EPERM),
    ("add_key", 248, "b'user', b'k', b'v', 1, -2", EPERM),
    ("request_key", 249, "b'user', b'k', 0, 0", EPERM),
    ("kexec_load", 246, "0, 0, 0, 0", EPERM),
    ("kexec_file_load", 320, "0, 0, 0, 0, 0", EPERM),
    ("init_module", 175, "0, 0, b''", EPERM),
    ("finit_module", 313, "0, b'', 0", EPERM),
    ("delete_module", 176, "b'ext4', 0", EPERM),
    ("userfaultfd", 323, "0", EPERM),
    ("io_uring_setup", 425, "1, 0", EPERM),
    ("io_uring_enter", 426, "0, 0, 0, 0, 0, 0", EPERM),
    ("io_uring_register", 427, "0, 0, 0, 0", EPERM),
    ("personality(READ_IMPLIES_EXEC)", 135, "0x0400000", EPERM),
    ("reboot", 169, "0xfee1dead, 672274793, 0x1234567, 0", EPERM),
    ("swapon", 167, "b'/workspace/swap', 0", EPERM),
    ("swapoff", 168, "b'/workspace/swap'", EPERM),
    ("acct", 163, "b'/workspace/acct'", EPERM),
    ("quotactl", 179, "0, b'/', 0, 0", EPERM),
    ("open_by_handle_at", 304, "3, 0, 0", EPERM),
    ("fsopen", 430, "b'tmpfs', 0", EPERM),
    ("syslog", 103, "3, 0, 0", EPERM),
    ("clock_settime", 227, "0, 0", EPERM),
    ("sethostname", 170, "b'pwned', 5", EPERM),
]


def _syscall_attack(name: str, number: int, args: str, errno: int) -> Attack:
    return Attack(
        id=f"syscall-{name.split('(')[0].replace('_', '-')}"
        + ("-" + name.split("(")[1].rstrip(")").lower().replace("_", "-") if "(" in name else ""),
        category="kernel attack surface",
        title=f"raw {name} through ctypes",
        code=SYSCALL.format(number=number, args=args),
        expect=f"returns -1 with errno {errno}",
        layer="seccomp policy",
        check=result(f"(-1, {errno})"),
    )


READ_ONLY_MOUNTS = """import os
failures = []
for path in ['/x', '/usr/x', '/etc/x', '/bin/x', '/lib/x', '/opt/codeact/env/x',
             '/opt/codeact/codeact_kernel/x', '/proc/sys/kernel/hostname', '/proc/sysrq-trigger',
             '/dev/x']:
    try:
        with open(path, 'w') as f:
            f.write('x')
        failures.append(path)
    except OSError:
        pass
failures"""

ATTACKS: list[Attack] = [
    # --- resource exhaustion ------------------------------------------------------
    Attack(
        "infinite-loop",
        "resources",
        "busy infinite loop",
        "while True:\n    pass",
        "TIMEOUT; interrupted, session keeps its state",
        "executor wall-time limit (SIGINT)",
        both(status("TIMEOUT"), holds(lambda r: r.interpreter_alive, "interpreter alive")),
        timeout=1.0,
    ),
    Attack(
        "loop-ignoring-sigint",
        "resources",
        "infinite loop that ignores SIGINT",
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
        "TIMEOUT; jail killed after the grace period, fresh interpreter",
        "executor kill (SIGKILL of the jail)",
        both(status("TIMEOUT"), killed_and_replaced),
        timeout=0.5,
    ),
    Attack(
        "memory-bomb-one-shot",
        "resources",
        "one 8 GiB allocation",
        "x = bytearray(8 << 30)",
        "OOM with MemoryError; interpreter survives",
        "RLIMIT_AS",
        both(status("OOM"), error("MemoryError")),
    ),
    Attack(
        "memory-bomb-gradual",
        "resources",
        "allocate 16 MiB pieces forever",
        "hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))",
        "OOM; interpreter killed by the cgroup and replaced",
        "cgroup memory limit",
        both(status("OOM"), killed_and_replaced),
        limits={"memory_bytes": 128 << 20},
    ),
    Attack(
        "memory-spread-over-children",
        "resources",
        "eight children with 48 MiB each",
        "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n        b = bytearray(48 << 20)\n"
        "        time.sleep(30)\n        os._exit(0)\ntime.sleep(3)\n'survived'",
        "the session's cgroup holds all of them (OOM kills inside the jail only)",
        "cgroup memory limit",
        within_memory(128 << 20),
        limits={"memory_bytes": 128 << 20},
        timeout=5,
    ),
    Attack(
        "huge-mmap",
        "resources",
        "anonymous mmap of 100 GiB",
        "import mmap\nm = mmap.mmap(-1, 100 << 30)",
        "MemoryError or OSError",
        "RLIMIT_AS",
        error("OSError", "MemoryError"),
    ),
    Attack(
        "mmap-touch-pages",
        "resources",
        "mmap 1 GiB and touch every page",
        "import mmap\nm = mmap.mmap(-1, 1 << 30)\nfor i in range(0, 1 << 30, 4096):\n    m[i] = 1",
        "OOM; interpreter killed by the cgroup and replaced",
        "cgroup memory limit",
        both(status("OOM"), killed_and_replaced),
        limits={"memory_bytes": 128 << 20},
    ),
    Attack(
        "fork-bomb",
        "resources",
        "os.fork() in a loop",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        "forks fail at the pids limit; cell times out; contained",
        "cgroup pids limit",
        status("TIMEOUT", "ERROR", "KILLED"),
        timeout=1.0,
    ),
    Attack(
        "bash-fork-bomb",
        "resources",
        "the classic :(){ :|:& };:",
        ":(){ :|:& };:",
        "forks fail at the pids limit; contained",
        "cgroup pids limit",
        status("OK", "ERROR", "TIMEOUT", "KILLED", "INTERRUPTED"),
        language="bash",
        timeout=1.0,
    ),
    Attack(
        "process-limit",
        "resources",
        "start 500 sleeping subprocesses",
        "import subprocess\nprocs = []\ntry:\n    for _ in range(500):\n"
        "        procs.append(subprocess.Popen(['sleep', '60']))\nexcept OSError as e:\n    err = e.errno\n"
        "(len(procs) < 64, err)",
        "stops below the limit with EAGAIN",
        "cgroup pids limit",
        result("(True, 11)"),
    ),
    Attack(
        "thread-bomb",
        "resources",
        "start 10000 threads",
        "import threading, time\nthreads = []\ntry:\n    for _ in range(10000):\n"
        "        t = threading.Thread(target=time.sleep, args=(30,), daemon=True)\n        t.start()\n"
        "        threads.append(t)\nexcept RuntimeError as e:\n    err = str(e)\n(len(threads) < 64, err)",
        "RuntimeError: can't start new thread, below the limit",
        "cgroup pids limit",
        result('(True, "can\'t start new thread")'),
    ),
    Attack(
        "fd-exhaustion",
        "resources",
        "open files until refused",
        "files = []\ntry:\n    while True:\n        files.append(open('/dev/null'))\nexcept OSError as e:\n"
        "    err = e.errno\nn = len(files)\nfor f in files:\n    f.close()\n(n < 1100, err)",
        "EMFILE near 1024; the kernel keeps working",
        "RLIMIT_NOFILE",
        result("(True, 24)"),
    ),
    Attack(
        "stdout-flood",
        "resources",
        "print 100 MB",
        "import sys\nchunk = 'x' * 65536\nfor _ in range(1600):\n    sys.stdout.write(chunk)",
        "output truncated at the limit; cell completes",
        "output cap (kernel and executor)",
        both(status("OK"), truncated),
        limits={"output_bytes": 64 * 1024},
    ),
    Attack(
        "stderr-flood",
        "resources",
        "write 100 MB to stderr",
        "import sys\nchunk = 'x' * 65536\nfor _ in range(1600):\n    sys.stderr.write(chunk)",
        "output truncated at the limit",
        "output cap (kernel and executor)",
        both(status("OK"), truncated),
        limits={"output_bytes": 64 * 1024},
    ),
    Attack(
        "child-output-flood",
        "resources",
        "a child process writes 200 MB",
        "import subprocess\nsubprocess.run(['head', '-c', '200000000', '/dev/zero'])",
        "output truncated; cell completes",
        "output cap (fd capture)",
        both(status("OK"), truncated),
        limits={"output_bytes": 64 * 1024},
    ),
    Attack(
        "huge-line",
        "resources",
        "one 50 MB line without a newline",
        "print('y' * (50 << 20), end='')",
        "output truncated",
        "output cap",
        both(status("OK"), truncated),
        limits={"output_bytes": 64 * 1024},
    ),
    Attack(
        "fill-workspace",
        "resources",
        "write the workspace full",
        "try:\n    with open('/workspace/fill', 'wb') as f:\n        while True:\n"
        "            f.write(b'x' * (1 << 20))\nexcept OSError as e:\n    err = e.errno\nerr in (27, 28)",
        "EFBIG or ENOSPC at the workspace size",
        "tmpfs size and RLIMIT_FSIZE",
        result("True"),
        limits={"workspace_bytes": 8 << 20},
    ),
    Attack(
        "fill-tmp",
        "resources",
        "write /tmp full",
        "try:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n"
        "            f.write(b'x' * (1 << 20))\nexcept OSError as e:\n    err = e.errno\nerr in (27, 28)",
        "EFBIG or ENOSPC",
        "tmpfs size and RLIMIT_FSIZE",
        result("True"),
    ),
    Attack(
        "dev-shm-abuse",
        "resources",
        "write 100 MB to /dev/shm",
        "try:\n    with open('/dev/shm/fill', 'wb') as f:\n        f.write(b'x' * (100 << 20))\n"
        "except OSError as e:\n    err = e.errno\nerr in (27, 28)",
        "ENOSPC at 16 MiB",
        "tmpfs size",
        result("True"),
    ),
    Attack(
        "sparse-file",
        "resources",
        "truncate a file to 1 TiB",
        "try:\n    with open('/workspace/sparse', 'wb') as f:\n        f.truncate(1 << 40)\n"
        "except OSError as e:\n    err = e.errno\nerr",
        "EFBIG",
        "RLIMIT_FSIZE",
        result("27"),
    ),
    Attack(
        "many-files",
        "resources",
        "create files until refused",
        "n = 0\ntry:\n    while n < 100000:\n        open(f'/workspace/f{n}', 'w').close()\n        n += 1\n"
        "except OSError as e:\n    err = e.errno\n(n < 3000, err)",
        "ENOSPC at the inode cap",
        "tmpfs nr_inodes",
        result("(True, 28)"),
    ),
    Attack(
        "zip-bomb",
        "resources",
        "decompress 10 GB of zeros",
        "import zlib\nd = zlib.decompressobj()\nbomb = zlib.compress(bytes(64 << 20), 9)\nout = []\n"
        "for _ in range(200):\n    out.append(d.decompress(bomb))",
        "OOM",
        "cgroup memory limit / RLIMIT_AS",
        status("OOM"),
        limits={"memory_bytes": 128 << 20},
    ),
    Attack(
        "recursion-bomb",
        "resources",
        "unbounded recursion",
        "def f():\n    return f()\nf()",
        "RecursionError; interpreter survives",
        "CPython recursion limit",
        error("RecursionError"),
    ),
    Attack(
        "c-stack-overflow",
        "resources",
        "raise the recursion limit and recurse",
        "import sys\nsys.setrecursionlimit(10**7)\ndef f(n):\n    return f(n + 1)\nf(0)",
        "KILLED (SIGSEGV), OOM (3.11 frames live on the heap) or RecursionError; session usable",
        "process isolation, cgroup memory limit",
        status("KILLED", "OOM", "ERROR"),
    ),
    Attack(
        "cpu-threads",
        "resources",
        "burn CPU in 8 threads",
        "import threading, time\nend = time.monotonic() + 1\ndef burn():\n    while time.monotonic() < end:\n"
        "        pass\nts = [threading.Thread(target=burn) for _ in range(8)]\nfor t in ts:\n    t.start()\n"
        "for t in ts:\n    t.join()",
        "at most the session's CPU share",
        "cgroup CPU quota",
        holds(lambda r: r.cpu_time <= 1.3 * r.wall_time, "cpu time within one core"),
        limits={"cpu_millicores": 1000},
    ),
    # --- crashes ------------------------------------------------------------------------
    Attack(
        "segfault",
        "crashes",
        "ctypes.string_at(0)",
        "import ctypes\nctypes.string_at(0)",
        "KILLED by SIGSEGV; fresh interpreter",
        "process isolation",
        killed_and_replaced,
    ),
    Attack(
        "abort",
        "crashes",
        "os.abort()",
        "import os\nos.abort()",
        "KILLED by SIGABRT; fresh interpreter",
        "process isolation",
        killed_and_replaced,
    ),
    Attack(
        "exit-kernel",
        "crashes",
        "os._exit(0) from the cell",
        "import os\nos._exit(0)",
        "KILLED (exited); fresh interpreter",
        "process isolation",
        killed_and_replaced,
    ),
    Attack(
        "kill-self",
        "crashes",
        "SIGKILL its own interpreter",
        "import os, signal\nos.kill(os.getpid(), 9)",
        "KILLED; fresh interpreter",
        "process isolation",
        killed_and_replaced,
    ),
    Attack(
        "system-exit",
        "crashes",
        "sys.exit(3)",
        "import sys\nsys.exit(3)",
        "ERROR (SystemExit); interpreter survives",
        "kernel",
        both(status("ERROR"), error("SystemExit")),
    ),
    Attack(
        "nul-and-unencodable-output",
        "crashes",
        "NUL bytes, lone surrogates, invalid UTF-8",
        "import os\nprint('a\\x00b \\udcff')\nos.write(1, b'\\xff\\xfe\\n')",
        "delivered escaped or replaced; stream intact",
        "kernel output encoding",
        holds(lambda r: r.ok and "a\x00b \\udcff" in r.stdout and "\ufffd" in r.stdout, "escaped"),
    ),
    # --- the filesystem ------------------------------------------------------------------
    Attack(
        "write-read-only-mounts",
        "filesystem",
        "write into every read-only mount",
        READ_ONLY_MOUNTS,
        "every write fails",
        "read-only bind mounts",
        result("[]"),
    ),
    Attack(
        "read-host-shadow",
        "filesystem",
        "read /etc/shadow and root's home",
        "import os\nfound = []\nfor path in ['/etc/shadow', '/root/.bash_history', '/home', '/var/log']:\n"
        "    if os.path.exists(path):\n        found.append(path)\nfound",
        "none of the host's files exist in the jail",
        "mount namespace (minimal /etc)",
        result("[]"),
    ),
    Attack(
        "host-environment",
        "filesystem",
        "look for the host's environment",
        "import os\nleaks = [k for k in os.environ if k.startswith(('CODEACT', 'AWS', 'SSH'))]\n"
        "leaks += [p for p in os.listdir('/proc') if p.isdigit()\n"
        "          and b'CODEACT' in open(f'/proc/{p}/environ', 'rb').read()]\nleaks",
        "no host variable anywhere in the jail",
        "cleared environment",
        result("[]"),
    ),
    Attack(
        "other-processes",
        "filesystem",
        "list every process and command line",
        "import os\nnames = [open(f'/proc/{p}/cmdline', 'rb').read() for p in os.listdir('/proc') if p.isdigit()]\n"
        "[n for n in names if b'services.' in n or b'nsjail' in n or b'pytest' in n]",
        "only the jail's own processes are visible",
        "pid namespace",
        result("[]"),
    ),
    Attack(
        "no-sysfs-no-devices",
        "filesystem",
        "reach /sys, /dev/mem, /dev/kmsg, block devices",
        "import os\n[p for p in ['/sys/kernel', '/dev/mem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/dev/kvm']\n"
        " if os.path.exists(p)]",
        "none exist",
        "mount namespace (no /sys, few devices)",
        result("[]"),
    ),
    Attack(
        "mknod",
        "filesystem",
        "create a block device node",
        "import os, stat\ntry:\n    os.mknod('/workspace/disk', stat.S_IFBLK | 0o600, os.makedev(8, 0))\n"
        "except OSError as e:\n    err = e.errno\nerr",
        "EPERM",
        "no capabilities (user namespace)",
        result("1"),
    ),
    Attack(
        "chroot",
        "filesystem",
        "chroot out",
        "import os\ntry:\n    os.chroot('/tmp')\nexcept OSError as e:\n    err = e.errno\nerr",
        "EPERM",
        "no capabilities",
        result("1"),
    ),
    Attack(
        "hardlink-out",
        "filesystem",
        "hard-link a system binary into the workspace",
        "import os\ntry:\n    os.link('/usr/bin/python3', '/workspace/py')\nexcept OSError as e:\n"
        "    err = e.errno\nerr",
        "EXDEV: the workspace is its own filesystem",
        "tmpfs workspace",
        result("18"),
    ),
    Attack(
        "setuid-binaries",
        "filesystem",
        "run su and mount",
        "su -c id root; echo su=$?; mount -t tmpfs none /mnt; echo mount=$?",
        "both fail",
        "no_new_privs, no capabilities, seccomp",
        holds(
            lambda r: "su=" in r.stdout and "su=0" not in r.stdout and "mount=0" not in r.stdout,
            "refused",
        ),
        language="bash",
    ),
    Attack(
        "become-root",
        "filesystem",
        "setuid(0)",
        "import os\ntry:\n    os.setuid(0)\n"
        "except OSError as e:\n    err = e.errno\n(os.getuid(), err)",
        "EINVAL (uid 0 does not exist in the jail); uid stays 1000",
        "user namespace (one uid mapped)",
        result("(1000, 22)"),
    ),
    Attack(
        "capabilities",
        "filesystem",
        "read the effective capabilities",
        "[l.split()[1] for l in open('/proc/self/status') if l.startswith('CapEff')][0]",
        "none",
        "nsjail drops every capability",
        result("'0000000000000000'"),
    ),
    Attack(
        "cgroup-escape",
        "filesystem",
        "find and write the cgroup filesystem",
        "import os\nfound = [p for p in ['/sys/fs/cgroup', '/proc/self/cgroup'] if os.path.exists(p)]\n"
        "try:\n    open('/sys/fs/cgroup/cgroup.procs', 'w').write('1')\n    wrote = True\n"
        "except OSError:\n    wrote = False\n(found, wrote)",
        "no cgroupfs in the jail; nothing written",
        "mount namespace (no /sys), seccomp (no mount)",
        result("(['/proc/self/cgroup'], False)"),
    ),
    Attack(
        "nested-namespaces-binary",
        "filesystem",
        "unshare -U and unshare -n from bash",
        "unshare -U id; echo u=$?; unshare -n true; echo n=$?",
        "both refused",
        "seccomp policy",
        holds(
            lambda r: "u=" in r.stdout and "u=0" not in r.stdout and "n=0" not in r.stdout,
            "refused",
        ),
        language="bash",
    ),
    # --- the network --------------------------------------------------------------------
    Attack(
        "tcp-out",
        "network",
        "connect to 1.1.1.1:80",
        "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 80), timeout=3)\n"
        "except OSError as e:\n    err = e.errno\nerr",
        "ENETUNREACH",
        "network namespace (loopback only)",
        result("101"),
    ),
    Attack(
        "dns",
        "network",
        "resolve a name",
        "import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\n"
        "except socket.gaierror as e:\n    err = 'refused'\nerr",
        "no resolution",
        "network namespace",
        result("'refused'"),
    ),
    Attack(
        "udp-out",
        "network",
        "send UDP to 8.8.8.8:53",
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ntry:\n"
        "    s.sendto(b'x', ('8.8.8.8', 53))\nexcept OSError as e:\n    err = e.errno\nerr",
        "ENETUNREACH",
        "network namespace",
        result("101"),
    ),
    Attack(
        "raw-socket",
        "network",
        "open a raw packet socket",
        "import socket\ntry:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\nexcept OSError as e:\n"
        "    err = e.errno\nerr",
        "EPERM",
        "no capabilities",
        result("1"),
    ),
    Attack(
        "host-loopback",
        "network",
        "reach the executor's port on 127.0.0.1",
        "import socket\nopen_ports = []\nfor port in (50051, 50052, 50053, 50054, 50055):\n"
        "    try:\n        socket.create_connection(('127.0.0.1', port), timeout=1).close()\n"
        "        open_ports.append(port)\n    except OSError:\n        pass\nopen_ports",
        "nothing listens: the jail's loopback is its own",
        "network namespace",
        result("[]"),
    ),
    Attack(
        "interfaces",
        "network",
        "list network interfaces",
        "import socket\nsorted(name for _, name in socket.if_nameindex())",
        "only lo",
        "network namespace",
        result("['lo']"),
    ),
    Attack(
        "abstract-unix-socket",
        "network",
        "connect to the host's abstract unix sockets",
        "import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n    s.connect('\\0/org/freedesktop/systemd1/notify')\n"
        "except OSError as e:\n    err = e.errno\nerr",
        "ECONNREFUSED: abstract sockets are per network namespace",
        "network namespace",
        result("111"),
    ),
    # --- signals and the supervisor -----------------------------------------------------
    Attack(
        "kill-everything",
        "supervisor",
        "kill(-1, SIGKILL) with a child running",
        "import os, subprocess\nchild = subprocess.Popen(['sleep', '60'])\nos.kill(-1, 9)\nchild.wait()",
        "reaches the jail's own processes only (the child dies; init and the caller are spared)",
        "pid namespace",
        result("-9"),
    ),
    Attack(
        "kill-pid-1",
        "supervisor",
        "SIGKILL the jail's init",
        "import os\nos.kill(1, 9)\n'alive'",
        "ignored: init of a pid namespace",
        "pid namespace",
        result("'alive'"),
    ),
    Attack(
        "signal-host-pids",
        "supervisor",
        "signal low host pids",
        "import os\nreached = []\nfor pid in range(2, 200):\n    try:\n        os.kill(pid + 100000, 0)\n"
        "        reached.append(pid)\n    except OSError:\n        pass\nreached",
        "host pids do not exist in the jail",
        "pid namespace",
        result("[]"),
    ),
    Attack(
        "ptrace-traceme",
        "supervisor",
        "PTRACE_TRACEME, to be debugged by its parent",
        SYSCALL.format(number=101, args="0, 0, 0, 0"),
        "EPERM",
        "seccomp policy",
        result(f"(-1, {EPERM})"),
    ),
    Attack(
        "timer-after-cell",
        "supervisor",
        "a timer that prints after the cell ended",
        "import threading\nthreading.Timer(0.2, print, args=('late',)).start()\n'scheduled'",
        "output made between cells is dropped, not given to the next cell",
        "kernel (output between cells is dropped)",
        result("'scheduled'"),
        pause=0.5,
        follow_up=("print('next')", stdout_is("next\n")),
    ),
    Attack(
        "alarm-after-cell",
        "supervisor",
        "signal.alarm that fires after the cell",
        "import signal\nsignal.alarm(1)\n'armed'",
        "kills only its own interpreter, which is replaced",
        "process isolation",
        result("'armed'"),
        follow_up=("import time\ntime.sleep(3)", killed_and_replaced),
    ),
    Attack(
        "outlive-the-cell",
        "supervisor",
        "a daemonized grandchild",
        "(setsid sleep 600 &) ; echo started",
        "lives until the session ends, then dies with the jail",
        "pid namespace (jail teardown)",
        stdout_is("started\n"),
        language="bash",
    ),
    # --- interpreter-level escapes (the policy service also flags them) -------------------
    Attack(
        "subclass-walk",
        "python escapes",
        "reach os.popen through ().__class__.__base__.__subclasses__() and __globals__",
        "wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
        "wrap.__init__.__globals__['popen']('id -u').read().strip()",
        "runs, but as uid 1000 in the jail: nothing to escape to",
        "the jail (the policy service flags the pattern)",
        result("'1000'"),
    ),
    Attack(
        "ctypes-system",
        "python escapes",
        "libc system() through ctypes",
        "import ctypes\nctypes.CDLL(None).system(b'id -u > /workspace/who')\nopen('/workspace/who').read().strip()",
        "runs as uid 1000 in the jail",
        "the jail",
        result("'1000'"),
    ),
    Attack(
        "frame-walk",
        "python escapes",
        "walk frames to the kernel's globals",
        "import sys\nf = sys._getframe()\nwhile f.f_back:\n    f = f.f_back\n"
        "sorted(k for k in f.f_globals if k == 'main')",
        "reaches only its own kernel, inside the jail",
        "the jail (kernel is untrusted by the executor)",
        result("['main']"),
    ),
    Attack(
        "forge-control-frames",
        "python escapes",
        "write fake frames to the kernel's control channel",
        "import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'\\xff' * 64)\n    except OSError:\n"
        "        pass\n'sent'",
        "the executor treats the channel as untrusted: the session is killed and replaced",
        "executor frame validation",
        killed_and_replaced,
    ),
    *(_syscall_attack(*entry) for entry in DENIED_SYSCALLS),
]


def markdown() -> str:
    """docs/security.md, from the catalog."""
    lines = [
        "# Sandbox security",
        "",
        "Generated from `tests/security/catalog.py` (`python -m tests.security.catalog`); every",
        "row is an attack program that `make test` runs inside a real jail, asserting the result.",
        "",
        "## Layers",
        "",
        "| layer | what it does |",
        "| --- | --- |",
        "| user namespace | one uid inside (1000) mapped to an unprivileged uid of its own outside; no capabilities |",
        "| pid namespace | the jail sees only its processes; its init reaps orphans; killing the jail kills them all |",
        "| network namespace | a private loopback and nothing else: no route out, no host sockets |",
        "| mount namespace | read-only system, interpreter and packages; minimal /etc; private tmpfs /tmp, /dev/shm and workspace; no /sys |",
        "| ipc, uts, cgroup namespaces | no shared IPC, own hostname, own cgroup view |",
        "| seccomp policy | `sandbox/policy/seccomp.kafel`: debugging, namespaces, mounts, keyrings, BPF, perf, modules, kexec, io_uring, userfaultfd, personality, host administration |",
        "| cgroups | per-session memory, pids and CPU quota (v1 or v2) |",
        "| rlimits | address space, file size, open files, processes, no core dumps |",
        "| executor | wall-time limit (SIGINT, then SIGKILL of the jail), output caps, frame validation, files walked with O_NOFOLLOW |",
        "| policy service | static checks before execution (defence in depth, never the boundary) |",
        "",
        "## Attacks",
        "",
        "| id | category | attack | result | stopped by |",
        "| --- | --- | --- | --- | --- |",
    ]
    for attack in ATTACKS:
        cells = [f"`{attack.id}`", attack.category, attack.title, attack.expect, attack.layer]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += [
        "",
        "Also in `tests/security/`: the same system calls in a control jail without the seccomp",
        "policy (showing which ones the policy alone stops), reading another session's workspace,",
        "symlink, sparse-file and traversal tricks against file download and upload, and a",
        "bystander session that must be untouched after the whole suite, with no sandbox process",
        "left once the sessions are gone.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(markdown())

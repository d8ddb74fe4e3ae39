"""Control groups for jails, cgroup v1 and v2.

Each jail gets a slot cgroup owned by the executor; nsjail creates its own
`NSJAIL.<pid>` child under it. The limits that matter are set on the slot,
and the child gets slightly more, so the slot's counters (peak memory, limit
hits, OOM kills) survive nsjail removing its child and can be read per cell.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CGROUP_ROOT = Path("/sys/fs/cgroup")
V1_CONTROLLERS = ("memory", "pids", "cpu")
# The nsjail child's memory limit sits this far above the slot's, so the slot
# is the one that hits and records it.
CHILD_MEMORY_HEADROOM = 1 << 20
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class SlotLimits:
    memory_bytes: int
    max_pids: int
    cpu_millicores: int


class Slot(Protocol):
    """The cgroup of one jail."""

    name: str

    def create(self, limits: SlotLimits) -> None: ...
    def set_limits(self, limits: SlotLimits) -> None: ...
    def nsjail_args(self, ceiling: SlotLimits) -> list[str]: ...
    def reset_peak(self) -> None: ...
    def peak_memory(self) -> int: ...
    def memory_events(self) -> int:
        """A counter that grows when the memory limit is hit."""
        ...

    def remove(self) -> bool:
        """Remove the slot; False while processes still hold it."""
        ...

    def pids(self) -> list[int]:
        """Every process in the slot (outside pids)."""
        ...


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class _Knob:
    """A cgroup file read and written on every cell, through one descriptor."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = -1

    def _open(self) -> int:
        if self.fd < 0:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        return self.fd

    def text(self) -> str:
        try:
            return os.pread(self._open(), 4096, 0).decode()
        except OSError:
            return ""

    def value(self) -> int:
        try:
            return int(self.text().split()[0])
        except (ValueError, IndexError):
            return 0

    def write(self, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self._open(), text.encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _procs_under(path: Path) -> list[int]:
    pids: list[int] = []
    for procs in path.glob("**/cgroup.procs"):
        try:
            pids.extend(int(p) for p in procs.read_text().split())
        except (OSError, ValueError):
            pass
    return pids


def _rmdir_tree(path: Path) -> bool:
    """Remove a cgroup directory bottom-up (cgroup dirs only allow rmdir);
    True when it is gone."""
    if not path.is_dir():
        return True
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), reverse=True):
        with contextlib.suppress(OSError):
            child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()
    return not path.exists()


class V1Slot:
    def __init__(self, mount: Path, parent: str, name: str) -> None:
        self.mount = mount
        self.name = name
        self.relative = f"{parent}/{name}"
        memory = self._dir("memory")
        self._peak = _Knob(memory / "memory.max_usage_in_bytes")
        self._failcnt = _Knob(memory / "memory.failcnt")
        self._cpu_children: list[Path] | None = None

    def _dir(self, controller: str) -> Path:
        return self.mount / controller / self.relative

    def create(self, limits: SlotLimits) -> None:
        for controller in V1_CONTROLLERS:
            self._dir(controller).mkdir(parents=True, exist_ok=True)
        self.set_limits(limits)

    def set_limits(self, limits: SlotLimits) -> None:
        _write(self._dir("memory") / "memory.limit_in_bytes", str(limits.memory_bytes))
        _write(self._dir("pids") / "pids.max", str(limits.max_pids))
        cpu = self._dir("cpu")
        # nsjail gives its child a quota over a 1 s period; a lower quota
        # there throttles for most of a second (and a throttled task takes no
        # signal until the refill). So the child is unlimited (allowed under
        # a limited parent in v1) and the quota lives on the slot, 100 ms at
        # a time.
        if not self._cpu_children:
            self._cpu_children = list(cpu.glob("NSJAIL.*"))
        for child in self._cpu_children:
            _write(child / "cpu.cfs_quota_us", "-1")
        _write(cpu / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(cpu / "cpu.cfs_quota_us", str(limits.cpu_millicores * CPU_PERIOD_US // 1000))

    def nsjail_args(self, ceiling: SlotLimits) -> list[str]:
        return [
            "--cgroup_mem_mount", str(self.mount / "memory"),
            "--cgroup_mem_parent", self.relative,
            "--cgroup_mem_max", str(ceiling.memory_bytes + CHILD_MEMORY_HEADROOM),
            "--cgroup_pids_mount", str(self.mount / "pids"),
            "--cgroup_pids_parent", self.relative,
            "--cgroup_pids_max", str(ceiling.max_pids),
            "--cgroup_cpu_mount", str(self.mount / "cpu"),
            "--cgroup_cpu_parent", self.relative,
            "--cgroup_cpu_ms_per_sec", str(max(1, ceiling.cpu_millicores)),
        ]  # fmt: skip

    def reset_peak(self) -> None:
        self._peak.write("0")

    def peak_memory(self) -> int:
        return self._peak.value()

    def memory_events(self) -> int:
        return self._failcnt.value()

    def remove(self) -> bool:
        self._peak.close()
        self._failcnt.close()
        return all([_rmdir_tree(self._dir(c)) for c in V1_CONTROLLERS])

    def pids(self) -> list[int]:
        return _procs_under(self._dir("pids"))


class V2Slot:
    def __init__(self, parent: Path, name: str) -> None:
        self.name = name
        self.path = parent / name
        self._peak = _Knob(self.path / "memory.peak")
        self._events = _Knob(self.path / "memory.events")

    def create(self, limits: SlotLimits) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.set_limits(limits)
        # nsjail puts its NSJAIL.<pid> child here and needs the controllers.
        _write(self.path / "cgroup.subtree_control", "+memory +pids +cpu")

    def set_limits(self, limits: SlotLimits) -> None:
        _write(self.path / "memory.max", str(limits.memory_bytes))
        _write(self.path / "memory.swap.max", "0")
        _write(self.path / "pids.max", str(limits.max_pids))
        quota = limits.cpu_millicores * CPU_PERIOD_US // 1000
        _write(self.path / "cpu.max", f"{quota} {CPU_PERIOD_US}")

    def nsjail_args(self, ceiling: SlotLimits) -> list[str]:
        return [
            "--use_cgroupv2",
            "--cgroupv2_mount", str(self.path),
            "--cgroup_mem_max", str(ceiling.memory_bytes + CHILD_MEMORY_HEADROOM),
            "--cgroup_pids_max", str(ceiling.max_pids),
            "--cgroup_cpu_ms_per_sec", str(max(1, ceiling.cpu_millicores)),
        ]  # fmt: skip

    def reset_peak(self) -> None:
        # Writable since Linux 6.12; older kernels report the lifetime peak.
        self._peak.write("reset")

    def peak_memory(self) -> int:
        return self._peak.value()

    def memory_events(self) -> int:
        for line in self._events.text().splitlines():
            key, _, value = line.partition(" ")
            if key == "max" and value.strip().isdigit():
                return int(value)
        return 0

    def remove(self) -> bool:
        self._peak.close()
        self._events.close()
        return _rmdir_tree(self.path)

    def pids(self) -> list[int]:
        return _procs_under(self.path)


class NoSlot:
    """No cgroup: limits rest on rlimits alone (development machines only)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def create(self, limits: SlotLimits) -> None:
        pass

    def set_limits(self, limits: SlotLimits) -> None:
        pass

    def nsjail_args(self, ceiling: SlotLimits) -> list[str]:
        return []

    def reset_peak(self) -> None:
        pass

    def peak_memory(self) -> int:
        return 0

    def memory_events(self) -> int:
        return 0

    def remove(self) -> bool:
        return True

    def pids(self) -> list[int]:
        return []


def detect_version(root: Path = CGROUP_ROOT) -> int:
    """2 for a unified hierarchy, 1 for v1 controllers, 0 when neither is usable."""
    if _is_cgroup2(root):
        return 2
    if all((root / c).is_dir() for c in V1_CONTROLLERS):
        return 1
    return 0


def _is_cgroup2(path: Path) -> bool:
    # statvfs has no f_type; /proc/self/mounts says which filesystem is there.
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if len(fields) > 2 and fields[1] == str(path):
                    return fields[2] == "cgroup2"
    except OSError:
        pass
    return False


class CgroupTree:
    """The executor's cgroups: `<root>/<instance>/<slot>` for every jail."""

    def __init__(
        self, version: int, instance: str, root: Path = CGROUP_ROOT, prefix: str = "codeact"
    ) -> None:
        self.version = version
        self.root = root
        self.parent = f"{prefix}/{instance}"
        self.v2_parent = root / self.parent  # replaced by prepare() under v2

    def prepare(self) -> None:
        """Create the parents (nsjail needs them) and drop a crashed run's leftovers."""
        if self.version == 1:
            for controller in V1_CONTROLLERS:
                base = self.root / controller / self.parent
                _rmdir_tree(base)
                base.mkdir(parents=True, exist_ok=True)
        elif self.version == 2:
            self._prepare_v2()

    def _prepare_v2(self) -> None:
        with open("/proc/self/cgroup") as f:
            own = Path(f.read().strip().split("::", 1)[-1].lstrip("/"))
        base = self.root / own
        # "No internal processes": a cgroup that hands controllers to its
        # children may hold no process, so the executor moves into a leaf.
        if (base / "cgroup.procs").read_text().split():
            leaf = base / "executor"
            leaf.mkdir(exist_ok=True)
            for pid in (base / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    _write(leaf / "cgroup.procs", pid)
        _write(base / "cgroup.subtree_control", "+memory +pids +cpu")
        path = base
        for part in self.parent.split("/"):
            path = path / part
            path.mkdir(exist_ok=True)
            _write(path / "cgroup.subtree_control", "+memory +pids +cpu")
        self.v2_parent = path
        for stale in path.iterdir():
            if stale.is_dir():
                _rmdir_tree(stale)

    def slot(self, name: str) -> Slot:
        if self.version == 1:
            return V1Slot(self.root, self.parent, name)
        if self.version == 2:
            return V2Slot(self.v2_parent, name)
        return NoSlot(name)

    def remove(self) -> None:
        """Remove the executor's tree at shutdown."""
        if self.version == 1:
            for controller in V1_CONTROLLERS:
                _rmdir_tree(self.root / controller / self.parent)
        elif self.version == 2:
            _rmdir_tree(self.v2_parent)

"""Cgroup slots: v2 against a directory tree standing in for cgroupfs; v1 for real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sandbox.cgroups import (
    CHILD_MEMORY_HEADROOM,
    CgroupTree,
    SlotLimits,
    V1Slot,
    V2Slot,
    detect_version,
)


def test_v2_slot_writes_limits_and_reads_counters(tmp_path: Path) -> None:
    slot = V2Slot(tmp_path, "s1")
    slot.create(SlotLimits(memory_bytes=256 << 20, max_pids=64, cpu_millicores=500))
    d = tmp_path / "s1"
    assert (d / "memory.max").read_text() == str(256 << 20)
    assert (d / "pids.max").read_text() == "64"
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n")
    (d / "memory.peak").write_text("12345\n")
    assert slot.memory_events() == 7
    assert slot.peak_memory() == 12345
    args = slot.nsjail_args(SlotLimits(1 << 30, 128, 2000))
    assert args[:3] == ["--use_cgroupv2", "--cgroupv2_mount", str(d)]
    assert str((1 << 30) + CHILD_MEMORY_HEADROOM) in args


@pytest.mark.skipif(detect_version() != 1 or os.geteuid() != 0, reason="needs cgroup v1 as root")
def test_v1_slot_on_this_machine() -> None:
    tree = CgroupTree(1, "unit-test")
    tree.prepare()
    slot = tree.slot("s1")
    assert isinstance(slot, V1Slot)
    try:
        slot.create(SlotLimits(128 << 20, 32, 1000))
        memory = Path("/sys/fs/cgroup/memory/codeact/unit-test/s1")
        assert int((memory / "memory.limit_in_bytes").read_text()) == 128 << 20
        assert (
            Path("/sys/fs/cgroup/pids/codeact/unit-test/s1") / "pids.max"
        ).read_text().strip() == "32"
        slot.reset_peak()
        assert slot.peak_memory() == 0
    finally:
        assert slot.remove()
        tree.remove()
    assert not Path("/sys/fs/cgroup/memory/codeact/unit-test").exists()

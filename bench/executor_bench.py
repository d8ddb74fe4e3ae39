"""Executor benchmarks. Every figure is compared with a baseline measured in
the same run where one exists; nothing here asserts a time.

    BENCH executor.cell_rtt        a trivial cell over gRPC on a warm session,
                                   against a one-shot nsjail `python3 -c` per cell
    BENCH executor.session_create  CreateSession from the warm pool and cold
    BENCH executor.throughput      trivial cells/s with 32 concurrent sessions
    BENCH executor.density         memory per idle session with 500 sessions
    BENCH executor.checkpoint      snapshot and restore of 50 MB of state
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_line, executor_process, median, percentile, timed
from codeact import Client
from codeact.v1 import executor_pb2, executor_pb2_grpc
from sandbox.factory import ETC_DIR, KERNEL_DIR, SECCOMP_POLICY, default_nsjail
from sandbox.jail import JailSpec
from sandbox.limits import CEILINGS


def one_shot_baseline(runs: int) -> list[float]:
    """snekbox's design: a fresh jail and interpreter for every cell."""
    workspace = Path("/tmp/codeact-bench-oneshot")
    workspace.mkdir(mode=0o777, exist_ok=True)
    spec = JailSpec(
        nsjail=default_nsjail(),
        python=Path("/usr/bin/python3"),
        kernel_dir=KERNEL_DIR,
        etc_dir=ETC_DIR,
        workspace=workspace,
        outside_uid=65534,
        ceilings=CEILINGS,
        seccomp_policy=SECCOMP_POLICY,
    )
    argv = [str(spec.nsjail), *spec.options().build_args(), "--", "/usr/bin/python3", "-c", "x = 1"]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def cell_rtt(cells: int, baseline_runs: int) -> None:
    with (
        executor_process(pool_size=2) as (address, key),
        Client(address, token=key) as client,
        client.session() as session,
    ):
        for _ in range(100):
            session.run("x = 1")
        samples = [timed(session.run, "x = 1") for _ in range(cells)]
    baseline = one_shot_baseline(baseline_runs)
    p50, base = median(samples), median(baseline)
    bench_line(
        "executor.cell_rtt",
        p50_ms=p50,
        p99_ms=percentile(samples, 99),
        baseline_p50_ms=base,
        speedup=base / p50,
        cells=cells,
    )


def session_create(creates: int) -> None:
    def measure(pool_size: int) -> list[float]:
        samples = []
        with (
            executor_process(pool_size=pool_size) as (address, key),
            Client(address, token=key) as client,
        ):
            time.sleep(1.0)  # let the pool fill
            for _ in range(creates):
                started = time.perf_counter()
                session = client.session()
                samples.append((time.perf_counter() - started) * 1000)
                assert session.warm == (pool_size > 0)
                session.delete()
                if pool_size:
                    time.sleep(0.15)  # the pool refills between creates
        return samples

    warm, cold = measure(4), measure(0)
    bench_line(
        "executor.session_create",
        warm_p50_ms=median(warm),
        cold_p50_ms=median(cold),
        warm_p99_ms=percentile(warm, 99),
        cold_p99_ms=percentile(cold, 99),
    )


def throughput(sessions: int, seconds: float) -> None:
    """Many clients, each with its own session, running trivial cells."""

    async def run(address: str, key: str) -> tuple[int, int]:
        metadata = (("authorization", f"Bearer {key}"),)
        async with grpc.aio.insecure_channel(address) as channel:
            stub = executor_pb2_grpc.ExecutorServiceStub(channel)
            ids = []
            for _ in range(sessions):
                reply = await stub.CreateSession(
                    executor_pb2.CreateSessionRequest(), metadata=metadata
                )
                ids.append(reply.session.id)
            done = errors = 0
            stop = time.monotonic() + seconds

            async def client(session_id: str) -> None:
                nonlocal done, errors
                request = executor_pb2.ExecuteRequest(session_id=session_id, code="x = 1")
                while time.monotonic() < stop:
                    try:
                        async for _ in stub.Execute(request, metadata=metadata):
                            pass
                        done += 1
                    except grpc.aio.AioRpcError:
                        errors += 1

            await asyncio.gather(*(client(i) for i in ids))
            return done, errors

    with executor_process(pool_size=0, max_sessions_per_tenant=sessions) as (address, key):
        started = time.monotonic()
        done, errors = asyncio.run(run(address, key))
        elapsed = time.monotonic() - started
    bench_line(
        "executor.throughput",
        cells_per_s=done / seconds,
        sessions=sessions,
        errors=errors,
        seconds=seconds,
        setup_s=elapsed - seconds,
    )


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def density(sessions: int) -> None:
    """Idle sessions: memory of their processes (proportional set size, so
    shared libraries are split fairly) and the machine's memory drop."""
    instance_marker = "/codeact/bench"
    with (
        executor_process(
            pool_size=0, max_sessions=sessions + 10, max_sessions_per_tenant=sessions
        ) as (address, key),
        Client(address, token=key, timeout=120) as client,
    ):
        time.sleep(0.5)
        before = _available_kib()
        created, errors = [], 0
        for _ in range(sessions):
            try:
                created.append(client.session())
            except Exception:  # noqa: BLE001 - counted and reported
                errors += 1
        for s in created[:: max(1, len(created) // 20)]:
            if not s.run("x = 1").ok:
                errors += 1
        time.sleep(1.0)
        after = _available_kib()
        pids = [
            int(p)
            for p in os.listdir("/proc")
            if p.isdigit() and _in_cgroup(int(p), instance_marker)
        ]
        nsjails = [
            int(p) for p in os.listdir("/proc") if p.isdigit() and _is_nsjail_of(int(p), address)
        ]
        pss_kib = sum(_pss_kib(p) for p in pids + nsjails)
        for s in created:
            s.delete()
    count = max(1, len(created))
    bench_line(
        "executor.density",
        rss_mb_per_session=pss_kib / 1024 / count,
        system_mb_per_session=(before - after) / 1024 / count,
        sessions=len(created),
        errors=errors,
    )


def _in_cgroup(pid: int, marker: str) -> bool:
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return marker in f.read()
    except OSError:
        return False


def _is_nsjail_of(pid: int, address: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args = f.read().split(b"\0")
    except OSError:
        return False
    return bool(args) and args[0].endswith(b"nsjail") and any(b"codeact-bench" in a for a in args)


def checkpoint(state_mb: int, rounds: int) -> None:
    with (
        executor_process(pool_size=0) as (address, key),
        Client(address, token=key) as client,
        client.session(limits={"memory_bytes": 1 << 30}) as session,
    ):
        session.run(f"import os\nstate = bytearray(os.urandom({state_mb} << 20))")
        snapshots, restores = [], []
        for _ in range(rounds):
            started = time.perf_counter()
            cp = session.checkpoint()
            snapshots.append((time.perf_counter() - started) * 1000)
            session.run("state[:4096] = b'x' * 4096")
            started = time.perf_counter()
            session.restore(cp.id)
            restores.append((time.perf_counter() - started) * 1000)
            session.delete_checkpoint(cp.id)
        check = session.run(f"len(state) == {state_mb} << 20 and state[:1] != b'x'")
        assert check.result is not None and check.result.plain == "True"
    bench_line(
        "executor.checkpoint",
        state_mb=state_mb,
        snapshot_ms=median(snapshots),
        restore_ms=median(restores),
        rounds=rounds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--baseline-runs", type=int, default=40)
    parser.add_argument("--creates", type=int, default=30)
    parser.add_argument("--sessions", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--density", type=int, default=500)
    parser.add_argument("--only", help="comma-separated: rtt,create,throughput,density,checkpoint")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) if args.only else None
    if wanted is None or "rtt" in wanted:
        cell_rtt(args.cells, args.baseline_runs)
    if wanted is None or "create" in wanted:
        session_create(args.creates)
    if wanted is None or "throughput" in wanted:
        throughput(args.sessions, args.seconds)
    if wanted is None or "density" in wanted:
        density(args.density)
    if wanted is None or "checkpoint" in wanted:
        checkpoint(50, 10)


if __name__ == "__main__":
    main()

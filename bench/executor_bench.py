"""Executor benchmarks. Every figure is compared with a baseline measured in
the same run; nothing here asserts a time.

    BENCH executor.cell_rtt        a trivial cell over gRPC on a warm session,
                                   against a one-shot nsjail `python3 -c` per cell
    BENCH executor.session_create  CreateSession from the warm pool and cold
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_line, executor_process, median, percentile, timed
from codeact import Client
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cells", type=int, default=2000)
    parser.add_argument("--baseline-runs", type=int, default=40)
    parser.add_argument("--creates", type=int, default=30)
    args = parser.parse_args()
    cell_rtt(args.cells, args.baseline_runs)
    session_create(args.creates)


if __name__ == "__main__":
    main()

"""Policy benchmark: a 50-line cell checked by the core, against
RestrictedPython's compile_restricted alone on the same cell in the same run;
and checks per second over gRPC.

    BENCH policy.check p50_ms=.. p99_ms=.. checks_per_s=.. baseline_p50_ms=..
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_line, free_port, median, percentile, service_process
from codeact.v1 import policy_pb2, policy_pb2_grpc
from services.policy.__main__ import module_index
from services.policy.checker import Checker
from services.policy.profiles import BUILTIN_DIR, load_directory
from services.policy.settings import PolicySettings

CELL = '''import json
import os
from collections import Counter

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def load(path):
    """Read the sales file and clean it."""
    frame = pd.read_csv(path, parse_dates=["date"])
    frame = frame.dropna(subset=["amount"])
    frame["month"] = frame["date"].dt.to_period("M")
    return frame


def summarize(frame):
    by_month = frame.groupby("month")["amount"].agg(["sum", "mean", "count"])
    by_month["share"] = by_month["sum"] / by_month["sum"].sum()
    return by_month.sort_index()


class Report:
    def __init__(self, title):
        self.title = title
        self.sections = []

    def add(self, name, value):
        self.sections.append((name, value))

    def __repr__(self):
        return f"Report({self.title!r}, {len(self.sections)} sections)"


sales = load("/workspace/sales.csv")
summary = summarize(sales)
counts = Counter(sales["region"])
rng = np.random.default_rng(0)
noise = rng.normal(0, 1, size=len(summary))
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(summary.index.astype(str), summary["sum"] + noise, marker="o")
ax.set_title("Monthly sales")
fig.savefig("/workspace/monthly.png")
report = Report("Sales")
report.add("months", len(summary))
report.add("regions", dict(counts))
with open("/workspace/summary.json", "w") as f:
    json.dump({"total": float(summary["sum"].sum())}, f)
print(report, os.path.getsize("/workspace/monthly.png") > 0)
'''


def core(rounds: int) -> tuple[list[float], list[float]]:
    from RestrictedPython.compile import compile_restricted_exec

    checker = Checker(module_index(PolicySettings()))
    profile = load_directory(BUILTIN_DIR)["standard"]
    assert CELL.count("\n") >= 50
    for _ in range(50):
        checker.check(CELL, profile)
        compile_restricted_exec(CELL)
    ours, baseline = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        result = checker.check(CELL, profile)
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        compile_restricted_exec(CELL)
        baseline.append((time.perf_counter() - started) * 1000)
    assert result.decision.name == "ALLOW", result.findings
    return ours, baseline


def throughput(seconds: float, concurrency: int, workers: int, channels: int) -> float:
    """Checks per second from many connections (as many agents would make):
    SO_REUSEPORT spreads connections, not requests, over the workers."""

    async def run(address: str, key: str) -> int:
        metadata = (("authorization", f"Bearer {key}"),)
        request = policy_pb2.CheckCodeRequest(code=CELL, profile_name="standard")
        done = 0
        # Separate connections, as separate agents would open (grpc otherwise
        # shares one connection between channels to the same target).
        options = [("grpc.use_local_subchannel_pool", 1)]
        opened = [grpc.aio.insecure_channel(address, options=options) for _ in range(channels)]
        stubs = [policy_pb2_grpc.PolicyServiceStub(channel) for channel in opened]
        for stub in stubs:
            await stub.CheckCode(request, metadata=metadata)
        stop = time.monotonic() + seconds

        async def client(stub: policy_pb2_grpc.PolicyServiceStub) -> None:
            nonlocal done
            while time.monotonic() < stop:
                await stub.CheckCode(request, metadata=metadata)
                done += 1

        await asyncio.gather(*(client(stubs[i % channels]) for i in range(concurrency)))
        for channel in opened:
            await channel.close()
        return done

    port = free_port()
    with service_process("policy", workers=workers, port=port) as (address, key):
        return asyncio.run(run(address, key)) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="policy processes (2 cores here)")
    parser.add_argument("--channels", type=int, default=8)
    args = parser.parse_args()
    ours, baseline = core(args.rounds)
    rate = throughput(args.seconds, args.concurrency, args.workers, args.channels)
    bench_line(
        "policy.check",
        p50_ms=median(ours),
        p99_ms=percentile(ours, 99),
        checks_per_s=rate,
        baseline_p50_ms=median(baseline),
        lines=CELL.count("\n"),
        workers=args.workers,
    )


if __name__ == "__main__":
    main()

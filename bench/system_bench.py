"""The whole platform under load, under faults, with a misbehaving model and
exhausted resources; writes bench/report.md and prints

    BENCH system.load clients=.. seconds=.. errors=.. p99_ms=..
    BENCH system.faults kills=.. lost_events=.. orphan_processes=..

`make bench` runs it briefly; `make soak` for ten minutes (`--seconds`).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_line, percentile
from bench.system import phases, report
from bench.system.fleet import ORDER, Fleet
from bench.system.workload import Recorder, Workload, solving_model
from tests.llm_stub import LLMStub

BENCH_DIR = Path(__file__).resolve().parent


async def main(args: argparse.Namespace) -> int:
    stub = LLMStub().start()
    stub.responder = solving_model
    fleet = Fleet(stub.base_url, secrets.token_urlsafe(16), tenants=phases.TIGHT_TENANTS)
    summary: list[str] = []
    try:
        await asyncio.to_thread(fleet.start)
        before = {name: fleet.rss_bytes(name) for name in ORDER}
        recorder = Recorder()
        await Workload(fleet, recorder, args.clients, tolerant=True).run(args.seconds)
        load = list(recorder.samples)
        after = {name: fleet.rss_bytes(name) for name in ORDER}
        errors = sum(not s.ok for s in load)
        p99 = percentile([s.ms for s in load if s.ok and s.rpc != "RunTask"] or [0.0], 99)
        summary.append(
            bench_line(
                "system.load",
                clients=args.clients,
                seconds=args.seconds,
                calls=len(load),
                errors=errors,
                p99_ms=round(p99, 2),
            )
        )
        fault_report = await phases.faults(fleet, recorder, max(4, args.clients // 2))
        summary.append(
            bench_line(
                "system.faults",
                kills=fault_report.kills,
                lost_events=fault_report.lost_events,
                orphan_processes=fault_report.orphan_processes,
            )
        )
        llm_rows = await phases.misbehaving_model(fleet, stub)
        stub.responder = solving_model
        exhaustion_rows = await asyncio.to_thread(phases.exhaustion, fleet)
        plot_name = "report-latency.png"
        report.plot(
            recorder.samples,
            fault_report.kill_times,
            BENCH_DIR / plot_name,
            f"{args.clients} clients; each service killed in turn",
        )
        report.write(
            BENCH_DIR / "report.md",
            settings={"clients": args.clients, "seconds": args.seconds},
            load_rows=report.rpc_table(load, args.seconds),
            memory_rows=[
                {
                    "service": name,
                    "rss_before_mb": round(before[name] / 2**20, 1),
                    "rss_after_mb": round(after[name] / 2**20, 1),
                    "growth_mb": round((after[name] - before[name]) / 2**20, 1),
                }
                for name in ORDER
            ],
            fault_rows=fault_report.rows,
            llm_rows=llm_rows,
            exhaustion_rows=exhaustion_rows,
            summary=summary,
            plot_name=plot_name,
        )
        print(f"wrote {BENCH_DIR / 'report.md'}", flush=True)
        healthy = (
            errors == 0 and fault_report.lost_events == 0 and fault_report.orphan_processes == 0
        )
        return 0 if healthy else 1
    finally:
        await asyncio.to_thread(fleet.stop)
        stub.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20.0)
    sys.exit(asyncio.run(main(parser.parse_args())))

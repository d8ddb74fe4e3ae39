"""Memory benchmark, over gRPC against a memory server in its own process.

    BENCH memory.append p50_ms=.. p99_ms=.. baseline_p50_ms=.. ratio=..
    BENCH memory.context events=10000 condenser=.. p50_ms=.. p99_ms=..
    BENCH memory.condense steps=200 budget_tokens=.. max_tokens_noop=.. max_tokens_<type>=..
          within_budget=..
    BENCH memory.condense.growth tokens_per_step_<type>=..  (the largest prompt of the
          last 50 steps against that of the 50 before, per step)

The baseline is a bare gRPC health check on the same channel. The condense
run replays a synthetic 200-step trajectory and asks for a context after each
step under every condenser (no hard budget, so what is measured is the
condenser itself); LLM summarizing goes through a real planner to the
OpenAI-compatible stub.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import bench_line, percentile, service_process
from codeact import Client, condenser, events
from codeact.v1 import events_pb2
from tests.llm_stub import LLMStub

SUMMARY = (
    "TASK: analyse the sales data and report the monthly totals.\n"
    "DONE: loaded the file, cleaned missing amounts, computed totals for the months seen.\n"
    "STATE: DataFrame df (date, amount, month); dict totals by month.\n"
    "FAILURES: none so far.\nNEXT: continue with the remaining months."
)


def samples_ms(fn: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def step_events(i: int, output_lines: int) -> list[events_pb2.Event]:
    output = "\n".join(
        f"{i:>4} 2024-{i % 12 + 1:02d} {i * 37 % 1000:>8.2f}" for _ in range(output_lines)
    )
    return [
        events.thought(f"Step {i}: aggregate the month {i % 12 + 1} and check the total."),
        events.python(
            f"month_{i} = df[df.month == {i % 12 + 1}]\n"
            f"totals[{i}] = month_{i}.amount.sum()\nprint(month_{i}.head())"
        ),
        events.observation(output),
    ]


def bench_append(client: Client, count: int) -> None:
    cid = client.memory.create_conversation().id
    health = health_pb2_grpc.HealthStub(client.channel)
    for i in range(100):
        client.memory.append(cid, events.thought(f"warm {i}", key=f"w{i}"))
        health.Check(health_pb2.HealthCheckRequest())
    baseline = samples_ms(lambda: health.Check(health_pb2.HealthCheckRequest()), count)
    counter = iter(range(10**9))

    def append() -> None:
        i = next(counter)
        client.memory.append(cid, events.observation(f"output of step {i}", key=f"k{i}"))

    timings = samples_ms(append, count)
    p50, base = percentile(timings, 50), percentile(baseline, 50)
    bench_line(
        "memory.append",
        p50_ms=p50,
        p99_ms=percentile(timings, 99),
        baseline_p50_ms=base,
        ratio=p50 / base,
    )


def bench_context(client: Client, size: int, count: int) -> None:
    cid = client.memory.create_conversation().id
    batch = [events.system("You are a CodeAct agent."), events.user("Report monthly totals.")]
    for i in range((size - len(batch)) // 3):
        batch += step_events(i, 3)
        if len(batch) >= 600:
            client.memory.append(cid, *batch)
            batch = []
    batch += [events.user(f"padding {i}") for i in range((size - 2) % 3)]
    client.memory.append(cid, *batch)
    total = client.memory.get_conversation(cid).event_count
    # View-only condensers first: amortized forgetting stores a condensation
    # that every later context of the conversation replays.
    specs = {
        "recent": condenser("recent", keep_first=2, max_events=200),
        "noop": condenser("noop"),
        "amortized_forgetting": condenser("amortized_forgetting", keep_first=2, max_events=200),
    }
    for name, spec in specs.items():
        client.memory.context(cid, spec)
        timings = samples_ms(lambda spec=spec: client.memory.context(cid, spec), count)  # type: ignore[misc]
        bench_line(
            "memory.context",
            events=total,
            condenser=name,
            p50_ms=percentile(timings, 50),
            p99_ms=percentile(timings, 99),
        )


def bench_condense(client: Client, stub: LLMStub, steps: int, budget: int) -> None:
    specs = {
        "noop": condenser("noop"),
        "recent": condenser("recent", keep_first=2, max_events=60),
        "observation_masking": condenser("observation_masking", attention_window=30),
        "amortized_forgetting": condenser("amortized_forgetting", keep_first=2, max_events=80),
        "llm_summarizing": condenser(
            "llm_summarizing", keep_first=2, max_events=80, max_summary_tokens=400
        ),
        "pipeline": condenser(
            "pipeline",
            condenser("observation_masking", attention_window=30),
            condenser("amortized_forgetting", keep_first=2, max_events=120),
        ),
    }
    stub.default.content = SUMMARY
    largest = {name: 0 for name in specs}
    history: dict[str, list[int]] = {name: [] for name in specs}
    conversations = {name: client.memory.create_conversation().id for name in specs}
    head = [events.system("You are a CodeAct agent."), events.user("Report monthly totals.")]
    for cid in conversations.values():
        client.memory.append(cid, *head)
    for i in range(steps):
        new = step_events(i, 12)
        for name, spec in specs.items():
            client.memory.append(conversations[name], *new)
            context = client.memory.context(conversations[name], spec)
            largest[name] = max(largest[name], context.token_count)
            history[name].append(context.token_count)
    within = all(v <= budget for k, v in largest.items() if k != "noop")
    bench_line(
        "memory.condense",
        steps=steps,
        budget_tokens=budget,
        **{f"max_tokens_{k}": v for k, v in largest.items()},
        within_budget=str(within and largest["noop"] > budget).lower(),
        summaries=len(stub.requests),
    )
    span = max(1, min(50, steps // 2))
    bench_line(
        "memory.condense.growth",
        steps=steps,
        **{
            f"tokens_per_step_{k}": (max(v[-span:]) - max(v[-2 * span : -span])) / span
            for k, v in history.items()
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--context-events", type=int, default=10_000)
    parser.add_argument("--context-samples", type=int, default=30)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--budget", type=int, default=16_000)
    parser.add_argument("--dsn", default="", help="a PostgreSQL DSN (default: a SQLite file)")
    args = parser.parse_args()

    key = secrets.token_urlsafe(16)
    stub = LLMStub().start()
    with tempfile.TemporaryDirectory() as tmp:
        dsn = args.dsn or f"sqlite://{tmp}/memory.db"
        with (
            service_process("planner", key=key, llm_base_url=stub.base_url) as (planner, _),
            service_process("memory", key=key, dsn=dsn, planner_target=planner) as (address, _),
            Client(address, token=key, timeout=60) as client,
        ):
            bench_append(client, args.appends)
            bench_context(client, args.context_events, args.context_samples)
            bench_condense(client, stub, args.steps, args.budget)
    stub.stop()


if __name__ == "__main__":
    main()

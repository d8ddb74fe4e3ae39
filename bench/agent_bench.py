"""Agent benchmark: the overhead of one step of the loop with a zero-latency
model (the OpenAI-compatible stub answering at once): memory context,
planner, policy, executor, appends and streaming, all five services in
their own processes.

    BENCH agent.step_overhead p50_ms=.. p99_ms=.. step_p50_ms=.. model_p50_ms=..
          steps=.. baseline_cell_p50_ms=.. ratio=..

A step is the time between the observations of two consecutive steps, as
the client sees them (step_p50_ms); its overhead is that minus the model
call's own latency, which the planner reports in the step's usage event
(model_p50_ms: an HTTP round trip to the stub through the openai client).
The baseline is a trivial cell run directly on the executor in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_line, percentile, service_process
from codeact import Client
from codeact.v1 import agent_pb2
from tests.llm_stub import LLMStub, Reply


def step(i: int) -> Reply:
    return Reply(
        content=f"Step {i}.",
        tool_calls=[
            {
                "id": f"c{i}",
                "name": "execute_python",
                "arguments": {"code": f"x{i} = {i}\nprint(x{i})"},
            }
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--tasks", type=int, default=3)
    args = parser.parse_args()
    key = secrets.token_urlsafe(16)
    stub = LLMStub().start()
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        start = stack.enter_context
        planner, _ = start(service_process("planner", key=key, llm_base_url=stub.base_url))
        policy, _ = start(service_process("policy", key=key))
        executor, _ = start(service_process("executor", key=key))
        memory, _ = start(service_process("memory", key=key, dsn=f"sqlite://{tmp}/m.db"))
        agent, _ = start(
            service_process(
                "agent",
                key=key,
                planner_target=planner,
                policy_target=policy,
                executor_target=executor,
                memory_target=memory,
            )
        )
        client = start(Client(agent, token=key, timeout=60))
        with Client(executor, token=key) as direct, direct.session() as session:
            session.run("1")
            cells = []
            for _ in range(200):
                began = time.perf_counter()
                session.run("x = 1")
                cells.append((time.perf_counter() - began) * 1000)
        steps: list[float] = []
        overheads: list[float] = []
        models: list[float] = []
        profile = agent_pb2.AgentProfile(max_iterations=args.steps + 5)
        for _ in range(args.tasks):
            stub.reset()
            stub.script(*[step(i) for i in range(args.steps)])
            stub.default = Reply(tool_calls=[{"name": "finish", "arguments": {"answer": "done"}}])
            with client.agent.create_session(profile=profile) as session:
                last = None
                model = 0.0
                for event in session.run("Assign numbers.", timeout=600):
                    if event.WhichOneof("event") == "usage":
                        model = event.usage.latency.ToNanoseconds() / 1e6
                    if event.WhichOneof("event") == "observation":
                        now = time.perf_counter()
                        if last is not None:
                            steps.append((now - last) * 1000)
                            overheads.append(steps[-1] - model)
                            models.append(model)
                        last = now
                    if event.WhichOneof("event") == "end":
                        assert event.end.outcome == agent_pb2.TASK_OUTCOME_FINISHED, event.end
    stub.stop()
    p50, base = percentile(overheads, 50), percentile(cells, 50)
    bench_line(
        "agent.step_overhead",
        p50_ms=p50,
        p99_ms=percentile(overheads, 99),
        step_p50_ms=percentile(steps, 50),
        model_p50_ms=percentile(models, 50),
        steps=len(steps),
        baseline_cell_p50_ms=base,
        ratio=p50 / base,
    )


if __name__ == "__main__":
    main()

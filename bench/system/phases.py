"""What happens when parts fail: services killed under load, a misbehaving
model, exhausted resources. Each phase returns rows for the report."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from codeact import Client
from codeact.aio import AsyncClient
from codeact.errors import CodeActError
from codeact.planner import message
from codeact.v1 import agent_pb2
from tests.llm_stub import LLMStub, Reply
from tests.support import sandbox_processes

from .fleet import INSTANCE, ORDER, Fleet, wait_serving
from .workload import Recorder, Workload, solving_model


@dataclass
class FaultReport:
    kills: int = 0
    lost_events: int = 0
    orphan_processes: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    kill_times: list[tuple[float, str]] = field(default_factory=list)


async def faults(fleet: Fleet, recorder: Recorder, clients: int) -> FaultReport:
    """SIGKILL each service in turn under load, then start it again."""
    report = FaultReport()
    load = Workload(fleet, recorder, clients, tolerant=True)
    running = asyncio.create_task(load.run())
    await asyncio.sleep(2.0)
    for name in ORDER:
        before = len(recorder.samples)
        killed_at = time.monotonic() - recorder.started
        fleet.kill(name)
        report.kills += 1
        report.kill_times.append((killed_at, name))
        orphans = 0
        if name == "executor":
            orphans = await _orphans_after_kill()
            report.orphan_processes += orphans
        await asyncio.sleep(1.0)  # clients meet the dead service
        began = time.monotonic()
        await asyncio.to_thread(fleet.start, name)
        down = time.monotonic() - began + 1.0
        await asyncio.sleep(2.0)  # clients come back
        window = recorder.samples[before:]
        errors = [s for s in window if not s.ok]
        recovered = [s for s in window if s.ok and s.t > killed_at + down]
        report.rows.append(
            {
                "service": name,
                "down_s": round(down, 2),
                "errors_seen": len(errors),
                "first_error": errors[0].error if errors else "",
                "calls_ok_after_restart": len(recovered),
                "orphans": orphans,
                "note": "",
            }
        )
    load.stop.set()
    await running
    report.lost_events = await asyncio.to_thread(_lost_events, fleet, recorder)
    pool = await asyncio.to_thread(_fresh_pool, fleet)
    for row in report.rows:
        if row["service"] == "executor":
            row["note"] = "new warm pool serves" if pool else "NO warm session after restart"
    return report


async def _orphans_after_kill(timeout: float = 10.0) -> int:
    """Jails of the killed executor that outlive it (they should all go)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = sandbox_processes(instance=INSTANCE)
        if not left:
            return 0
        await asyncio.sleep(0.2)
    return len(sandbox_processes(instance=INSTANCE))


def _lost_events(fleet: Fleet, recorder: Recorder) -> int:
    """Acknowledged memory events that are not stored."""
    lost = 0
    with Client(fleet.address("memory"), token=fleet.key) as client:
        for conversation_id, keys in recorder.acked.items():
            stored = {e.idempotency_key for e in client.memory.events(conversation_id)}
            lost += len(keys - stored)
    return lost


def _fresh_pool(fleet: Fleet) -> bool:
    """The restarted executor serves a session from its new warm pool."""
    with Client(fleet.address("executor"), token=fleet.key) as client:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            session = client.executor.create_session()
            warm = session.warm
            session.delete()
            if warm:
                return True
            time.sleep(0.5)
    return False


# --- a misbehaving model ---------------------------------------------------------
SPIKE = 1.5
MISBEHAVIOURS: dict[str, Reply] = {
    "rate limited (429)": Reply(status=429, error_message="Rate limit reached"),
    "server error (500)": Reply(status=500, error_message="upstream failure"),
    "malformed JSON": Reply(raw=b'{"choices": [ {"message": '),
    "no code in the reply": Reply(content="I would rather chat about it."),
}


async def misbehaving_model(fleet: Fleet, stub: LLMStub) -> list[dict[str, Any]]:
    rows = []
    async with AsyncClient(fleet.address("agent"), token=fleet.key, timeout=60) as client:
        # A latency spike: one slow answer, then business as usual.
        slow = {"n": 0}

        def spiky(body: dict[str, Any]) -> Reply:
            slow["n"] += 1
            reply = solving_model(body)
            reply.delay = SPIKE if slow["n"] == 1 else 0.0
            return reply

        rows.append(await _task(client, stub, "latency spike (1.5 s)", spiky, bound=6))
        for name, reply in MISBEHAVIOURS.items():
            rows.append(await _task(client, stub, name, lambda body, r=reply: r, bound=12))
    # A truncated stream, through the planner's streaming RPC.
    stub.reset()
    stub.responder = lambda body: Reply(
        tool_calls=[{"name": "execute_python", "arguments": {"code": "print(1)"}}],
        truncate_after=1,
    )
    began = time.monotonic()
    with Client(fleet.address("planner"), token=fleet.key, timeout=30) as planner:
        try:
            list(planner.planner.stream_next_action([message("user", "print one")]))
            outcome, detail = "answered", ""
        except CodeActError as exc:
            outcome, detail = exc.code, f"{exc.reason}: {exc.message[:100]}"
    rows.append(
        {
            "behaviour": "truncated stream",
            "outcome": outcome,
            "reported": detail,
            "model_requests": len(stub.requests),
            "bound": 3,
            "seconds": round(time.monotonic() - began, 2),
        }
    )
    stub.reset()
    return rows


async def _task(
    client: AsyncClient, stub: LLMStub, name: str, responder: Any, bound: int
) -> dict[str, Any]:
    stub.reset()
    stub.responder = responder
    began = time.monotonic()
    async with await client.agent.create_session() as session:
        seen = [e async for e in session.run("Sum 0..9", timeout=120)]
    end = seen[-1].end
    errors = [e.error for e in seen if e.WhichOneof("event") == "error"]
    reported = f"{errors[-1].reason}: {errors[-1].message[:90]}" if errors else end.message[:100]
    return {
        "behaviour": name,
        "outcome": agent_pb2.TaskOutcome.Name(end.outcome).removeprefix("TASK_OUTCOME_"),
        "reported": reported,
        "model_requests": len(stub.requests),
        # Model calls the task may make: its steps x (1 + the planner's 2 retries).
        "bound": bound,
        "seconds": round(time.monotonic() - began, 2),
    }


# --- exhaustion ------------------------------------------------------------------
TIGHT_TENANTS = """
[tenants.tight]
max_sessions = 2
executions_per_minute = 30
execution_burst = 2
"""


def exhaustion(fleet: Fleet) -> list[dict[str, Any]]:
    rows = []
    with Client(fleet.address("executor"), token=fleet.key) as client:
        sessions = [client.executor.create_session() for _ in range(8)]
        warm = sum(s.warm for s in sessions)
        for s in sessions:
            s.delete()
        rows.append(
            {
                "case": "pool emptied (8 sessions, pool of 4)",
                "error": "none: the rest started cold",
                "recovered": f"{warm} warm, {8 - warm} cold, all served",
            }
        )
        with client.executor.create_session(limits={"workspace_bytes": 1 << 20}) as session:
            full = session.run("open('big', 'wb').write(b'x' * (4 << 20))")
            error = f"{full.error.ename}: {full.error.evalue}" if full.error else "none"
            again = session.run("import os; os.remove('big'); open('small', 'w').write('ok')")
            rows.append(
                {
                    "case": "workspace full (1 MiB)",
                    "error": error[:100],
                    "recovered": "yes" if again.ok else f"no: {again.error}",
                }
            )
    with Client(fleet.address("executor"), token=f"tight-{fleet.key}") as tight:
        held = [tight.executor.create_session() for _ in range(2)]
        try:
            tight.executor.create_session()
            error = "none"
        except CodeActError as exc:
            error = f"{exc.reason} (retry after {exc.retry_after} s)"
        held.pop().delete()
        extra = tight.executor.create_session()
        rows.append(
            {"case": "session quota (2)", "error": error, "recovered": f"yes: {extra.id[:18]}..."}
        )
        refused = None
        for _ in range(4):
            try:
                held[0].run("1")
            except CodeActError as exc:
                refused = exc
                break
        assert refused is not None and refused.retry_after is not None
        time.sleep(refused.retry_after + 0.05)
        ok = held[0].run("1").ok
        rows.append(
            {
                "case": "execution rate (30/min, burst 2)",
                "error": f"{refused.reason} (retry after {refused.retry_after:.2f} s)",
                "recovered": "yes" if ok else "no",
            }
        )
        for s in [*held, extra]:
            s.delete()
    wait_serving(fleet.address("executor"))
    return rows

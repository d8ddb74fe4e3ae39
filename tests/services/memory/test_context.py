"""Contexts: each condenser, stored condensations, replay, token budgets."""

from __future__ import annotations

import pytest

from codeact import condenser, events
from codeact.errors import InvalidArgument
from codeact.v1 import common_pb2, events_pb2, executor_pb2, memory_pb2
from services.common.transcript import MASKED
from services.memory.core import Memory
from services.memory.store import open_store
from tests.services.memory.conftest import unknown_condenser


def steps(start: int, count: int) -> list[events_pb2.Event]:
    out = []
    for i in range(start, start + count):
        out += [
            events.thought(f"step {i}: compute x{i}"),
            events.python(f"x{i} = {i} * 2\nprint(x{i})"),
            events.observation(f"{i * 2}\n" + "row of output\n" * 5),
        ]
    return out


async def trajectory(memory: Memory, count: int) -> str:
    conversation = await memory.create_conversation("acme", {}, None)
    await memory.append(
        "acme",
        conversation.id,
        [
            events.system("You are a CodeAct agent."),
            events.user("Double numbers."),
            *steps(0, count),
        ],
    )
    return conversation.id


async def stored_condensations(memory: Memory, conversation_id: str) -> list[events_pb2.Event]:
    return await memory.list_events(
        "acme", conversation_id, 0, 1000, [events_pb2.EVENT_TYPE_CONDENSATION]
    )


async def test_noop_renders_every_event_as_messages(memory: Memory) -> None:
    cid = await trajectory(memory, 2)
    context = await memory.context("acme", cid, condenser("noop"), 0)
    roles = [m.role for m in context.messages]
    assert roles == [
        common_pb2.ROLE_SYSTEM,
        common_pb2.ROLE_USER,
        common_pb2.ROLE_ASSISTANT,
        common_pb2.ROLE_USER,
        common_pb2.ROLE_ASSISTANT,
        common_pb2.ROLE_USER,
    ]
    assert (
        context.messages[2].content == "step 0: compute x0\n\n```python\nx0 = 0 * 2\nprint(x0)\n```"
    )
    assert context.messages[3].content.startswith("Observation:\n0\n")
    assert context.event_count == 8
    assert context.forgotten_event_count == 0
    assert context.condensation is None
    assert context.token_count == sum(memory._tokens(m) for m in context.messages)


async def test_tool_calls_render_as_native_tool_messages(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    await memory.append(
        "acme",
        conversation.id,
        [
            events.user("go"),
            events.python("print(1)", tool_call_id="call_1"),
            events.observation(
                "1", tool_call_id="call_1", status=executor_pb2.EXECUTION_STATUS_OOM
            ),
        ],
    )
    context = await memory.context("acme", conversation.id, condenser("noop"), 0)
    call = context.messages[1].tool_calls[0]
    assert (call.id, call.name, call.arguments_json) == (
        "call_1",
        "execute_python",
        '{"code": "print(1)"}',
    )
    assert context.messages[2].role == common_pb2.ROLE_TOOL
    assert context.messages[2].tool_call_id == "call_1"
    assert context.messages[2].content == "[OOM] 1"


async def test_recent_keeps_the_head_and_the_latest_events(memory: Memory) -> None:
    cid = await trajectory(memory, 10)
    context = await memory.context("acme", cid, condenser("recent", keep_first=2, max_events=8), 0)
    assert context.event_count == 8
    assert context.messages[0].role == common_pb2.ROLE_SYSTEM
    assert context.messages[1].content == "Double numbers."
    assert "x9 = 9 * 2" in context.messages[-2].content
    assert "x7" not in "".join(m.content for m in context.messages)
    # A view-only condenser stores nothing: the events say it all.
    assert await stored_condensations(memory, cid) == []


async def test_observation_masking_hides_old_outputs_only(memory: Memory) -> None:
    cid = await trajectory(memory, 6)
    context = await memory.context(
        "acme", cid, condenser("observation_masking", attention_window=6), 0
    )
    observations = [m.content for m in context.messages if m.content.startswith("Observation")]
    assert observations[:4] == [f"Observation:\n{MASKED}"] * 4
    assert observations[4:] == [
        "Observation:\n8\n" + "row of output\n" * 5,
        "Observation:\n10\n" + "row of output\n" * 5,
    ]
    noop = await memory.context("acme", cid, condenser("noop"), 0)
    assert context.token_count < noop.token_count


async def test_amortized_forgetting_stores_its_condensation(memory: Memory) -> None:
    cid = await trajectory(memory, 10)  # 32 events
    spec = condenser("amortized_forgetting", keep_first=2, max_events=20)
    first = await memory.context("acme", cid, spec, 0)
    assert first.condensation is not None
    assert first.condensation.condenser == "amortized_forgetting"
    assert first.event_count == 10
    assert first.forgotten_event_count == 22
    assert list(first.condensation.forgotten_event_ids) == [f"ev-{s}" for s in range(3, 25)]
    stored = await stored_condensations(memory, cid)
    assert [e.condensation for e in stored] == [first.condensation]
    # Nothing new: the stored condensation is replayed, no new one is made.
    again = await memory.context("acme", cid, spec, 0)
    assert again.condensation is None
    assert list(again.messages) == list(first.messages)
    assert again.forgotten_event_count == 22
    # Growing past max_events again condenses again, from the condensed view.
    await memory.append("acme", cid, steps(10, 4))
    third = await memory.context("acme", cid, spec, 0)
    assert third.condensation is not None
    assert third.event_count <= 20
    assert len(await stored_condensations(memory, cid)) == 2


async def test_replay_after_a_restart_gives_the_same_context(
    memory: Memory, dsn: str, count_tokens
) -> None:
    cid = await trajectory(memory, 12)
    spec = condenser(
        "pipeline",
        condenser("amortized_forgetting", keep_first=2, max_events=16),
        condenser("observation_masking", attention_window=4),
    )
    before = await memory.context("acme", cid, spec, 0)
    assert before.condensation is not None
    await memory.append("acme", cid, steps(12, 1))
    expected = await memory.context("acme", cid, spec, 0)
    restarted = Memory(open_store(dsn), count_tokens)
    try:
        replayed = await restarted.context("acme", cid, spec, 0)
    finally:
        await restarted.close()
    assert list(replayed.messages) == list(expected.messages)
    assert replayed.forgotten_event_count == expected.forgotten_event_count


async def test_pipeline_masks_then_trims(memory: Memory) -> None:
    cid = await trajectory(memory, 8)
    spec = condenser(
        "pipeline",
        condenser("observation_masking", attention_window=3),
        condenser("recent", keep_first=2, max_events=9),
    )
    context = await memory.context("acme", cid, spec, 0)
    assert context.event_count == 9
    text = [m.content for m in context.messages]
    assert f"Observation:\n{MASKED}" in text
    assert text[-1].startswith("Observation:\n14")


@pytest.mark.parametrize("budget", [60, 150, 400])
async def test_budget_keeps_the_system_prompt_and_the_last_message(
    memory: Memory, budget: int
) -> None:
    cid = await trajectory(memory, 10)
    context = await memory.context("acme", cid, condenser("noop"), budget)
    assert context.token_count <= budget
    assert context.token_count == sum(memory._tokens(m) for m in context.messages)
    assert context.messages[0].role == common_pb2.ROLE_SYSTEM
    assert context.messages[-1].content.startswith("Observation:\n18")
    assert context.forgotten_event_count > 0


async def test_budget_never_orphans_a_tool_result(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    batch = [events.system("sys")]
    for i in range(6):
        batch += [
            events.python(f"print({i})", tool_call_id=f"c{i}"),
            events.observation(f"{i} " * 40, tool_call_id=f"c{i}"),
        ]
    await memory.append("acme", conversation.id, batch)
    full = await memory.context("acme", conversation.id, condenser("noop"), 0)
    for budget in range(20, full.token_count, 17):
        context = await memory.context("acme", conversation.id, condenser("noop"), budget)
        calls = {c.id for m in context.messages for c in m.tool_calls}
        answered = [m.tool_call_id for m in context.messages if m.role == common_pb2.ROLE_TOOL]
        assert set(answered) <= calls, budget


@pytest.mark.parametrize(
    ("spec", "field", "reason"),
    [
        (unknown_condenser(42), "condenser.type", "UNKNOWN_CONDENSER"),
        (
            condenser("recent", keep_first=3, max_events=4),
            "condenser.max_events",
            "INVALID_CONDENSER",
        ),
        (
            condenser("recent", keep_first=-1, max_events=4),
            "condenser.keep_first",
            "INVALID_CONDENSER",
        ),
        (condenser("observation_masking"), "condenser.attention_window", "INVALID_CONDENSER"),
        (condenser("pipeline"), "condenser.steps", "INVALID_CONDENSER"),
        (
            condenser("pipeline", condenser("noop"), unknown_condenser(77)),
            "condenser.steps[1].type",
            "UNKNOWN_CONDENSER",
        ),
        (
            condenser(
                "pipeline",
                condenser(
                    "pipeline",
                    condenser(
                        "pipeline", condenser("pipeline", condenser("pipeline", condenser("noop")))
                    ),
                ),
            ),
            "condenser.steps[0].steps[0].steps[0].steps[0].steps",
            "INVALID_CONDENSER",
        ),
        (condenser("llm_summarizing", max_events=10), "condenser", "UNKNOWN_CONDENSER"),
    ],
)
async def test_bad_condenser_specs_name_the_field(
    memory: Memory, spec: memory_pb2.CondenserSpec, field: str, reason: str
) -> None:
    cid = await trajectory(memory, 1)
    with pytest.raises(InvalidArgument) as err:
        await memory.context("acme", cid, spec, 0)
    assert err.value.reason == reason
    assert [v.field for v in err.value.field_violations] == [field]


async def test_negative_budget_is_invalid(memory: Memory) -> None:
    cid = await trajectory(memory, 1)
    with pytest.raises(InvalidArgument) as err:
        await memory.context("acme", cid, None, -1)
    assert err.value.reason == "INVALID_BUDGET"

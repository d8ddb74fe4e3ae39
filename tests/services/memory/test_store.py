"""Conversations and events through the memory core, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import pytest

from codeact import events
from codeact.errors import InvalidArgument, NotFound, Unavailable
from codeact.v1 import events_pb2
from services.memory.core import Memory
from services.memory.store import open_store
from tests.postgres import TempPostgres, binaries


async def test_conversations_belong_to_their_tenant(memory: Memory) -> None:
    mine = await memory.create_conversation("acme", {"task": "plot"}, None)
    assert (await memory.get_conversation("acme", mine.id)).labels == {"task": "plot"}
    with pytest.raises(NotFound) as err:
        await memory.get_conversation("globex", mine.id)
    assert err.value.reason == "CONVERSATION_NOT_FOUND"
    with pytest.raises(NotFound):
        await memory.append("globex", mine.id, [events.user("hijack")])
    with pytest.raises(NotFound):
        await memory.delete_conversation("globex", mine.id)
    assert await memory.list_conversations("globex", 0, 10) == []
    assert [c.id for c in await memory.list_conversations("acme", 0, 10)] == [mine.id]


async def test_list_conversations_pages_in_creation_order(memory: Memory) -> None:
    made = [(await memory.create_conversation("acme", {}, None)).id for _ in range(5)]
    first = await memory.list_conversations("acme", 0, 2)
    rest = await memory.list_conversations("acme", 2, 10)
    assert [c.id for c in first + rest] == made


async def test_append_assigns_ids_sequences_times_and_tokens(memory: Memory, count_tokens) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    before = time.time()
    stored = await memory.append(
        "acme",
        conversation.id,
        [
            events.system("You are a careful agent."),
            events.user("Sum 1..10"),
            events.python("sum(range(11))"),
        ],
    )
    assert [e.sequence for e in stored] == [1, 2, 3]
    assert [e.id for e in stored] == ["ev-1", "ev-2", "ev-3"]
    assert all(e.conversation_id == conversation.id for e in stored)
    assert all(e.create_time.ToNanoseconds() >= int(before * 1e9) - 1e6 for e in stored)
    assert stored[1].token_count == count_tokens("Sum 1..10")
    assert stored[2].token_count == count_tokens("```python\nsum(range(11))\n```")
    row = await memory.get_conversation("acme", conversation.id)
    assert row.event_count == 3
    assert row.token_count == sum(e.token_count for e in stored)


async def test_a_retried_append_never_duplicates(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    first = await memory.append("acme", conversation.id, [events.user("hi", key="k1")])
    again = await memory.append(
        "acme", conversation.id, [events.user("hi", key="k1"), events.thought("hmm", key="k2")]
    )
    assert again[0] == first[0]
    assert again[1].sequence == 2
    # A key repeated inside one batch is stored once, too.
    batch = await memory.append(
        "acme", conversation.id, [events.user("a", key="k3"), events.user("b", key="k3")]
    )
    assert batch[0] == batch[1]
    listed = await memory.list_events("acme", conversation.id, 0, 100, [])
    assert [e.idempotency_key for e in listed] == ["k1", "k2", "k3"]
    assert (await memory.get_conversation("acme", conversation.id)).event_count == 3


async def test_keys_are_per_conversation(memory: Memory) -> None:
    one = await memory.create_conversation("acme", {}, None)
    two = await memory.create_conversation("acme", {}, None)
    a = await memory.append("acme", one.id, [events.user("x", key="same")])
    b = await memory.append("acme", two.id, [events.user("y", key="same")])
    assert a[0].conversation_id != b[0].conversation_id
    assert b[0].user_message.text == "y"


async def test_concurrent_appends_get_distinct_contiguous_sequences(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)

    async def writer(w: int) -> None:
        for i in range(20):
            await memory.append(
                "acme", conversation.id, [events.thought(f"{w}-{i}", key=f"{w}-{i}")]
            )

    await asyncio.gather(*(writer(w) for w in range(6)))
    listed = await memory.list_events("acme", conversation.id, 0, 1000, [])
    assert [e.sequence for e in listed] == list(range(1, 121))
    assert len({e.idempotency_key for e in listed}) == 120


async def test_bad_events_are_refused_and_nothing_is_stored(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    cases = [
        ([], "INVALID_ARGUMENT"),
        ([events.user("ok"), events_pb2.Event()], "INVALID_EVENT"),
        ([events.user("ok"), events.observation("x" * 70_000)], "EVENT_TOO_LARGE"),
        ([events.user("ok", key="k" * 200)], "INVALID_ARGUMENT"),
    ]
    for batch, reason in cases:
        with pytest.raises(InvalidArgument) as err:
            await memory.append("acme", conversation.id, batch)
        assert err.value.reason == reason
    assert await memory.list_events("acme", conversation.id, 0, 10, []) == []
    with pytest.raises(NotFound):
        await memory.append("acme", "conv-missing", [events.user("x")])


async def test_list_events_pages_and_filters_by_type(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    batch = []
    for i in range(10):
        batch += [events.python(f"x = {i}"), events.observation(f"out {i}")]
    await memory.append("acme", conversation.id, batch)
    page = await memory.list_events("acme", conversation.id, 0, 4, [])
    assert [e.sequence for e in page] == [1, 2, 3, 4]
    page = await memory.list_events("acme", conversation.id, 4, 4, [])
    assert [e.sequence for e in page] == [5, 6, 7, 8]
    observations = await memory.list_events(
        "acme", conversation.id, 0, 100, [events_pb2.EVENT_TYPE_OBSERVATION]
    )
    assert [e.observation.content for e in observations] == [f"out {i}" for i in range(10)]
    with pytest.raises(InvalidArgument):
        await memory.list_events("acme", conversation.id, 0, 10, [99])


async def test_delete_removes_the_events(memory: Memory) -> None:
    conversation = await memory.create_conversation("acme", {}, None)
    await memory.append("acme", conversation.id, [events.user("x", key="k")])
    await memory.delete_conversation("acme", conversation.id)
    with pytest.raises(NotFound):
        await memory.list_events("acme", conversation.id, 0, 10, [])
    assert await memory._run(memory.store.payloads, conversation.id, [1]) == {}


async def test_retention_is_sliding_from_the_last_append(memory: Memory) -> None:
    short = await memory.create_conversation("acme", {}, 100.0)
    forever = await memory.create_conversation("acme", {}, 0.0)
    assert short.expires is not None
    assert forever.expires is None
    later = short.created + 60
    await memory._run(memory.store.append, "acme", short.id, [], later)
    assert await memory._run(memory.store.expire, short.created + 120) == 0
    assert await memory._run(memory.store.expire, later + 101) == 1
    with pytest.raises(NotFound):
        await memory.get_conversation("acme", short.id)
    assert (await memory.get_conversation("acme", forever.id)).id == forever.id
    with pytest.raises(InvalidArgument):
        await memory.create_conversation("acme", {}, -1.0)


async def test_a_database_outage_is_unavailable_then_heals(count_tokens) -> None:
    bindir = binaries()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed")
    server = TempPostgres(bindir).start()
    memory = Memory(open_store(server.dsn), count_tokens)
    try:
        conversation = await memory.create_conversation("acme", {}, None)
        await memory.append("acme", conversation.id, [events.user("before", key="a")])
        # Every worker thread holds a connection that the outage will leave stale.
        await asyncio.gather(
            *(memory.list_events("acme", conversation.id, 0, 10, []) for _ in range(16))
        )
        server.halt()
        with pytest.raises(Unavailable) as err:
            await memory.append("acme", conversation.id, [events.user("during", key="b")])
        assert err.value.reason == "STORAGE_UNAVAILABLE"
        server.resume()
        # The client retries with the same key once the database is back, and
        # no call meets a connection left stale by the restart.
        for _ in range(3):
            await asyncio.gather(
                *(
                    memory.append("acme", conversation.id, [events.user("during", key="b")])
                    for _ in range(8)
                )
            )
        listed = await memory.list_events("acme", conversation.id, 0, 10, [])
        assert [e.user_message.text for e in listed] == ["before", "during"]
    finally:
        await memory.close()
        server.stop()

"""MemoryService over gRPC: tenants, bad input, paging, TTL, LLM summaries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from codeact import Client, condenser, events
from codeact.errors import CodeActError, NotFound
from codeact.status import from_rpc_error
from codeact.v1 import events_pb2, memory_pb2, memory_pb2_grpc
from services.memory.__main__ import build_service
from services.memory.settings import MemorySettings
from tests.llm_stub import LLMStub, Reply
from tests.services.memory.conftest import unknown_condenser
from tests.support import INLINE_KEYS, KEYS, ServerThread


def memory_settings(tmp_path: Path, **changes: object) -> MemorySettings:
    fields: dict[str, object] = {
        "api_keys": INLINE_KEYS,
        "metrics_port": -1,
        "log_level": "warning",
        "dsn": f"sqlite://{tmp_path / 'memory.db'}",
        "max_event_bytes": 32 * 1024,
        "planner_target": "",
        "retention_interval": 0.1,
    }
    return MemorySettings(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    thread = ServerThread(memory_settings(tmp_path), build_service).start()
    yield thread
    thread.stop()


@pytest.fixture
def acme(server: ServerThread) -> Iterator[Client]:
    with Client(server.address, token=KEYS["acme"]) as client:
        yield client


@pytest.fixture
def globex(server: ServerThread) -> Iterator[Client]:
    with Client(server.address, token=KEYS["globex"]) as client:
        yield client


def test_a_conversation_round_trip(acme: Client) -> None:
    conversation = acme.memory.create_conversation({"task": "demo"})
    assert conversation.id.startswith("conv-")
    assert conversation.HasField("expire_time")
    stored = acme.memory.append(
        conversation.id, events.system("sys"), events.user("hello", key="u1")
    )
    assert [e.id for e in stored] == ["ev-1", "ev-2"]
    assert [e.id for e in acme.memory.append(conversation.id, events.user("hello", key="u1"))] == [
        "ev-2"
    ]
    fetched = acme.memory.get_conversation(conversation.id)
    assert (fetched.event_count, fetched.labels["task"]) == (2, "demo")
    assert fetched.token_count == sum(e.token_count for e in stored)
    context = acme.memory.context(conversation.id)
    assert [m.content for m in context.messages] == ["sys", "hello"]
    acme.memory.delete_conversation(conversation.id)
    with pytest.raises(CodeActError) as err:
        acme.memory.get_conversation(conversation.id)
    assert err.value.code == "NOT_FOUND"


def test_another_tenants_conversation_is_not_found(acme: Client, globex: Client) -> None:
    conversation = acme.memory.create_conversation()
    acme.memory.append(conversation.id, events.user("secret"))
    calls: list[Callable[[], object]] = [
        lambda: globex.memory.get_conversation(conversation.id),
        lambda: globex.memory.append(conversation.id, events.user("x")),
        lambda: list(globex.memory.events(conversation.id)),
        lambda: globex.memory.context(conversation.id),
        lambda: globex.memory.delete_conversation(conversation.id),
        lambda: acme.memory.get_conversation("conv-does-not-exist"),
    ]
    for call in calls:
        with pytest.raises(CodeActError) as err:
            call()
        assert (err.value.code, err.value.reason) == ("NOT_FOUND", "CONVERSATION_NOT_FOUND")
    assert list(globex.memory.conversations()) == []
    assert [e.user_message.text for e in acme.memory.events(conversation.id)] == ["secret"]


@pytest.mark.parametrize(
    ("call", "reason", "field"),
    [
        (
            lambda m, c: m.append(c, events.observation("x" * 40_000)),
            "EVENT_TOO_LARGE",
            "events[0]",
        ),
        (lambda m, c: m.append(c, events_pb2.Event()), "INVALID_EVENT", "events[0].payload"),
        (lambda m, c: m.append(c), "INVALID_ARGUMENT", "events"),
        (
            lambda m, c: m.context(c, unknown_condenser(42)),
            "UNKNOWN_CONDENSER",
            "condenser.type",
        ),
        (
            lambda m, c: m.context(c, condenser("llm_summarizing", max_events=10)),
            "UNKNOWN_CONDENSER",
            "condenser",
        ),
        (lambda m, c: m.context(c, token_budget=-1), "INVALID_BUDGET", "token_budget"),
        (lambda m, c: list(m.events(c, types=[99])), "INVALID_ARGUMENT", "types[0]"),
        (lambda m, c: list(m.events(c, page_size=-1)), "INVALID_ARGUMENT", "page_size"),
        (lambda m, c: m.create_conversation(ttl=-5), "INVALID_ARGUMENT", "ttl"),
        (lambda m, c: m.create_conversation({"": "x"}), "INVALID_ARGUMENT", "labels['']"),
    ],
)
def test_bad_input_is_invalid_argument_and_loses_nothing(
    acme: Client, call, reason: str, field: str
) -> None:
    conversation = acme.memory.create_conversation()
    acme.memory.append(conversation.id, events.user("keep me"))
    with pytest.raises(CodeActError) as err:
        call(acme.memory, conversation.id)
    assert (err.value.code, err.value.reason) == ("INVALID_ARGUMENT", reason)
    assert [v.field for v in err.value.field_violations] == [field]
    assert [e.user_message.text for e in acme.memory.events(conversation.id)] == ["keep me"]


def test_a_bad_page_token_is_invalid(server: ServerThread, acme: Client) -> None:
    conversation = acme.memory.create_conversation()
    stub = memory_pb2_grpc.MemoryServiceStub(acme.channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.ListEvents(
            memory_pb2.ListEventsRequest(conversation_id=conversation.id, page_token="garbage!"),
            metadata=acme.settings.metadata(),
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_unauthenticated_calls_are_refused(server: ServerThread) -> None:
    with Client(server.address) as anonymous, pytest.raises(CodeActError) as err:
        anonymous.memory.create_conversation()
    assert err.value.code == "UNAUTHENTICATED"


def test_events_and_conversations_page(acme: Client) -> None:
    conversation = acme.memory.create_conversation()
    batch = []
    for i in range(25):
        batch += [events.python(f"x = {i}"), events.observation(str(i))]
    acme.memory.append(conversation.id, *batch)
    assert [e.sequence for e in acme.memory.events(conversation.id, page_size=7)] == list(
        range(1, 51)
    )
    observations = acme.memory.events(
        conversation.id, types=[events_pb2.EVENT_TYPE_OBSERVATION], page_size=4
    )
    assert [e.observation.content for e in observations] == [str(i) for i in range(25)]
    made = [acme.memory.create_conversation().id for _ in range(4)]
    assert [c.id for c in acme.memory.conversations(page_size=2)] == [conversation.id, *made]


def test_retention_deletes_idle_conversations(acme: Client) -> None:
    brief = acme.memory.create_conversation(ttl=0.3)
    kept = acme.memory.create_conversation(ttl=0)
    assert not kept.HasField("expire_time")
    acme.memory.append(brief.id, events.user("soon gone"))

    def gone() -> bool:
        try:
            acme.memory.get_conversation(brief.id)
        except NotFound:
            return True
        return False

    deadline = time.monotonic() + 10
    while not gone():
        assert time.monotonic() < deadline, "the conversation outlived its TTL"
        time.sleep(0.1)
    assert acme.memory.get_conversation(kept.id).id == kept.id


# --- LLM summarizing through the planner -----------------------------------------------------


@pytest.fixture
def summarizing(tmp_path: Path, planner: ServerThread) -> Iterator[Client]:
    thread = ServerThread(
        memory_settings(tmp_path, planner_target=planner.address), build_service
    ).start()
    with Client(thread.address, token=KEYS["acme"]) as client:
        yield client
    thread.stop()


def _trajectory(client: Client, steps: int) -> str:
    conversation = client.memory.create_conversation()
    batch = [events.system("You are a CodeAct agent."), events.user("Count the rows of data.csv")]
    for i in range(steps):
        batch += [events.python(f"step_{i}()"), events.observation(f"result {i}")]
    client.memory.append(conversation.id, *batch)
    return conversation.id


def test_llm_summarizing_condenses_through_the_planner(
    summarizing: Client, llm_stub: LLMStub
) -> None:
    cid = _trajectory(summarizing, 10)  # 22 events
    spec = condenser("llm_summarizing", keep_first=2, max_events=12, max_summary_tokens=200)
    llm_stub.script("TASK: count rows\nDONE: steps 0-6")
    first = summarizing.memory.context(cid, spec)
    assert first.condensation.summary == "TASK: count rows\nDONE: steps 0-6"
    assert first.condensation.summary_offset == 2
    assert len(first.condensation.forgotten_event_ids) == 16
    contents = [m.content for m in first.messages]
    assert contents[2] == "Summary of the earlier steps:\nTASK: count rows\nDONE: steps 0-6"
    assert contents[0] == "You are a CodeAct agent."
    assert contents[-1] == "Observation:\nresult 9"
    prompt = llm_stub.requests[0]["body"]["messages"][1]["content"]
    assert "step_0()" in prompt and "result 7" in prompt and "step_8()" not in prompt
    assert llm_stub.requests[0]["body"]["max_tokens"] == 200
    # Stored and replayed: no second model call for the same context.
    again = summarizing.memory.context(cid, spec)
    assert list(again.messages) == list(first.messages)
    assert len(llm_stub.requests) == 1
    stored = list(summarizing.memory.events(cid, types=[events_pb2.EVENT_TYPE_CONDENSATION]))
    assert [e.condensation for e in stored] == [first.condensation]
    # Growing again rolls the summary forward: the old one goes to the model.
    summarizing.memory.append(cid, *[events.python("more()"), events.observation("ok")] * 4)
    llm_stub.script("TASK: count rows\nDONE: steps 0-9")
    third = summarizing.memory.context(cid, spec)
    assert third.condensation.summary == "TASK: count rows\nDONE: steps 0-9"
    assert (
        "PREVIOUS SUMMARY:\nTASK: count rows\nDONE: steps 0-6"
        in llm_stub.requests[1]["body"]["messages"][1]["content"]
    )
    summaries = [m.content for m in third.messages if m.content.startswith("Summary of")]
    assert summaries == ["Summary of the earlier steps:\nTASK: count rows\nDONE: steps 0-9"]


def test_a_failing_model_stores_no_condensation(summarizing: Client, llm_stub: LLMStub) -> None:
    cid = _trajectory(summarizing, 10)
    llm_stub.script(*[Reply(status=500)] * 3)
    spec = condenser("llm_summarizing", keep_first=2, max_events=12)
    with pytest.raises(CodeActError) as err:
        summarizing.memory.context(cid, spec)
    assert (err.value.code, err.value.reason) == ("UNAVAILABLE", "LLM_UNAVAILABLE")
    assert list(summarizing.memory.events(cid, types=[events_pb2.EVENT_TYPE_CONDENSATION])) == []
    assert len(list(summarizing.memory.events(cid))) == 22
    llm_stub.script("recovered")
    assert summarizing.memory.context(cid, spec).condensation.summary == "recovered"


def test_get_context_can_append_first(acme: Client) -> None:
    conversation = acme.memory.create_conversation()
    stub = memory_pb2_grpc.MemoryServiceStub(acme.channel)
    request = memory_pb2.GetContextRequest(
        conversation_id=conversation.id,
        append_events=[events.user("hi", key="a"), events.python("print(1)", key="b")],
    )
    for _ in range(2):  # a retry with the same keys adds nothing
        reply = stub.GetContext(request, metadata=acme.settings.metadata())
    assert [m.content for m in reply.messages] == ["hi", "```python\nprint(1)\n```"]
    assert acme.memory.get_conversation(conversation.id).event_count == 2
    bad = memory_pb2.GetContextRequest(
        conversation_id=conversation.id, append_events=[events_pb2.Event()]
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.GetContext(bad, metadata=acme.settings.metadata())
    error = from_rpc_error(err.value)
    assert (error.reason, [v.field for v in error.field_violations]) == (
        "INVALID_EVENT",
        ["append_events[0].payload"],
    )

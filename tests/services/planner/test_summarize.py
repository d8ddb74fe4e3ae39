"""PlannerService.Summarize against the OpenAI-compatible stub."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from codeact import Client, events
from codeact.errors import CodeActError
from codeact.status import from_rpc_error
from codeact.v1 import common_pb2, executor_pb2, planner_pb2, planner_pb2_grpc
from services.planner import summaries
from tests.llm_stub import LLMStub, Reply
from tests.support import KEYS, ServerThread


@pytest.fixture
def stub(planner: ServerThread) -> Iterator[planner_pb2_grpc.PlannerServiceStub]:
    with Client(planner.address, token=KEYS["acme"]) as client:
        yield planner_pb2_grpc.PlannerServiceStub(client.channel)


def summarize(
    stub: planner_pb2_grpc.PlannerServiceStub,
    request: planner_pb2.SummarizeRequest,
    timeout: float = 30,
) -> planner_pb2.SummarizeResponse:
    try:
        reply: planner_pb2.SummarizeResponse = stub.Summarize(
            request, metadata=(("authorization", f"Bearer {KEYS['acme']}"),), timeout=timeout
        )
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    return reply


def request(**fields: object) -> planner_pb2.SummarizeRequest:
    trajectory = [
        events.user("Find the mean of data.csv"),
        events.python("import pandas as pd\ndf = pd.read_csv('data.csv')"),
        events.observation(
            "FileNotFoundError: data.csv", status=executor_pb2.EXECUTION_STATUS_ERROR
        ),
    ]
    for i, event in enumerate(trajectory):
        event.sequence = i + 1
    return planner_pb2.SummarizeRequest(events=trajectory, **fields)  # type: ignore[arg-type]


def test_summarize_asks_the_model_and_reports_usage(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(
        Reply(
            content="TASK: mean of data.csv\nFAILURES: file missing",
            prompt_tokens=120,
            completion_tokens=15,
        )
    )
    reply = summarize(stub, request(previous_summary="TASK: started", max_summary_tokens=300))
    assert reply.summary == "TASK: mean of data.csv\nFAILURES: file missing"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (
        120,
        15,
        135,
    )
    assert reply.usage.requests == 1
    assert reply.usage.latency.ToNanoseconds() > 0
    body = llm_stub.requests[0]["body"]
    assert llm_stub.requests[0]["path"] == "/v1/chat/completions"
    assert body["model"] == "stub-model"
    assert body["max_tokens"] == 300
    prompt = body["messages"][1]["content"]
    assert "PREVIOUS SUMMARY:\nTASK: started" in prompt
    assert "[3] OBSERVATION: FileNotFoundError: data.csv" in prompt
    assert "[2] ACTION: ```python\nimport pandas as pd" in prompt


def test_model_settings_are_passed_through(stub, llm_stub: LLMStub) -> None:
    llm_stub.script("summary")
    model = common_pb2.ModelSettings(
        model="big", temperature=0.2, top_p=0.9, seed=7, stop=["END"], max_tokens=50
    )
    summarize(stub, request(model=model, max_summary_tokens=400))
    body = llm_stub.requests[0]["body"]
    assert (body["model"], body["temperature"], body["top_p"], body["seed"], body["stop"]) == (
        "big",
        0.2,
        0.9,
        7,
        ["END"],
    )
    assert body["max_tokens"] == 50


def test_transient_failures_are_retried_and_counted(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(Reply(status=503), Reply(status=429), "third time")
    reply = summarize(stub, request())
    assert reply.summary == "third time"
    assert reply.usage.requests == 3
    assert len(llm_stub.requests) == 3


@pytest.mark.parametrize(
    ("replies", "code", "reason", "requests"),
    [
        ([Reply(status=500)] * 3, "UNAVAILABLE", "LLM_UNAVAILABLE", 3),
        ([Reply(status=429)] * 3, "RESOURCE_EXHAUSTED", "LLM_RATE_LIMITED", 3),
        ([Reply(status=401)], "FAILED_PRECONDITION", "LLM_AUTH_FAILED", 1),
        ([Reply(status=404)], "FAILED_PRECONDITION", "LLM_MODEL_NOT_FOUND", 1),
        ([Reply(status=400)], "FAILED_PRECONDITION", "LLM_REQUEST_REJECTED", 1),
        ([Reply(raw=b"{not json")], "UNAVAILABLE", "LLM_BAD_RESPONSE", 1),
        ([Reply(raw=b'{"id": "x", "choices": []}')], "UNAVAILABLE", "LLM_BAD_RESPONSE", 1),
        ([Reply(content="   ")], "UNAVAILABLE", "LLM_EMPTY_REPLY", 1),
        ([Reply(delay=6.0)] * 3, "DEADLINE_EXCEEDED", "LLM_TIMEOUT", 1),
    ],
)
def test_model_failures_become_clear_errors(
    stub, llm_stub: LLMStub, replies: list[Reply], code: str, reason: str, requests: int
) -> None:
    llm_stub.script(*replies)
    timeout = common_pb2.ModelSettings()
    timeout.timeout.FromSeconds(1)
    with pytest.raises(CodeActError) as err:
        summarize(stub, request(model=timeout), timeout=2.5 if reason == "LLM_TIMEOUT" else 30)
    assert (err.value.code, err.value.reason) == (code, reason)
    assert len(llm_stub.requests) == requests


def test_an_unreachable_endpoint_is_unavailable(
    planner: ServerThread, stub, llm_stub: LLMStub
) -> None:
    llm_stub.stop()
    with pytest.raises(CodeActError) as err:
        summarize(stub, request())
    assert (err.value.code, err.value.reason) == ("UNAVAILABLE", "LLM_UNREACHABLE")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"events": []}, "events"),
        ({"max_summary_tokens": -1}, "max_summary_tokens"),
        ({"model": common_pb2.ModelSettings(temperature=3.0)}, "model.temperature"),
        ({"model": common_pb2.ModelSettings(top_p=0.0)}, "model.top_p"),
        ({"model": common_pb2.ModelSettings(max_tokens=-5)}, "model.max_tokens"),
        ({"model": common_pb2.ModelSettings(stop=["a", "b", "c", "d", "e"])}, "model.stop"),
    ],
)
def test_bad_requests_are_invalid_argument(
    stub, llm_stub: LLMStub, fields: dict[str, object], field: str
) -> None:
    req = request()
    if "events" in fields:
        del req.events[:]
    else:
        req = request(**fields)
    with pytest.raises(CodeActError) as err:
        summarize(stub, req)
    assert err.value.code == "INVALID_ARGUMENT"
    assert [v.field for v in err.value.field_violations] == [field]
    assert llm_stub.requests == []


def test_long_transcripts_are_clipped_at_both_ends() -> None:
    long = events.observation("head " + "x" * 10_000 + " tail")
    text = summaries.transcript([events.user("task"), long], event_chars=200, total_chars=100_000)
    assert "[2] OBSERVATION: head " in text
    assert text.endswith(" tail")
    assert "characters omitted" in text
    assert len(text) < 400
    capped = summaries.transcript(
        [events.user("y" * 500)] * 100, event_chars=1000, total_chars=5000
    )
    assert len(capped) < 5100

"""PlannerService.NextAction and StreamNextAction against the stub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from codeact.errors import CodeActError
from codeact.status import from_rpc_error
from codeact.v1 import common_pb2, events_pb2, executor_pb2, planner_pb2, planner_pb2_grpc
from services.planner.__main__ import build_service
from services.planner.settings import PlannerSettings
from tests.llm_stub import LLMStub, Reply
from tests.support import INLINE_KEYS, KEYS, ServerThread

AUTH = (("authorization", f"Bearer {KEYS['acme']}"),)
GLOBEX = (("authorization", f"Bearer {KEYS['globex']}"),)


@pytest.fixture
def stub(planner: ServerThread) -> Iterator[planner_pb2_grpc.PlannerServiceStub]:
    with grpc.insecure_channel(planner.address) as channel:
        yield planner_pb2_grpc.PlannerServiceStub(channel)


def user(text: str) -> common_pb2.Message:
    return common_pb2.Message(role=common_pb2.ROLE_USER, content=text)


def next_action(
    stub: planner_pb2_grpc.PlannerServiceStub, metadata=AUTH, **fields: Any
) -> planner_pb2.ActionDecision:
    fields.setdefault("messages", [user("Sum 1..10")])
    try:
        reply: planner_pb2.NextActionResponse = stub.NextAction(
            planner_pb2.NextActionRequest(**fields), metadata=metadata, timeout=30
        )
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None
    return reply.decision


def test_tool_calling_mode(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(
        Reply(
            content="I will sum with Python.",
            tool_calls=[
                {
                    "id": "call_9",
                    "name": "execute_python",
                    "arguments": {"code": "print(sum(range(11)))"},
                }
            ],
        )
    )
    prompt = planner_pb2.PromptOptions(
        task="Sum 1..10",
        available_packages=[executor_pb2.Package(name="numpy", version="2.1.0", modules=["numpy"])],
        allowed_imports=["math", "numpy"],
    )
    decision = next_action(stub, prompt=prompt)
    action = decision.action
    assert (action.action.tool, action.action.code) == (
        events_pb2.TOOL_EXECUTE_PYTHON,
        "print(sum(range(11)))",
    )
    assert action.action.tool_call_id == "call_9"
    assert action.thought == "I will sum with Python."
    assert [c.id for c in decision.assistant_message.tool_calls] == ["call_9"]
    assert decision.usage.total_tokens == 18
    assert decision.model == "stub-model"
    body = llm_stub.requests[0]["body"]
    assert [t["function"]["name"] for t in body["tools"]] == [
        "execute_python",
        "execute_bash",
        "edit_file",
        "think",
        "finish",
    ]
    system = body["messages"][0]
    assert system["role"] == "system"
    assert "numpy 2.1.0" in system["content"]
    assert (
        "Only these modules may be imported (with their submodules): math, numpy."
        in system["content"]
    )
    assert body["messages"][1] == {"role": "user", "content": "Sum 1..10"}


def test_offered_tools_are_what_the_request_says_plus_finish(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(Reply(tool_calls=[{"name": "execute_bash", "arguments": {"command": "ls"}}]))
    decision = next_action(stub, tools=[events_pb2.TOOL_EXECUTE_PYTHON])
    assert [t["function"]["name"] for t in llm_stub.requests[0]["body"]["tools"]] == [
        "execute_python",
        "finish",
    ]
    assert "not enabled" in decision.parse_failure.reason
    assert "execute_python, finish" in decision.parse_failure.format_hint


def test_text_mode_sends_no_tools_and_reads_code_blocks(stub, llm_stub: LLMStub) -> None:
    llm_stub.script("Let me check.\n```python\nprint('ok')\n```")
    history = [
        user("Task"),
        common_pb2.Message(
            role=common_pb2.ROLE_ASSISTANT,
            content="Step one.",
            tool_calls=[
                common_pb2.ToolCall(
                    id="c1", name="execute_python", arguments_json='{"code": "x = 1"}'
                )
            ],
        ),
        common_pb2.Message(role=common_pb2.ROLE_TOOL, content="", tool_call_id="c1"),
    ]
    decision = next_action(
        stub, messages=history, model=common_pb2.ModelSettings(mode=common_pb2.ACTION_MODE_TEXT)
    )
    assert decision.action.action.code == "print('ok')"
    body = llm_stub.requests[0]["body"]
    assert "tools" not in body
    assert "<finish>" in body["messages"][0]["content"]
    # Tool calls in the history are shown as code, their results as observations.
    assert body["messages"][2] == {
        "role": "assistant",
        "content": "Step one.\n\n<code>\nx = 1\n</code>",
    }
    assert body["messages"][3] == {"role": "user", "content": "Observation:\n"}


def test_a_parse_failure_comes_with_a_format_hint(stub, llm_stub: LLMStub) -> None:
    llm_stub.script("I believe the answer is 55.")
    decision = next_action(stub, model=common_pb2.ModelSettings(mode=common_pb2.ACTION_MODE_TEXT))
    assert not decision.HasField("action")
    assert decision.parse_failure.reason == "it has no code block and no <finish> tag"
    assert decision.parse_failure.reason in decision.parse_failure.format_hint
    assert "<finish>" in decision.parse_failure.format_hint
    assert decision.assistant_message.content == "I believe the answer is 55."


def test_prompt_extensions_follow_trigger_words(stub, llm_stub: LLMStub) -> None:
    llm_stub.script("<finish>a</finish>", "<finish>b</finish>", "<finish>c</finish>")
    text = common_pb2.ModelSettings(mode=common_pb2.ACTION_MODE_TEXT)
    on = planner_pb2.PromptOptions(task="Plot a chart of sales", enable_prompt_extensions=True)
    off = planner_pb2.PromptOptions(
        task="Plot a chart of sales",
        enable_prompt_extensions=True,
        disabled_prompt_extensions=["plotting"],
    )
    unrelated = planner_pb2.PromptOptions(task="Sum numbers", enable_prompt_extensions=True)
    for prompt in (on, off, unrelated):
        next_action(stub, prompt=prompt, model=text)
    systems = [r["body"]["messages"][0]["content"] for r in llm_stub.requests]
    assert "plt.show()" in systems[0]
    assert "plt.show()" not in systems[1]
    assert "plt.show()" not in systems[2]


def test_streaming_delivers_text_then_the_decision(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(
        Reply(
            content="Computing the sum now",
            tool_calls=[{"id": "c7", "name": "execute_python", "arguments": {"code": "print(55)"}}],
        )
    )
    replies = list(
        stub.StreamNextAction(
            planner_pb2.StreamNextActionRequest(messages=[user("Sum")]), metadata=AUTH, timeout=30
        )
    )
    deltas = [r.content_delta for r in replies if r.WhichOneof("event") == "content_delta"]
    assert len(deltas) >= 4
    assert "".join(deltas) == "Computing the sum now"
    assert replies[-1].WhichOneof("event") == "decision"
    decision = replies[-1].decision
    assert (decision.action.action.code, decision.action.action.tool_call_id) == ("print(55)", "c7")
    assert decision.usage.total_tokens == 18
    assert llm_stub.requests[0]["body"]["stream"] is True


def test_a_truncated_stream_is_an_error_not_a_decision(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(Reply(content="one two three four five", truncate_after=3))
    with pytest.raises(grpc.RpcError) as err:
        list(
            stub.StreamNextAction(
                planner_pb2.StreamNextActionRequest(messages=[user("x")]), metadata=AUTH, timeout=30
            )
        )
    error = from_rpc_error(err.value)
    assert (error.code, error.reason) == ("UNAVAILABLE", "LLM_BAD_RESPONSE")


def test_a_context_overflow_is_named(stub, llm_stub: LLMStub) -> None:
    llm_stub.script(
        Reply(
            status=400,
            error_message="This model's maximum context length is 8192 tokens. "
            "However, you requested 9000 tokens.",
        )
    )
    with pytest.raises(CodeActError) as err:
        next_action(stub)
    assert (err.value.code, err.value.reason) == ("FAILED_PRECONDITION", "LLM_CONTEXT_OVERFLOW")
    assert "8192" in err.value.message


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [common_pb2.Message(content="x")]}, "messages[0].role"),
        (
            {"messages": [common_pb2.Message(role=common_pb2.ROLE_TOOL, content="x")]},
            "messages[0].tool_call_id",
        ),
        ({"tools": [42]}, "tools[0]"),
        ({"model": common_pb2.ModelSettings(temperature=-1)}, "model.temperature"),
    ],
)
def test_bad_requests_name_the_field(
    stub, llm_stub: LLMStub, fields: dict[str, object], field: str
) -> None:
    with pytest.raises(CodeActError) as err:
        next_action(stub, **fields)
    assert err.value.code == "INVALID_ARGUMENT"
    assert [v.field for v in err.value.field_violations] == [field]
    assert llm_stub.requests == []


def test_no_endpoint_is_a_failed_precondition_naming_the_settings() -> None:
    server = ServerThread(
        PlannerSettings(api_keys=INLINE_KEYS, metrics_port=-1), build_service
    ).start()
    try:
        with grpc.insecure_channel(server.address) as channel, pytest.raises(CodeActError) as err:
            next_action(planner_pb2_grpc.PlannerServiceStub(channel))
    finally:
        server.stop()
    assert (err.value.code, err.value.reason) == ("FAILED_PRECONDITION", "LLM_NOT_CONFIGURED")
    assert "CODEACT_PLANNER_LLM_BASE_URL" in err.value.message


def test_a_tenant_can_have_its_own_endpoint_model_and_mode(
    tmp_path: Path, llm_stub: LLMStub
) -> None:
    own = LLMStub().start()
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        f'[tenants.globex.model]\nbase_url = "{own.base_url}"\nmodel = "globex-llm"\n'
        'mode = "text"\napi_key_env = "GLOBEX_TEST_KEY"\n'
    )
    settings = PlannerSettings(
        api_keys=INLINE_KEYS, metrics_port=-1, tenants_file=str(tenants),
        llm_base_url=llm_stub.base_url, llm_model="shared", llm_api_key="shared-key",
    )  # fmt: skip
    server = ServerThread(settings, build_service).start()
    llm_stub.script(Reply(tool_calls=[{"name": "finish", "arguments": {"answer": "a"}}]))
    own.script("<finish>g</finish>")
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = planner_pb2_grpc.PlannerServiceStub(channel)
            assert next_action(stub).action.answer == "a"
            assert next_action(stub, metadata=GLOBEX).action.answer == "g"
    finally:
        server.stop()
        own.stop()
    assert llm_stub.requests[0]["body"]["model"] == "shared"
    assert {k.lower(): v for k, v in llm_stub.requests[0]["headers"].items()}[
        "authorization"
    ] == "Bearer shared-key"
    assert own.requests[0]["body"]["model"] == "globex-llm"
    assert "tools" not in own.requests[0]["body"]
    assert len(llm_stub.requests) == 1

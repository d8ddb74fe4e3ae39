"""AgentService: sessions, bad input, tenants, the editor tool, no endpoint."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from codeact import Client, condenser
from codeact.errors import CodeActError
from codeact.v1 import agent_pb2, common_pb2, events_pb2
from services.agent.__main__ import build_service as build_agent
from services.agent.settings import AgentSettings
from services.planner.__main__ import build_service as build_planner
from services.planner.settings import PlannerSettings
from tests.llm_stub import LLMStub, Reply
from tests.services.agent.scenarios import call, finish, py, run
from tests.services.memory.conftest import unknown_condenser
from tests.stack import COMMON, Stack
from tests.support import KEYS, ServerThread


def executor_sessions(stack: Stack, tenant: str = "acme") -> set[str]:
    with Client(stack.executor.address, token=KEYS[tenant]) as client:
        return {s.id for s in client.executor.list_sessions()}


@pytest.mark.parametrize(
    ("profile_name", "profile", "code", "reason", "field"),
    [
        ("nope", None, "NOT_FOUND", "AGENT_PROFILE_NOT_FOUND", None),
        (
            "",
            agent_pb2.AgentProfile(enable_browsing=True),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "profile.enable_browsing",
        ),
        (
            "",
            agent_pb2.AgentProfile(max_iterations=-1),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "profile.max_iterations",
        ),
        (
            "",
            agent_pb2.AgentProfile(token_budget=-5),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "profile.token_budget",
        ),
        (
            "",
            agent_pb2.AgentProfile(enable_python=False, enable_bash=False),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "profile.enable_python",
        ),
        (
            "",
            agent_pb2.AgentProfile(allowed_imports=["os;rm"]),
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
            "profile.allowed_imports[0]",
        ),
        (
            "",
            agent_pb2.AgentProfile(policy_profile="no-such-policy"),
            "NOT_FOUND",
            "PROFILE_NOT_FOUND",
            None,
        ),
        (
            "",
            agent_pb2.AgentProfile(condenser=unknown_condenser(42)),
            "INVALID_ARGUMENT",
            "UNKNOWN_CONDENSER",
            "profile.condenser.type",
        ),
        (
            "",
            agent_pb2.AgentProfile(condenser=condenser("recent", keep_first=5, max_events=3)),
            "INVALID_ARGUMENT",
            "INVALID_CONDENSER",
            "profile.condenser.max_events",
        ),
    ],
)
def test_bad_profiles_are_refused_and_leave_nothing(
    stack: Stack,
    acme: Client,
    profile_name: str,
    profile: Any,
    code: str,
    reason: str,
    field: str | None,
) -> None:
    before = executor_sessions(stack)
    with pytest.raises(CodeActError) as err:
        acme.agent.create_session(profile_name, profile)
    assert (err.value.code, err.value.reason) == (code, reason)
    if field is not None:
        assert [v.field for v in err.value.field_violations] == [field]
    assert executor_sessions(stack) == before
    assert list(acme.agent.sessions()) == []


def test_limits_above_the_ceiling_are_refused(acme: Client) -> None:
    huge = agent_pb2.AgentProfile(sandbox_limits=common_pb2.SandboxLimits(memory_bytes=1 << 50))
    with pytest.raises(CodeActError) as err:
        acme.agent.create_session(profile=huge)
    assert err.value.code == "RESOURCE_EXHAUSTED"


def test_a_session_ties_a_sandbox_and_a_conversation(
    stack: Stack, acme: Client, llm: LLMStub
) -> None:
    agent = acme.agent.create_session("strict", agent_pb2.AgentProfile(max_iterations=7))
    info = agent.info
    assert info.profile.name == "strict"
    assert info.profile.max_iterations == 7
    assert info.profile.policy_profile == "strict"  # from the named profile
    assert info.state == agent_pb2.AGENT_SESSION_STATE_IDLE
    assert info.executor_session_id in executor_sessions(stack)
    with Client(stack.memory.address, token=KEYS["acme"]) as memory_client:
        assert (
            memory_client.memory.get_conversation(info.conversation_id).labels["agent_session"]
            == info.id
        )
        assert [s.id for s in acme.agent.sessions()] == [info.id]
        agent.delete()
        assert info.executor_session_id not in executor_sessions(stack)
        with pytest.raises(CodeActError):
            memory_client.memory.get_conversation(info.conversation_id)
    assert list(acme.agent.sessions()) == []


def test_another_tenants_session_is_not_found(stack: Stack, acme: Client) -> None:
    with acme.agent.create_session() as agent, stack.client("globex") as globex:
        calls: list[Callable[[], object]] = [
            lambda: globex.agent.get_session(agent.id),
            lambda: list(globex.agent.run(agent.id, "steal")),
            lambda: globex.agent.cancel(agent.id),
            lambda: globex.agent.delete_session(agent.id),
            lambda: acme.agent.get_session("agent-missing"),
        ]
        for bad in calls:
            with pytest.raises(CodeActError) as err:
                bad()
            assert (err.value.code, err.value.reason) == ("NOT_FOUND", "AGENT_SESSION_NOT_FOUND")
        assert list(globex.agent.sessions()) == []
        assert acme.agent.get_session(agent.id).id == agent.id


def test_bad_tasks_and_a_second_task_at_once(acme: Client, llm: LLMStub) -> None:
    with acme.agent.create_session() as agent:
        with pytest.raises(CodeActError) as err:
            list(agent.run("   "))
        assert err.value.code == "INVALID_ARGUMENT"
        llm.script(py("import time\ntime.sleep(3)"), finish("slept"))
        events = agent.run("Sleep.")
        first = next(events)
        assert agent.refresh().state == agent_pb2.AGENT_SESSION_STATE_RUNNING
        with pytest.raises(CodeActError) as busy:
            list(agent.run("Another."))
        assert (busy.value.code, busy.value.reason) == ("FAILED_PRECONDITION", "TASK_RUNNING")
        rest = [first, *events]
        assert rest[-1].end.outcome == agent_pb2.TASK_OUTCOME_FINISHED
        assert agent.refresh().state == agent_pb2.AGENT_SESSION_STATE_IDLE
        assert agent.cancel() is False


def test_deleting_a_session_stops_its_task(stack: Stack, acme: Client, llm: LLMStub) -> None:
    llm.script(py("import time\ntime.sleep(60)"))
    agent = acme.agent.create_session()
    sandbox = agent.info.executor_session_id
    events = agent.run("Sleep long.")
    kinds = []
    deleter = threading.Timer(0.2, agent.delete)
    for event in events:
        kinds.append(event.WhichOneof("event"))
        if kinds[-1] == "code":
            deleter.start()
        if kinds[-1] == "end":
            assert event.end.outcome == agent_pb2.TASK_OUTCOME_CANCELLED
    deleter.join(30)
    assert kinds[-1] == "end"
    assert sandbox not in executor_sessions(stack)


def test_the_agent_session_quota(stack: Stack, llm: LLMStub) -> None:
    with stack.client("globex") as globex:
        made = [globex.agent.create_session() for _ in range(8)]
        try:
            with pytest.raises(CodeActError) as err:
                globex.agent.create_session()
            assert (err.value.code, err.value.reason) == (
                "RESOURCE_EXHAUSTED",
                "AGENT_SESSION_QUOTA_EXCEEDED",
            )
        finally:
            for session in made:
                session.delete()
        globex.agent.create_session().delete()


def test_the_file_editor_tool(acme: Client, llm: LLMStub) -> None:
    def edit(**arguments: Any) -> Reply:
        return call("edit_file", **arguments)

    llm.script(
        edit(command="create", path="app.py", file_text="def greet():\n    return 'hi'\n"),
        edit(command="str_replace", path="app.py", old_str="'hi'", new_str="'hello'"),
        edit(command="insert", path="app.py", insert_line=0, new_str="# greeting module"),
        edit(command="view", path="app.py"),
        edit(command="str_replace", path="app.py", old_str="nothing-like-this", new_str="x"),
        edit(command="create", path="app.py", file_text="again"),
        edit(command="view", path="../etc/passwd"),
        py("import app\nprint(app.greet())"),
        finish("hello"),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "Write a greeting module.")
    seen = result.observations()
    assert seen[0] == "Created app.py (2 lines)."
    assert "'hello'" in seen[1] and seen[1].startswith("Edited app.py.")
    assert (
        seen[3]
        == "app.py:\n     1\t# greeting module\n     2\tdef greet():\n     3\t    return 'hello'"
    )
    assert seen[4] == "edit_file failed: old_str does not appear in app.py"
    assert seen[5].startswith("edit_file failed:") and "exists" in seen[5]
    assert seen[6].startswith("edit_file failed:")
    assert result.output == "hello\n"
    statuses = [o.status for o in result.of("observation")]
    assert statuses[4:7] == [2, 2, 2]


def test_think_tool_and_allowed_imports(acme: Client, llm: LLMStub) -> None:
    llm.script(
        call("think", thought="First compute, then check."),
        py("import json\nprint(json.dumps([1]))"),
        py("import math\nprint(math.sqrt(16))"),
        finish("4.0"),
    )
    profile = agent_pb2.AgentProfile(allowed_imports=["math"])
    with acme.agent.create_session(profile=profile) as agent:
        result = run(agent, "Square root of 16.")
    assert result.of("thought")[0].text == "First compute, then check."
    assert result.observations()[0] == "Your thought has been recorded."
    assert result.of("verdict")[0].decision == common_pb2.DECISION_DENY
    assert result.output == "4.0\n"
    system = llm.requests[0]["body"]["messages"][0]["content"]
    assert "Only these modules may be imported (with their submodules): math." in system


def test_events_are_stored_in_the_conversation(stack: Stack, acme: Client, llm: LLMStub) -> None:
    llm.script(py("print(7)", "Seven."), finish("7"))
    with acme.agent.create_session() as agent:
        run(agent, "Print seven.")
        with Client(stack.memory.address, token=KEYS["acme"]) as memory_client:
            kinds = [
                e.WhichOneof("payload")
                for e in memory_client.memory.events(agent.info.conversation_id)
            ]
    assert kinds == [
        "user_message", "thought", "action", "policy_verdict", "observation", "final_answer",
    ]  # fmt: skip


def test_no_model_endpoint_is_a_failed_precondition(stack: Stack, acme: Client) -> None:
    planner = ServerThread(PlannerSettings(**COMMON), build_planner).start()  # type: ignore[arg-type]
    agent_server = ServerThread(
        AgentSettings(
            **COMMON,  # type: ignore[arg-type]
            planner_target=planner.address,
            policy_target=stack.policy.address,
            executor_target=stack.executor.address,
            memory_target=stack.memory.address,
        ),
        build_agent,
    ).start()
    try:
        with (
            Client(agent_server.address, token=KEYS["acme"]) as client,
            client.agent.create_session() as agent,
            pytest.raises(CodeActError) as err,
        ):
            list(agent.run("Anything."))
    finally:
        agent_server.stop()
        planner.stop()
    assert (err.value.code, err.value.reason) == ("FAILED_PRECONDITION", "LLM_NOT_CONFIGURED")
    assert "CODEACT_PLANNER_LLM_BASE_URL" in err.value.message


def test_bash_only_profile_refuses_python(acme: Client, llm: LLMStub) -> None:
    llm.script(py("print(1)"), call("execute_bash", command="echo from-bash"), finish("ok"))
    profile = agent_pb2.AgentProfile(enable_python=False, enable_bash=True)
    with acme.agent.create_session(profile=profile) as agent:
        result = run(agent, "Echo.")
    assert [e.reason for e in result.of("error")] == ["PARSE_FAILURE"]
    assert result.output == "from-bash\n"
    assert [t["function"]["name"] for t in llm.requests[0]["body"]["tools"]] == [
        "execute_bash", "edit_file", "think", "finish",
    ]  # fmt: skip
    assert result.of("code")[0].tool == events_pb2.TOOL_EXECUTE_BASH

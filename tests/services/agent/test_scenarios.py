"""End-to-end scenarios through all five real services, the model scripted
by the OpenAI-compatible stub."""

from __future__ import annotations

import threading
import time

import pytest

from codeact import Client, condenser
from codeact.errors import CodeActError
from codeact.v1 import agent_pb2, common_pb2
from tests.llm_stub import LLMStub, Reply
from tests.services.agent.scenarios import bash, finish, prompt_of, py, run
from tests.support import pids_with_argument

FIB_AND_CHART = """\
import matplotlib.pyplot as plt

def fib(n):
    a, b = 0, 1
    out = []
    for _ in range(n):
        out.append(a)
        a, b = b, a + b
    return out

numbers = fib(10)
print(numbers)
plt.plot(numbers, marker="o")
plt.title("Fibonacci")
plt.show()
"""


def test_fibonacci_and_chart(acme: Client, llm: LLMStub) -> None:
    llm.script(
        py(FIB_AND_CHART, "I will compute the numbers and plot them."),
        finish("The first 10 Fibonacci numbers are 0, 1, 1, 2, 3, 5, 8, 13, 21, 34."),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "Compute the first 10 Fibonacci numbers and plot them as a chart.")
        info = agent.refresh()
    assert result.outcome == "FINISHED"
    assert result.kinds[:4] == ["usage", "thought", "code", "verdict"]
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in result.output
    images = [
        d.data.binary["image/png"] for d in result.of("display") if "image/png" in d.data.binary
    ]
    assert len(images) == 1 and images[0].startswith(b"\x89PNG")
    assert result.observations()[0].endswith("[displayed to the user: image/png]")
    assert result.of("final_answer")[0].text.endswith("21, 34.")
    assert result.end.iterations == 2
    assert result.end.usage.total_tokens == 36
    assert info.task_count == 1 and info.usage.total_tokens == 36
    # The model was told what the sandbox has, and saw the output of its cell.
    assert "matplotlib" in llm.requests[0]["body"]["messages"][0]["content"]
    assert (
        "plt.show()" in llm.requests[0]["body"]["messages"][0]["content"]
    )  # the plotting extension
    assert "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in prompt_of(llm.requests[1])


def test_todo_app_state_persists_across_cells(acme: Client, llm: LLMStub) -> None:
    llm.script(
        py(
            "todos = []\n"
            "def add(t):\n    todos.append(t)\n"
            "def delete(t):\n    todos.remove(t)\n"
            "def show():\n    print(todos)"
        ),
        py("add('buy milk')\nadd('write report')\nadd('call mom')\nshow()"),
        py("delete('write report')\nshow()"),
        bash("echo saved > todos.txt && cat todos.txt"),
        finish("Remaining: buy milk, call mom"),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "Build a TODO app: add three items, delete one, list them.")
        # A second task in the same session still sees the state.
        llm.script(py("show()"), finish("done"))
        again = run(agent, "Show the list again.")
    assert result.outcome == "FINISHED"
    observations = result.observations()
    assert observations[1] == "['buy milk', 'write report', 'call mom']"
    assert observations[2] == "['buy milk', 'call mom']"
    assert observations[3] == "saved"
    assert again.observations()[0] == "['buy milk', 'call mom']"
    # The second task's prompt carries the first task's history.
    assert "Build a TODO app" in prompt_of(llm.requests[0])


def test_a_hallucinated_import_is_refused_then_corrected(acme: Client, llm: LLMStub) -> None:
    llm.script(
        py("import pandass as pd\nprint(pd.__version__)"),
        py("import pandas as pd\nprint(pd.DataFrame({'a': [1, 2]}).a.sum())"),
        finish("3"),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "Sum a column with pandas.")
    assert result.outcome == "FINISHED"
    verdicts = result.of("verdict")
    assert verdicts[0].decision == common_pb2.DECISION_DENY
    assert verdicts[0].findings[0].rule_id == "import-not-available"
    assert verdicts[1].decision == common_pb2.DECISION_ALLOW
    refusal = result.observations()[0]
    assert refusal.startswith("The policy refused this code, so nothing was run.")
    assert "pandas" in refusal  # the suggestion
    assert result.output == "3\n"  # only the corrected cell ran
    assert "The policy refused this code" in prompt_of(llm.requests[1])


def test_an_unparseable_reply_is_recovered_with_a_format_hint(acme: Client, llm: LLMStub) -> None:
    llm.script(
        Reply(content="Hmm, let me think about what to do."),
        py("print(2 ** 10)"),
        finish("1024"),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "What is 2 to the 10th?")
    assert result.outcome == "FINISHED"
    errors = result.of("error")
    assert [e.reason for e in errors] == ["PARSE_FAILURE"]
    assert errors[0].message == "no tool was called"
    second = prompt_of(llm.requests[1])
    assert "Your last reply could not be used: no tool was called" in second
    assert "Hmm, let me think" in second
    assert result.output == "1024\n"


def test_text_mode_model(acme: Client, llm: LLMStub) -> None:
    llm.script(
        "I'll compute it.\n```python\nprint(sum(range(101)))\n```",
        "Not sure.",
        "<finish>5050</finish>",
    )
    text_mode = agent_pb2.AgentProfile(
        model=common_pb2.ModelSettings(mode=common_pb2.ACTION_MODE_TEXT)
    )
    with acme.agent.create_session(profile=text_mode) as agent:
        result = run(agent, "Sum 0..100")
    assert result.outcome == "FINISHED"
    assert result.output == "5050\n"
    assert result.of("final_answer")[0].text == "5050"
    assert "tools" not in llm.requests[0]["body"]
    assert "<finish>" in prompt_of(llm.requests[2])  # the format hint after "Not sure."


def test_a_runtime_error_is_debugged(acme: Client, llm: LLMStub) -> None:
    llm.script(
        py("values = [3, 0]\nprint(values[0] / values[1])"),
        py("print(values[0] / max(values[1], 1))", "Division by zero; guard it."),
        finish("3.0"),
    )
    with acme.agent.create_session() as agent:
        result = run(agent, "Divide the first value by the second.")
    assert result.outcome == "FINISHED"
    first = result.of("observation")[0]
    assert first.status == 2  # EXECUTION_STATUS_ERROR
    assert "ZeroDivisionError: division by zero" in first.content
    assert "ZeroDivisionError" in prompt_of(llm.requests[1])
    assert result.output.endswith("3.0\n")


def test_a_syntax_error_is_caught_before_running(acme: Client, llm: LLMStub) -> None:
    llm.script(py("print('unclosed'"), py("print('closed')"), finish("ok"))
    with acme.agent.create_session() as agent:
        result = run(agent, "Print something.")
    assert result.outcome == "FINISHED"
    assert "SyntaxError" in result.observations()[0]
    assert len(result.of("verdict")) == 1  # the broken cell never reached the policy
    assert result.output == "closed\n"


def test_a_stuck_loop_is_stopped(acme: Client, llm: LLMStub) -> None:
    llm.default = py("import missing_helper_module_xyz")
    with acme.agent.create_session(
        profile=agent_pb2.AgentProfile(policy_profile="permissive")
    ) as agent:
        result = run(agent, "Do the thing.")
    assert result.outcome == "STUCK"
    assert result.end.message == "the same action failed 3 times in a row"
    assert result.end.iterations == 3
    assert result.of("error")[-1].reason == "STUCK"


def test_the_same_action_and_result_four_times_is_stuck(acme: Client, llm: LLMStub) -> None:
    llm.default = py("print('waiting')")
    with acme.agent.create_session() as agent:
        result = run(agent, "Wait for it.")
    assert result.outcome == "STUCK"
    assert result.end.message == "the same action gave the same result 4 times in a row"


def test_condensation_on_a_long_task(acme: Client, llm: LLMStub) -> None:
    steps = [py(f"x{i} = {i} * {i}\nprint(x{i})") for i in range(14)]
    llm.script(*steps, finish("done"))
    profile = agent_pb2.AgentProfile(
        condenser=condenser("amortized_forgetting", keep_first=1, max_events=12)
    )
    with acme.agent.create_session(profile=profile) as agent:
        result = run(agent, "Square fourteen numbers, one per step.")
    assert result.outcome == "FINISHED"
    condensations = result.of("condensation")
    assert len(condensations) >= 2
    assert all(c.condenser == "amortized_forgetting" for c in condensations)
    sizes = [len(r["body"]["messages"]) for r in llm.requests]
    assert max(sizes) <= 14  # system + at most max_events messages' worth
    assert "x0 = 0 * 0" not in prompt_of(llm.requests[-1])  # forgotten
    assert "Square fourteen numbers" in prompt_of(llm.requests[-1])  # the head stays


def test_a_context_overflow_condenses_and_retries(acme: Client, llm: LLMStub) -> None:
    overflow = Reply(
        status=400, error_message="This model's maximum context length is 4096 tokens."
    )
    llm.script(*[py(f"print({i})") for i in range(6)], overflow, finish("recovered"))
    with acme.agent.create_session() as agent:
        result = run(agent, "Print numbers.")
    assert result.outcome == "FINISHED"
    assert len(result.of("condensation")) == 1
    assert len(llm.requests[-1]["body"]["messages"]) < len(llm.requests[-2]["body"]["messages"])


def test_a_cancel_in_the_middle_of_a_cell(stack, acme: Client, llm: LLMStub) -> None:
    marker = "271828"
    llm.script(py(f"import subprocess\nsubprocess.run(['sleep', '{marker}'])"))
    with acme.agent.create_session() as agent:
        events = agent.run("Wait a long time.", timeout=60)
        seen = []
        for event in events:
            seen.append(event.WhichOneof("event"))
            if seen[-1] == "code":
                # Wait for the cell's process to exist, then cancel.
                deadline = time.monotonic() + 10
                while not pids_with_argument(marker) and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert pids_with_argument(marker)
                threading.Timer(0.1, agent.cancel).start()
            if seen[-1] == "end":
                end = event.end
        assert end.outcome == agent_pb2.TASK_OUTCOME_CANCELLED
        deadline = time.monotonic() + 10
        while pids_with_argument(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_with_argument(marker) == []
        # The session is usable again.
        llm.script(py("print('alive')"), finish("ok"))
        assert run(agent, "Say alive.").output == "alive\n"


def test_llm_errors_are_error_events_with_the_providers_message(acme: Client, llm: LLMStub) -> None:
    llm.script(*[Reply(status=503, error_message="upstream overloaded")] * 3)
    with acme.agent.create_session() as agent:
        result = run(agent, "Anything.")
    assert result.outcome == "ERROR"
    error = result.of("error")[0]
    assert error.reason == "LLM_UNAVAILABLE"
    assert "upstream overloaded" in error.message


def test_max_iterations_and_token_budget(acme: Client, llm: LLMStub) -> None:
    llm.default = py("import random\nprint(random.random())")
    with acme.agent.create_session(profile=agent_pb2.AgentProfile(max_iterations=3)) as agent:
        result = run(agent, "Loop.")
    assert (result.outcome, result.end.iterations) == ("MAX_ITERATIONS", 3)
    llm.reset()
    llm.default = py("import random\nprint(random.random())")
    with acme.agent.create_session(profile=agent_pb2.AgentProfile(token_budget=40)) as agent:
        result = run(agent, "Loop.")
    assert result.outcome == "TOKEN_BUDGET"
    assert result.end.usage.total_tokens == 54  # three calls of 18 tokens cross 40


@pytest.mark.parametrize("rollback", [True, False])
def test_rollback_on_error_restores_the_state(acme: Client, llm: LLMStub, rollback: bool) -> None:
    llm.script(
        py("counter = 1"),
        py("counter = 99\nraise ValueError('bad step')"),
        py("print(counter)"),
        finish("ok"),
    )
    profile = agent_pb2.AgentProfile(rollback_on_error=rollback)
    with acme.agent.create_session(profile=profile) as agent:
        result = run(agent, "Count.")
    assert result.output.endswith("1\n" if rollback else "99\n")
    assert ("rolled back" in result.observations()[1]) is rollback


def test_unparseable_replies_are_bounded(acme: Client, llm: LLMStub) -> None:
    llm.script(*[Reply(content=f"I am thinking, take {i}.") for i in range(10)])
    with acme.agent.create_session() as agent:
        result = run(agent, "Anything.")
    assert result.outcome == "ERROR"
    assert result.end.message.startswith("the model's replies could not be used 4 times in a row")
    assert [e.reason for e in result.of("error")] == ["PARSE_FAILURE"] * 4
    assert len(llm.requests) == 4


def test_the_callers_deadline_reaches_the_running_cell(stack, acme: Client, llm: LLMStub) -> None:
    marker = "314159"
    llm.script(py(f"import subprocess\nsubprocess.run(['sleep', '{marker}'])"))
    with acme.agent.create_session() as agent:
        # The agent keeps a little of the deadline back to say what happened;
        # under load the caller's own deadline may still win.
        try:
            result = run(agent, "Sleep.", timeout=3)
            reason = result.of("error")[-1].reason if result.outcome == "ERROR" else result.outcome
        except CodeActError as err:
            reason = err.code
        assert reason == "DEADLINE_EXCEEDED"
        deadline = time.monotonic() + 10
        while pids_with_argument(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pids_with_argument(marker) == []
        llm.script(py("print('still here')"), finish("ok"))
        assert run(agent, "Again.").output == "still here\n"

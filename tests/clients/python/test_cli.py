"""`codeact run` and `codeact eval` against the whole stack."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

from codeact import cli
from codeact.console import highlight
from codeact.evals import PACKAGED_SUITE, describe_tools, load_suite, normalize
from tests.llm_stub import LLMStub, Reply
from tests.services.agent.scenarios import finish, py
from tests.stack import Stack
from tests.support import KEYS

CHART = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()\nprint('drawn')"


def codeact(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exit_,
    ):
        cli.main(list(argv))
    return int(exit_.value.code or 0), out.getvalue(), err.getvalue()


def test_run_streams_the_steps_and_saves_images(stack: Stack, llm: LLMStub, tmp_path: Path) -> None:
    llm.script(
        py("import pandass", "Let me load the data."),
        py(CHART, "Now the chart."),
        finish("A chart of 1, 2, 3."),
    )
    code, out, _ = codeact(
        "run", "Draw a chart.", "--target", stack.agent.address, "--token", KEYS["acme"],
        "--images", str(tmp_path / "imgs"), "--color", "never",
    )  # fmt: skip
    assert code == 0
    assert "── step 1" in out and "── step 3" in out
    assert "Let me load the data." in out
    assert "policy DENY (standard):" in out
    assert "  import matplotlib.pyplot as plt" in out
    assert "output:\ndrawn\n" in out
    saved = re.search(r"\[image saved to (.+\.png)\]", out)
    assert saved is not None
    assert Path(saved.group(1)).read_bytes().startswith(b"\x89PNG")
    assert "answer: A chart of 1, 2, 3." in out
    assert re.search(r"FINISHED after 3 steps in [\d.]+ s", out)
    assert "tokens: 33 prompt + 21 completion = 54; 3 model requests" in out


def test_run_exits_non_zero_when_the_task_does_not_finish(stack: Stack, llm: LLMStub) -> None:
    llm.script(*[Reply(status=500)] * 3)
    code, out, _ = codeact("run", "x", "--target", stack.agent.address, "--token", KEYS["acme"])
    assert code == 1
    assert "error LLM_UNAVAILABLE" in out
    assert "ERROR after 1 steps" in out


def test_run_reports_a_bad_key_plainly(stack: Stack) -> None:
    code, _, err = codeact("run", "x", "--target", stack.agent.address, "--token", "wrong")
    assert code == 2
    assert err.startswith("codeact: UNAUTHENTICATED")


def test_eval_prints_success_rate_and_turns(stack: Stack, llm: LLMStub) -> None:
    tasks = load_suite([PACKAGED_SUITE])
    fruit, population = tasks[0], tasks[1]
    # Right on the first task in two turns, wrong on the second in one.
    llm.script(
        py("print(3 * price('apple') + 2 * price('pear'))"),
        finish("7.3"),
        finish("Norway"),
    )
    suite = [str(PACKAGED_SUITE / n) for n in ("01_fruit_prices.toml", "02_population.toml")]
    code, out, _ = codeact(
        "eval", *suite, "--target", stack.agent.address, "--executor", stack.executor.address,
        "--token", KEYS["acme"],
    )  # fmt: skip
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"PASS {fruit.name}: 2 turns, FINISHED")
    assert lines[1].startswith(f"FAIL {population.name}: 1 turns, FINISHED, answer 'Norway'")
    assert lines[-1] == "success rate 1/2 = 50.0%; average turns 1.5"
    # The tools were defined in the sandbox (the first cell used them) and described.
    assert "7.3" in "".join(str(m.get("content")) for m in llm.requests[1]["body"]["messages"])
    prompt = llm.requests[0]["body"]["messages"][1]["content"]
    assert "def price(item: str) -> float:" in prompt
    assert "The unit price in euros" in prompt


def test_the_packaged_suite_is_right() -> None:
    """Each task's reference solution, run with its tools, prints its answer."""
    tasks = load_suite([PACKAGED_SUITE])
    assert len(tasks) >= 5
    for task in tasks:
        namespace: dict[str, object] = {}
        exec(compile(task.tools, task.name, "exec"), namespace)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(task.solution, task.name, "exec"), namespace)
        assert normalize(printed.getvalue()) == normalize(task.answer), task.name
        assert describe_tools(task.tools).startswith("def ")


def test_bad_suites_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text('instruction = "x"\n')
    code, _, err = codeact("eval", str(tmp_path))
    assert code == 2 and "'answer' must be a non-empty string" in err
    (tmp_path / "a.toml").write_text('instruction = "x"\nanswer = "y"\ntools = "def f(:"\n')
    code, _, err = codeact("eval", str(tmp_path))
    assert code == 2 and "tools do not parse" in err
    code, _, err = codeact("eval", str(tmp_path / "empty-dir-that-does-not-exist"))
    assert code == 2


def test_highlighting_keeps_the_code() -> None:
    code = "def f(x):\n    # double\n    return x * 2  # twice\n\nprint(f('a'), 1.5)\n"
    painted = highlight(code, True)
    assert re.sub(r"\033\[\d+m", "", painted) == code
    assert "\033[" in painted
    assert highlight("def broken(:", True) == "def broken(:"

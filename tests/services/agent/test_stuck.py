"""The stuck detector's five patterns, and what must not trip it."""

from __future__ import annotations

from services.agent.stuck import Condensed, Message, Step, StuckDetector


def feed(*records: Step | Message | Condensed) -> str | None:
    detector = StuckDetector()
    reason = None
    for record in records:
        reason = detector.add(record)
    return reason


A, B = Step("print(1)", "1"), Step("print(2)", "2")
FAIL = Step("open('x')", "FileNotFoundError", error=True)


def test_the_same_action_and_result_four_times() -> None:
    assert feed(A, A, A) is None
    assert feed(A, A, A, A) == "the same action gave the same result 4 times in a row"
    assert feed(A, A, B, A, A) is None


def test_the_same_failing_action_three_times() -> None:
    assert feed(FAIL, FAIL) is None
    assert feed(FAIL, FAIL, FAIL) == "the same action failed 3 times in a row"
    different = [Step(f"open('{i}')", "FileNotFoundError", error=True) for i in range(3)]
    assert feed(*different) is None


def test_identical_syntax_errors_three_times() -> None:
    errors = [
        Step(f"print({i}", "SyntaxError", True, "SyntaxError: '(' was never closed")
        for i in range(3)
    ]
    assert feed(*errors) == "the same syntax error came back 3 times in a row"
    varied = [Step(f"x{i} =", "SyntaxError", True, f"SyntaxError: line {i}") for i in range(3)]
    assert feed(*varied) is None


def test_the_same_message_three_times() -> None:
    assert feed(Message("hmm"), Message("hmm")) is None
    assert feed(Message("hmm"), Message("hmm"), Message("hmm")) == (
        "the model sent the same message 3 times in a row"
    )
    assert feed(Message("hmm"), Message("hm"), Message("hmm")) is None


def test_an_alternation_over_six_steps() -> None:
    assert feed(A, B, A, B, A) is None
    assert feed(A, B, A, B, A, B) == "the agent alternated between the same two actions for 6 steps"
    assert feed(A, B, A, B, B, A) is None


def test_ten_condensations_in_a_row() -> None:
    assert feed(*[Condensed()] * 9) is None
    assert (
        feed(*[Condensed()] * 10) == "the context was condensed 10 times in a row without progress"
    )
    assert feed(*[Condensed()] * 5, A, *[Condensed()] * 5) is None


def test_progress_is_not_stuck() -> None:
    steps = [Step(f"x = {i}", str(i)) for i in range(30)]
    assert feed(*steps) is None

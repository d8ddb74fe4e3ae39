"""Fuzzing: whatever the input, the checker returns a verdict and nothing escapes."""

from __future__ import annotations

import hypothesmith
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.policy.checker import Checker, Decision
from services.policy.profiles import PolicyProfile

# hypothesmith compiles its own examples, and the compiler warns about them.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning")
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
TOKENS = [
    *"abcxyz_()[]{}.,:;=+-*/'\"\\\n\t #@!0123456789",
    "__", "\uff43", "\x00", "import ", "os", "lambda", "class ", "def ", "getattr", "exec",
]  # fmt: skip
PYTHONISH = st.lists(st.sampled_from(TOKENS), max_size=80).map("".join)


@FUZZ
@given(code=st.text(max_size=300))
def test_random_text_always_gets_a_verdict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    for profile in profiles.values():
        assert checker.check(code, profile).decision in Decision


@FUZZ
@given(code=PYTHONISH)
def test_python_like_text_always_gets_a_verdict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check(code, profiles["strict"])
    assert result.decision in Decision
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 0 and finding.message


@FUZZ
@given(code=hypothesmith.from_grammar())
def test_valid_programs_always_get_a_verdict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    for profile in profiles.values():
        result = checker.check(code, profile)
        assert result.decision in Decision
        assert all(f.rule_id != "syntax-error" or f.line >= 1 for f in result.findings)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(code=hypothesmith.from_node())
def test_random_valid_asts_always_get_a_verdict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    assert checker.check(code, profiles["standard"]).decision in Decision

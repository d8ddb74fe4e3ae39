"""Escapes are denied under strict; data work is allowed under standard."""

from __future__ import annotations

import pytest

from services.policy.checker import Checker, Decision
from services.policy.profiles import PolicyProfile
from services.policy.rules import Severity
from tests.services.policy.corpora import DATA_SCIENCE, ESCAPES


def test_the_corpora_are_big_enough() -> None:
    assert len(ESCAPES) >= 40 and len(DATA_SCIENCE) >= 40


@pytest.mark.parametrize("code", ESCAPES.values(), ids=ESCAPES.keys())
def test_every_escape_is_denied_under_strict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check(code, profiles["strict"])
    assert result.decision is Decision.DENY, result.findings
    # Our own rules catch it, not only RestrictedPython.
    ours = [f for f in result.findings if f.rule_id != "restricted-python"]
    assert any(f.severity is Severity.ERROR for f in ours), result.findings


@pytest.mark.parametrize("code", DATA_SCIENCE.values(), ids=DATA_SCIENCE.keys())
def test_data_work_is_allowed_under_standard(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check(code, profiles["standard"])
    noisy = [f for f in result.findings if f.severity >= Severity.WARNING]
    assert result.decision is Decision.ALLOW and not noisy, noisy


@pytest.mark.parametrize("code", ESCAPES.values(), ids=ESCAPES.keys())
def test_permissive_warns_but_never_denies(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check(code, profiles["permissive"])
    assert result.decision is not Decision.DENY and result.findings, result.findings

"""The checker's findings: positions, messages, suggestions, profiles."""

from __future__ import annotations

import pytest

from codeact.errors import InvalidArgument, NotFound
from services.policy.checker import Checker, Decision
from services.policy.profiles import PolicyProfile, ProfileCatalog, from_table
from services.policy.rules import Severity


def test_a_hallucinated_package_is_not_available_with_suggestions(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check("import numpy as np\nimport pandass as pd\n", profiles["standard"])
    assert result.decision is Decision.DENY
    (finding,) = result.findings
    assert finding.rule_id == "import-not-available"
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (2, 0, 2, 20)
    assert finding.snippet == "import pandass as pd"
    assert finding.suggestions[0] == "pandas"
    assert "not available in the sandbox" in finding.message and "numpy" in finding.message


def test_extra_modules_and_relative_imports_are_the_callers_own(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    code = "import helpers\nfrom . import local\nfrom helpers import load"
    assert (
        checker.check(code, profiles["standard"], frozenset({"helpers"})).decision is Decision.ALLOW
    )
    result = checker.check(code, profiles["standard"])
    assert [f.rule_id for f in result.findings] == ["import-not-available", "import-not-available"]


def test_syntax_errors_are_findings_with_positions(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check("x = 1\ndef f(:\n    pass\n", profiles["standard"])
    (finding,) = result.findings
    assert finding.rule_id == "syntax-error" and finding.severity is Severity.ERROR
    assert finding.line == 2 and finding.column == 6
    assert finding.snippet == "def f(:"


@pytest.mark.parametrize(
    "code",
    ["x = '\x00'", "\x00", "(" * 300 + ")" * 300, "x = 1" + "\n" * 10 + "+", "\ufeff\ufeffx"],
)
def test_hostile_text_gets_a_verdict(
    code: str, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check(code, profiles["strict"])
    assert result.decision in (Decision.ALLOW, Decision.WARN, Decision.DENY)


def test_aliases_are_resolved(checker: Checker, profiles: dict[str, PolicyProfile]) -> None:
    code = "import os as o\nfrom os import system as run\no.popen('id')\nrun('id')"
    rules = [(f.rule_id, f.line) for f in checker.check(code, profiles["standard"]).findings]
    assert ("process", 2) in rules and ("process", 3) in rules


def test_a_variable_named_like_a_builtin_is_not_the_builtin(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    code = "input = [1, 2]\nprint(len(input))\ndef compile(x):\n    return x\ncompile(3)"
    assert checker.check(code, profiles["strict"]).findings == () or all(
        f.rule_id not in ("interactive", "dynamic-code")
        for f in checker.check(code, profiles["strict"]).findings
    )


def test_allow_and_deny_lists(checker: Checker) -> None:
    profile = PolicyProfile(
        name="tight",
        allowed_imports=("math", "numpy"),
        denied_imports=("numpy.random",),
    ).validate()
    findings = checker.check("import math\nimport numpy.random\nimport json", profile).findings
    assert [(f.rule_id, f.line) for f in findings] == [
        ("import-denied", 2),
        ("import-not-allowed", 3),
    ]


def test_warn_only_never_denies(checker: Checker, profiles: dict[str, PolicyProfile]) -> None:
    result = checker.check("().__class__.__base__.__subclasses__()", profiles["permissive"])
    assert result.decision is Decision.WARN
    assert Severity.ERROR not in {f.severity for f in result.findings}


def test_restricted_python_findings_come_from_its_compiler(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check("_hidden = 1\nprint(_hidden)", profiles["strict"])
    rp = [f for f in result.findings if f.rule_id == "restricted-python"]
    assert rp and rp[0].line == 1 and "_hidden" in rp[0].message
    assert checker.check("_hidden = 1", profiles["standard"]).decision is Decision.ALLOW


def test_profile_tables_are_validated_field_by_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        from_table("bad", {"denied_imports": ["ok", "not a module"], "severity": {"nope": "error"}})
    fields = [v.field for v in caught.value.field_violations]
    assert "profile.denied_imports[1]" in fields and "profile.rules" in fields
    with pytest.raises(InvalidArgument):
        from_table("bad", {"severity": {"process": "loud"}})
    with pytest.raises(InvalidArgument):
        from_table("bad", {"mystery": True})


def test_tenant_profiles_are_private(profiles: dict[str, PolicyProfile]) -> None:
    mine = from_table("mine", {"denied_imports": ["json"]})
    catalog = ProfileCatalog(profiles, {"acme": {"mine": mine}})
    assert catalog.get("acme", "mine").denied_imports == ("json",)
    assert "mine" in catalog.visible("acme") and "mine" not in catalog.visible("globex")
    with pytest.raises(NotFound):
        catalog.get("globex", "mine")


@pytest.mark.parametrize(
    ("code", "line"),
    [("*a", 1), ("x = 1\nreturn x", 2), ("break", 1), ("def f():\n    nonlocal y", 2)],
)
def test_errors_only_the_compiler_sees_are_syntax_errors(
    code: str, line: int, checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    for profile in profiles.values():  # strict also runs RestrictedPython's compiler
        findings = checker.check(code, profile).findings
        assert [(f.rule_id, f.line) for f in findings] == [("syntax-error", line)], profile.name


def test_compiler_warnings_become_findings(
    checker: Checker, profiles: dict[str, PolicyProfile]
) -> None:
    result = checker.check("points = [(1, 2) (3, 4)]", profiles["standard"])
    assert result.decision is Decision.ALLOW
    assert [f.rule_id for f in result.findings] == ["syntax-warning"]
    assert "perhaps you missed a comma" in result.findings[0].message

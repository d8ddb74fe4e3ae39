"""The policy check: parse, scan, optionally RestrictedPython, decide."""

from __future__ import annotations

import ast
import enum
import re
import time
import warnings
from dataclasses import dataclass, replace

from .modules import ModuleIndex
from .profiles import PolicyProfile
from .rules import Severity
from .scanner import Finding, Scanner, ScanOptions


class Decision(enum.Enum):
    ALLOW = "allow"
    WARN = "warn"
    DENY = "deny"


@dataclass(frozen=True)
class CheckResult:
    decision: Decision
    findings: tuple[Finding, ...]
    profile_name: str
    elapsed: float


PARSE_ERRORS = (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError, TypeError)
_RP_LINE = re.compile(r"^Line (\d+|None): (.*)$", re.S)


def _syntax_finding(exc: BaseException, code: str) -> Finding:
    lines = code.splitlines()
    if isinstance(exc, SyntaxError):
        line = exc.lineno or 1
        column = max(0, (exc.offset or 1) - 1)
        end_line = exc.end_lineno or line
        end_column = max(column, (exc.end_offset or (column + 2)) - 1)
        message = f"SyntaxError: {exc.msg}"
    else:
        line, column, end_line, end_column = 1, 0, 1, 0
        message = f"{type(exc).__name__}: {exc}"
    snippet = lines[line - 1].strip()[:200] if 0 < line <= len(lines) else ""
    return Finding(
        "syntax-error",
        Severity.ERROR,
        f"{message}; fix the syntax and send the whole cell again",
        line,
        column,
        end_line,
        end_column,
        snippet,
    )


def _warning_findings(
    caught: list[warnings.WarningMessage], code: str, severity: Severity
) -> list[Finding]:
    lines = code.splitlines()
    findings = []
    for warning in caught:
        if not issubclass(warning.category, SyntaxWarning):
            continue
        line = warning.lineno or 1
        snippet = lines[line - 1].strip()[:200] if 0 < line <= len(lines) else ""
        findings.append(
            Finding(
                "syntax-warning",
                severity,
                f"SyntaxWarning: {warning.message}",
                line,
                0,
                line,
                len(snippet),
                snippet,
            )
        )
    return findings


def _restricted_findings(code: str, severity: Severity) -> list[Finding]:
    # Loaded only when a profile asks for it.
    from RestrictedPython.compile import compile_restricted_exec

    result = compile_restricted_exec(code)
    findings = []
    lines = code.splitlines()
    for error in result.errors:
        match = _RP_LINE.match(error)
        line = int(match.group(1)) if match and match.group(1) != "None" else 1
        text = match.group(2) if match else error
        snippet = lines[line - 1].strip()[:200] if 0 < line <= len(lines) else ""
        findings.append(
            Finding(
                "restricted-python",
                severity,
                f"RestrictedPython refuses this: {text}",
                line,
                0,
                line,
                len(lines[line - 1]) if 0 < line <= len(lines) else 0,
                snippet,
            )
        )
    return findings


class Checker:
    """Checks cells against profiles, knowing what the sandbox has."""

    def __init__(self, modules: ModuleIndex) -> None:
        self.modules = modules

    def _scan(
        self,
        code: str,
        profile: PolicyProfile,
        severities: dict[str, Severity],
        extra_modules: frozenset[str],
    ) -> list[Finding]:
        try:
            tree = ast.parse(code)
            # Some errors only show when compiling (a starred expression alone,
            # return outside a function, ...); compile the tree, not the text.
            compile(tree, "<cell>", "exec", dont_inherit=True)
        except PARSE_ERRORS as exc:
            return [_syntax_finding(exc, code)]
        options = ScanOptions(
            allowed_imports=frozenset(profile.allowed_imports),
            denied_imports=frozenset(profile.denied_imports),
            check_installed=profile.check_installed,
            extra_modules=extra_modules,
            severities=severities,
        )
        try:
            findings = Scanner(code, options, self.modules).scan(tree)
        except RecursionError:
            return [_syntax_finding(RecursionError("the cell is nested too deeply to check"), code)]
        if profile.require_restricted_python and "restricted-python" in severities:
            try:
                findings += _restricted_findings(code, severities["restricted-python"])
            except PARSE_ERRORS as exc:
                findings.append(_syntax_finding(exc, code))
        return findings

    def check(
        self, code: str, profile: PolicyProfile, extra_modules: frozenset[str] = frozenset()
    ) -> CheckResult:
        started = time.perf_counter()
        severities = profile.severities()
        findings: list[Finding] = []
        # The parser and compilers warn (a likely missing comma...); the
        # model should hear it, so warnings become findings.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SyntaxWarning)
            findings += self._scan(code, profile, severities, extra_modules)
        if "syntax-warning" in severities:
            findings += _warning_findings(caught, code, severities["syntax-warning"])
        if profile.warn_only:
            findings = [
                replace(f, severity=Severity.WARNING) if f.severity is Severity.ERROR else f
                for f in findings
            ]
        findings.sort(key=lambda f: (f.line, f.column, -f.severity))
        worst = max((f.severity for f in findings), default=None)
        if worst is Severity.ERROR:
            decision = Decision.DENY
        elif worst is Severity.WARNING:
            decision = Decision.WARN
        else:
            decision = Decision.ALLOW
        return CheckResult(decision, tuple(findings), profile.name, time.perf_counter() - started)

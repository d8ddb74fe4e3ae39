"""Protobuf messages <-> the policy core."""

from __future__ import annotations

from google.protobuf import duration_pb2

from codeact.errors import FieldViolation, InvalidArgument
from codeact.v1 import common_pb2, policy_pb2

from .checker import CheckResult, Decision
from .profiles import PolicyProfile
from .rules import Severity
from .scanner import Finding

_SEVERITY_TO_PROTO = {
    Severity.INFO: common_pb2.SEVERITY_INFO,
    Severity.WARNING: common_pb2.SEVERITY_WARNING,
    Severity.ERROR: common_pb2.SEVERITY_ERROR,
}
_SEVERITY_FROM_PROTO = {v: k for k, v in _SEVERITY_TO_PROTO.items()}
_DECISIONS = {
    Decision.ALLOW: common_pb2.DECISION_ALLOW,
    Decision.WARN: common_pb2.DECISION_WARN,
    Decision.DENY: common_pb2.DECISION_DENY,
}


def finding_message(finding: Finding) -> common_pb2.Finding:
    return common_pb2.Finding(
        rule_id=finding.rule_id,
        severity=_SEVERITY_TO_PROTO[finding.severity],
        message=finding.message,
        line=finding.line,
        column=finding.column,
        end_line=finding.end_line,
        end_column=finding.end_column,
        snippet=finding.snippet,
        suggestions=finding.suggestions,
    )


def result_message(result: CheckResult) -> policy_pb2.CheckCodeResponse:
    elapsed = duration_pb2.Duration(
        seconds=int(result.elapsed), nanos=int((result.elapsed % 1) * 1e9)
    )
    return policy_pb2.CheckCodeResponse(
        decision=_DECISIONS[result.decision],
        findings=[finding_message(f) for f in result.findings],
        profile_name=result.profile_name,
        elapsed=elapsed,
    )


def profile_message(profile: PolicyProfile) -> policy_pb2.PolicyProfile:
    return policy_pb2.PolicyProfile(
        name=profile.name,
        description=profile.description,
        allowed_imports=profile.allowed_imports,
        denied_imports=profile.denied_imports,
        check_installed=profile.check_installed,
        require_restricted_python=profile.require_restricted_python,
        warn_only=profile.warn_only,
        rule_severity={k: _SEVERITY_TO_PROTO[v] for k, v in profile.rule_severity.items()},
        disabled_rules=profile.disabled_rules,
        max_code_bytes=profile.max_code_bytes,
    )


def profile_from_message(message: policy_pb2.PolicyProfile, prefix: str) -> PolicyProfile:
    """An inline profile; a bad field is INVALID_ARGUMENT naming it."""
    severities = {}
    for rule_id, level in message.rule_severity.items():
        if level not in _SEVERITY_FROM_PROTO:
            raise InvalidArgument(
                "INVALID_PROFILE",
                f"{prefix}.rule_severity[{rule_id!r}]: give a severity, "
                "or list the rule in disabled_rules",
                field_violations=[
                    FieldViolation(f"{prefix}.rule_severity[{rule_id}]", "severity unspecified")
                ],
            )
        severities[rule_id] = _SEVERITY_FROM_PROTO[level]
    return PolicyProfile(
        name=message.name or "inline",
        description=message.description,
        allowed_imports=tuple(message.allowed_imports),
        denied_imports=tuple(message.denied_imports),
        check_installed=message.check_installed,
        require_restricted_python=message.require_restricted_python,
        warn_only=message.warn_only,
        rule_severity=severities,
        disabled_rules=tuple(message.disabled_rules),
        max_code_bytes=message.max_code_bytes,
    ).validate(prefix)

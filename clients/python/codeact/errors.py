"""Errors shared by the servers and the client.

Servers raise these from their cores; the chassis turns them into a
`google.rpc.Status` with one `ErrorInfo` (and a `BadRequest` for field
violations, a `QuotaFailure` and a `RetryInfo` for quotas). The client turns
such a status back into the same class, so `except codeact.errors.NotFound`
works on both sides of the wire. Nothing here imports gRPC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar

DOMAIN = "codeact.dev"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid request field, as in google.rpc.BadRequest."""

    field: str
    description: str


@dataclass(frozen=True)
class QuotaViolation:
    """One exhausted quota, as in google.rpc.QuotaFailure."""

    subject: str
    description: str


class CodeActError(Exception):
    """Base error: a gRPC status code name, a reason, metadata, violations
    and, for quotas, what ran out and when to try again."""

    code: ClassVar[str] = "UNKNOWN"

    def __init__(
        self,
        reason: str,
        message: str,
        *,
        metadata: Mapping[str, object] | None = None,
        field_violations: Iterable[FieldViolation] = (),
        quota_violations: Iterable[QuotaViolation] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.metadata: dict[str, str] = {k: str(v) for k, v in (metadata or {}).items()}
        self.field_violations = tuple(field_violations)
        self.quota_violations = tuple(quota_violations)
        # Seconds after which a retry may succeed (google.rpc.RetryInfo).
        self.retry_after = retry_after

    def __str__(self) -> str:
        return f"{self.code} {self.reason}: {self.message}"


class InvalidArgument(CodeActError):
    code = "INVALID_ARGUMENT"


class NotFound(CodeActError):
    code = "NOT_FOUND"


class AlreadyExists(CodeActError):
    code = "ALREADY_EXISTS"


class FailedPrecondition(CodeActError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(CodeActError):
    code = "RESOURCE_EXHAUSTED"


class Unauthenticated(CodeActError):
    code = "UNAUTHENTICATED"


class PermissionDenied(CodeActError):
    code = "PERMISSION_DENIED"


class Unavailable(CodeActError):
    code = "UNAVAILABLE"


class DeadlineExceeded(CodeActError):
    code = "DEADLINE_EXCEEDED"


class Cancelled(CodeActError):
    code = "CANCELLED"


class Aborted(CodeActError):
    code = "ABORTED"


class Unimplemented(CodeActError):
    code = "UNIMPLEMENTED"


class Internal(CodeActError):
    code = "INTERNAL"


_BY_CODE: dict[str, type[CodeActError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument,
        NotFound,
        AlreadyExists,
        FailedPrecondition,
        ResourceExhausted,
        Unauthenticated,
        PermissionDenied,
        Unavailable,
        DeadlineExceeded,
        Cancelled,
        Aborted,
        Unimplemented,
        Internal,
    )
}


def error_class(code: str) -> type[CodeActError]:
    """The error class for a gRPC status code name (CodeActError if unknown)."""
    return _BY_CODE.get(code, CodeActError)


def invalid(field: str, description: str, reason: str = "INVALID_ARGUMENT") -> InvalidArgument:
    """An INVALID_ARGUMENT error about one field."""
    return InvalidArgument(
        reason,
        f"{field}: {description}",
        metadata={"field": field},
        field_violations=[FieldViolation(field, description)],
    )


# What a count-type quota suggests as a retry delay: the count only drops when
# the caller (or an idle reaper) ends something, so retrying at once is pointless.
COUNT_QUOTA_RETRY = 5.0


def quota_exceeded(
    reason: str,
    message: str,
    subject: str,
    limit: float,
    retry_after: float = COUNT_QUOTA_RETRY,
) -> ResourceExhausted:
    """RESOURCE_EXHAUSTED with a QuotaFailure naming the subject (for example
    `tenant:acme`) and a RetryInfo."""
    return ResourceExhausted(
        reason,
        message,
        metadata={"limit": limit, "subject": subject},
        quota_violations=[QuotaViolation(subject, message)],
        retry_after=retry_after,
    )

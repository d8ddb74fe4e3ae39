"""gRPC errors -> codeact.errors, reading the rich status the servers send."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from .errors import CodeActError, FieldViolation, QuotaViolation, error_class


def from_rpc_error(err: grpc.RpcError) -> CodeActError:
    """The CodeActError a failed call stands for, with its ErrorInfo, BadRequest,
    QuotaFailure and RetryInfo (from a synchronous call or an asyncio one)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    message = (err.details() if hasattr(err, "details") else str(err)) or name
    reason, metadata, violations = name, {}, []
    quotas: list[QuotaViolation] = []
    retry_after: float | None = None
    try:
        status = rpc_status.from_call(err) if hasattr(err, "trailing_metadata") else None
    except (ValueError, AttributeError):
        status = None
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [FieldViolation(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.QuotaFailure.DESCRIPTOR):
            quota = error_details_pb2.QuotaFailure()
            detail.Unpack(quota)
            quotas = [QuotaViolation(v.subject, v.description) for v in quota.violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after = retry.retry_delay.ToMilliseconds() / 1000
    error = error_class(name)(
        reason,
        message,
        metadata=metadata,
        field_violations=violations,
        quota_violations=quotas,
        retry_after=retry_after,
    )
    error.__cause__ = err
    return error

"""CodeActError -> google.rpc.Status with one ErrorInfo (and BadRequest,
QuotaFailure, RetryInfo when the error carries them)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from codeact.errors import DOMAIN, CodeActError


def to_rpc_status(err: CodeActError) -> status_pb2.Status:
    code = grpc.StatusCode[err.code] if err.code in grpc.StatusCode.__members__ else None
    number = code.value[0] if code is not None else grpc.StatusCode.UNKNOWN.value[0]
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=DOMAIN, metadata=err.metadata)
    details = [_pack(info)]
    if err.field_violations:
        bad = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in err.field_violations
            ]
        )
        details.append(_pack(bad))
    if err.quota_violations:
        quota = error_details_pb2.QuotaFailure(
            violations=[
                error_details_pb2.QuotaFailure.Violation(
                    subject=v.subject, description=v.description
                )
                for v in err.quota_violations
            ]
        )
        details.append(_pack(quota))
    if err.retry_after is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(max(0, round(err.retry_after * 1000)))
        details.append(_pack(retry))
    return status_pb2.Status(code=number, message=err.message, details=details)


def to_grpc_status(err: CodeActError) -> grpc.Status:
    return rpc_status.to_status(to_rpc_status(err))


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed

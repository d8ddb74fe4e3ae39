"""gRPC errors -> codeact.errors, reading the rich status the servers send."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from .errors import CodeActError, FieldViolation, error_class


def from_rpc_error(err: grpc.RpcError) -> CodeActError:
    """The CodeActError a failed call stands for, ErrorInfo and BadRequest included
    (from a synchronous call or an asyncio one)."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    message = (err.details() if hasattr(err, "details") else str(err)) or name
    reason, metadata, violations = name, {}, []
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
    error = error_class(name)(reason, message, metadata=metadata, field_violations=violations)
    error.__cause__ = err
    return error

"""Every RPC of every service, wrapped once at registration: authentication,
request ids, errors, logs and metrics.

Wrapping the servicer's methods (rather than a grpc.aio server interceptor,
which the server awaits on every call) keeps the per-call cost down on the
hot path of cell execution. Handlers raise CodeActError subclasses; this
turns them into rich statuses. Anything else is a bug: it is logged with its
traceback and the caller gets INTERNAL with the request id, never the
exception text.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import AsyncIterator, Callable
from types import SimpleNamespace
from typing import Any

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor

from codeact.errors import CodeActError, Internal, Unauthenticated, Unimplemented

from .audit import AuditLog, current_request_id
from .auth import Authenticator, Caller, current_caller
from .metrics import Metrics
from .status import to_grpc_status

REQUEST_ID_KEY = "x-request-id"
log = structlog.get_logger("rpc")


class _Call:
    """Book-keeping of one RPC."""

    __slots__ = ("code", "context", "metadata", "method", "request_id", "started", "tenant")

    def __init__(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.method = method
        self.context = context
        self.metadata: tuple[tuple[str, Any], ...] = tuple(context.invocation_metadata() or ())
        supplied = next((v for k, v in self.metadata if k == REQUEST_ID_KEY), "")
        text = supplied.decode() if isinstance(supplied, bytes) else str(supplied)
        self.request_id = text[:64] if text else os.urandom(8).hex()
        self.tenant = ""
        self.code = "OK"
        self.started = time.perf_counter()


class Instrumentation:
    """Wraps servicers so each RPC is authenticated, logged and measured."""

    def __init__(
        self, authenticator: Authenticator, metrics: Metrics, audit: AuditLog | None = None
    ) -> None:
        self.authenticator = authenticator
        self.metrics = metrics
        self.audit = audit

    def wrap(self, servicer: Any, descriptor: ServiceDescriptor) -> Any:
        """An object with the servicer's RPC methods, wrapped."""
        methods = {}
        for method in descriptor.methods:
            behavior = getattr(servicer, method.name)
            full_name = f"/{descriptor.full_name}/{method.name}"
            if inspect.isasyncgenfunction(behavior):
                methods[method.name] = self._generator(behavior, full_name)
            else:
                methods[method.name] = self._coroutine(behavior, full_name)
        return SimpleNamespace(**methods)

    def _coroutine(self, behavior: Callable[..., Any], method: str) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = _Call(method, context)
            try:
                self._begin(call)
                return await behavior(request, context)
            except BaseException as exc:
                await self._fail(call, context, exc)
                raise
            finally:
                self._finish(call)

        return wrapper

    def _generator(self, behavior: Callable[..., Any], method: str) -> Any:
        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            call = _Call(method, context)
            try:
                self._begin(call)
                async for response in behavior(request, context):
                    yield response
            except BaseException as exc:
                await self._fail(call, context, exc)
                raise
            finally:
                self._finish(call)

        return wrapper

    def _begin(self, call: _Call) -> None:
        """Authenticate the caller."""
        current_request_id.set(call.request_id)
        current_caller.set(None)
        try:
            identity = self.authenticator.authenticate(
                call.method, call.metadata, call.context.auth_context
            )
        except Unauthenticated as exc:
            if self.audit is not None:
                self.audit.record(
                    "auth.failed",
                    "",
                    method=call.method,
                    reason=exc.reason,
                    peer=call.context.peer(),
                )
            raise
        if identity is not None:
            credential = next((v for k, v in call.metadata if k == "authorization"), None)
            current_caller.set(
                Caller(
                    identity,
                    credential if isinstance(credential, str) else None,
                    self.authenticator.internal,
                )
            )
            call.tenant = identity.tenant

    async def _fail(
        self, call: _Call, context: grpc.aio.ServicerContext, exc: BaseException
    ) -> None:
        """Record the outcome; turn our errors into a rich status (abort raises)."""
        if isinstance(exc, asyncio.CancelledError | GeneratorExit):
            call.code = "CANCELLED"
            return
        if isinstance(exc, grpc.aio.AbortError):
            code = context.code()
            call.code = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
            return
        if isinstance(exc, NotImplementedError):
            # The generated base servicer raises this for RPCs not built yet.
            exc = Unimplemented(
                "NOT_IMPLEMENTED",
                f"{call.method} is not implemented yet; the README lists live RPCs",
            )
        if not isinstance(exc, CodeActError):
            log.error(
                "rpc.unhandled_exception",
                exc_info=exc,
                method=call.method,
                request_id=call.request_id,
            )
            exc = Internal(
                "INTERNAL",
                f"internal error; quote request id {call.request_id} to the operator",
                metadata={"request_id": call.request_id},
            )
        call.code = exc.code
        status = to_grpc_status(exc)
        trailing = (*status.trailing_metadata, (REQUEST_ID_KEY, call.request_id))
        await context.abort(status.code, status.details, trailing)

    def _finish(self, call: _Call) -> None:
        elapsed = time.perf_counter() - call.started
        self.metrics.observe_rpc(call.method, call.code, elapsed)
        level = "debug" if call.method.startswith("/grpc.health.") else "info"
        getattr(log, level)(
            "rpc",
            method=call.method,
            code=call.code,
            tenant=call.tenant,
            duration_ms=round(elapsed * 1000, 3),
            request_id=call.request_id,
        )

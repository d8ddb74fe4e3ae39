"""Server bootstrap shared by every service.

A grpc.aio server with the interceptor, standard health checking, server
reflection, keepalive and message-size options, Prometheus metrics over
HTTP, and a graceful drain on SIGTERM: health turns NOT_SERVING, in-flight
RPCs get `drain_grace` seconds, then the service's own shutdown runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from .audit import AuditLog, audit_log
from .auth import Authenticator, InternalIdentity, KeyRing
from .instrument import Instrumentation
from .metrics import Metrics
from .settings import ServerSettings
from .tenants import tenants_source

log = structlog.get_logger("server")
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]


def server_options(settings: ServerSettings, reuse_port: bool = False) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Clients ping every 30 s by default; allow down to 10 s.
        ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
        # And never answer a ping "too soon" with GOAWAY: the Python client's
        # BDP pings land next to its keepalive pings, and the strikes cut a
        # quiet call (a long cell, a slow model) with UNAVAILABLE "Too many
        # pings". Answering a ping costs next to nothing.
        ("grpc.http2.max_ping_strikes", 0),
        # A second server on a taken port must fail, not share it (unless the
        # service runs several worker processes on purpose).
        ("grpc.so_reuseport", int(reuse_port)),
    ]


@dataclass(frozen=True)
class Handler:
    """A servicer, its generated registration function and its descriptor."""

    servicer: Any
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    descriptor: ServiceDescriptor


@dataclass
class Service:
    """What a service plugs into the chassis."""

    name: str
    handlers: Sequence[Handler]
    metrics: Metrics = field(default_factory=lambda: Metrics("server"))
    on_start: Callable[[], Awaitable[None]] | None = None
    on_stop: Callable[[], Awaitable[None]] | None = None
    background: list[asyncio.Task[None]] = field(default_factory=list)
    # The audit log the service writes to (the chassis adds auth failures).
    audit: AuditLog | None = None

    @property
    def full_names(self) -> list[str]:
        """Fully qualified gRPC service names, for health and reflection."""
        return [h.descriptor.full_name for h in self.handlers]


def single_servicer(
    name: str,
    descriptor: ServiceDescriptor,
    servicer: Any,
    add_to_server: Callable[[Any, grpc.aio.Server], None],
    audit: AuditLog | None = None,
) -> Service:
    """A Service made of one servicer and nothing to start or stop."""
    return Service(name, [Handler(servicer, add_to_server, descriptor)], Metrics(name), audit=audit)


class Server:
    """One running gRPC server for one service."""

    def __init__(
        self, settings: ServerSettings, service: Service, reuse_port: bool = False
    ) -> None:
        self.settings = settings
        self.service = service
        self.reuse_port = reuse_port
        self.metrics = service.metrics
        keys = KeyRing.from_sources(settings.api_keys_file, settings.api_keys)
        tenants = tenants_source(settings.tenants_file, settings.tenants_reload_interval)
        self.audit = service.audit or audit_log(settings, service.name, tenants)
        self.authenticator = Authenticator(
            keys,
            dev_mode=settings.dev_mode,
            public_reflection=settings.public_reflection,
            tenants=tenants if settings.tenants_file else None,
            internal=internal_identity(settings),
            internal_peers=settings.internal_peers,
            certificates=settings.tls_require_client_cert,
        )
        self.health = health.aio.HealthServicer()
        self.port = 0
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._stopping = False

    async def start(self) -> int:
        server = grpc.aio.server(options=server_options(self.settings, self.reuse_port))
        instrument = Instrumentation(self.authenticator, self.metrics, self.audit)
        names = [*self.service.full_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
        handlers = [
            *self.service.handlers,
            Handler(self.health, health_pb2_grpc.add_HealthServicer_to_server, HEALTH),
            Handler(
                reflection.aio.ReflectionServicer(names),
                reflection_pb2_grpc.add_ServerReflectionServicer_to_server,
                REFLECTION,
            ),
        ]
        for handler in handlers:
            handler.add_to_server(instrument.wrap(handler.servicer, handler.descriptor), server)
        address = f"{self.settings.host}:{self.settings.port}"
        credentials = server_credentials(self.settings)
        if credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, credentials)
        if self.service.on_start is not None:
            await self.service.on_start()
        await server.start()
        self._server = server
        # Everything alive now lives as long as the server: keep it out of the
        # collector's sweeps, so requests that allocate a lot (an AST per policy
        # check) do not pay for walking it again and again.
        gc.collect()
        gc.freeze()
        serving = health_pb2.HealthCheckResponse.SERVING
        for name in ("", *self.service.full_names):
            await self.health.set(name, serving)
        if self.settings.metrics_port >= 0:
            self.metrics_port = self.metrics.serve_http(
                self.settings.host, self.settings.metrics_port
            )
        log.info(
            "server.started",
            service=self.service.name,
            address=f"{self.settings.host}:{self.port}",
            metrics_port=self.metrics_port or None,
            auth="dev" if self.settings.dev_mode else "api_key",
            tls=("mtls" if self.settings.tls_require_client_cert else "tls")
            if self.settings.tls_cert_file
            else "off",
        )
        return self.port

    async def stop(self, grace: float | None = None) -> None:
        """Drain: NOT_SERVING, let in-flight RPCs finish, then shut down."""
        if self._stopping or self._server is None:
            return
        self._stopping = True
        await self.health.enter_graceful_shutdown()
        grace = self.settings.drain_grace if grace is None else grace
        log.info("server.draining", service=self.service.name, grace_s=grace)
        await self._server.stop(grace)
        for task in self.service.background:
            task.cancel()
        if self.service.on_stop is not None:
            await self.service.on_stop()
        self.metrics.stop_http()
        self.audit.close()
        log.info("server.stopped", service=self.service.name)

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def server_credentials(settings: ServerSettings) -> grpc.ServerCredentials | None:
    """TLS for the listening port, mutual when the settings require it."""
    if not settings.tls_cert_file and not settings.tls_key_file:
        if settings.tls_require_client_cert:
            raise ValueError("tls_require_client_cert needs tls_cert_file and tls_key_file")
        return None
    if not (settings.tls_cert_file and settings.tls_key_file):
        raise ValueError("TLS needs both tls_cert_file and tls_key_file")
    if settings.tls_require_client_cert and not settings.tls_ca_file:
        raise ValueError("tls_require_client_cert needs tls_ca_file to verify clients")
    try:
        pair = (Path(settings.tls_key_file).read_bytes(), Path(settings.tls_cert_file).read_bytes())
        ca = Path(settings.tls_ca_file).read_bytes() if settings.tls_require_client_cert else None
    except OSError as exc:
        raise ValueError(f"TLS files: {exc}") from None
    return grpc.ssl_server_credentials(
        [pair], root_certificates=ca, require_client_auth=settings.tls_require_client_cert
    )


def internal_identity(settings: ServerSettings) -> InternalIdentity | None:
    """The signer of internal identities, if the services share a secret."""
    secret = settings.internal_secret
    if settings.internal_secret_file:
        try:
            secret = Path(settings.internal_secret_file).read_text().strip()
        except OSError as exc:
            raise ValueError(f"internal_secret_file: {exc}") from None
    return InternalIdentity(secret.encode()) if secret else None


@contextlib.asynccontextmanager
async def running(settings: ServerSettings, service: Service) -> AsyncIterator[Server]:
    """Start a server for the duration of a block (tests, embedding)."""
    server = Server(settings, service)
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=0.5)


async def serve(settings: ServerSettings, service: Service, reuse_port: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then drain."""
    server = Server(settings, service, reuse_port)
    await server.start()
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()

"""Typed connection settings: target, TLS, token, timeouts, retries, keepalive."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

MIB = 1 << 20


@dataclass(frozen=True)
class TLSConfig:
    """Server verification and, for mutual TLS, the client's certificate."""

    # PEM file of the CA that signed the server; None uses the system roots.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    # Expected name in the server certificate, if it differs from the target.
    server_name: str | None = None

    @classmethod
    def from_env(cls) -> TLSConfig | None:
        """From $CODEACT_TLS_CA_FILE, $CODEACT_TLS_CERT_FILE, $CODEACT_TLS_KEY_FILE
        and $CODEACT_TLS_SERVER_NAME; None (plaintext) when none is set."""
        values = {
            name: os.environ.get(f"CODEACT_TLS_{name.upper()}") or None
            for name in ("ca_file", "cert_file", "key_file", "server_name")
        }
        if not any(values.values()):
            return None
        return cls(**values)

    def credentials(self) -> grpc.ChannelCredentials:
        def read(path: str | None) -> bytes | None:
            return Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(
            root_certificates=read(self.ca_file),
            private_key=read(self.key_file),
            certificate_chain=read(self.cert_file),
        )


@dataclass(frozen=True)
class KeepAliveConfig:
    """HTTP/2 keepalive pings, so dead connections are noticed."""

    time: float = 30.0
    timeout: float = 10.0
    permit_without_calls: bool = True


# Reads: safe to send again. Nothing that runs, writes or creates is retried
# (a retried Execute could run a cell twice).
IDEMPOTENT_METHODS = {
    "ExecutorService": (
        "GetSession",
        "ListSessions",
        "ListFiles",
        "DownloadFile",
        "GetRuntimeInfo",
    ),
    "PolicyService": ("CheckCode", "ListProfiles", "GetProfile"),
    "MemoryService": ("GetConversation", "ListConversations", "ListEvents"),
    "AgentService": ("GetAgentSession", "ListAgentSessions"),
}


@dataclass(frozen=True)
class RetryConfig:
    """Retries of idempotent RPCs on UNAVAILABLE, by the channel (gRPC retry policy)."""

    max_attempts: int = 3
    initial_backoff: float = 0.1
    max_backoff: float = 1.0
    backoff_multiplier: float = 2.0

    def service_config(self) -> str:
        names = [
            {"service": f"codeact.v1.{service}", "method": method}
            for service, methods in IDEMPOTENT_METHODS.items()
            for method in methods
        ]
        policy = {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff}s",
            "maxBackoff": f"{self.max_backoff}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
        return json.dumps({"methodConfig": [{"name": names, "retryPolicy": policy}]})


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach a CodeAct server."""

    target: str = "127.0.0.1:50051"
    # Bearer API key; defaults to $CODEACT_API_KEY.
    token: str | None = field(default_factory=lambda: os.environ.get("CODEACT_API_KEY") or None)
    # TLS (and mTLS with a client certificate); defaults to $CODEACT_TLS_*.
    tls: TLSConfig | None = field(default_factory=TLSConfig.from_env)
    # Deadline of unary calls, in seconds.
    timeout: float = 30.0
    # Deadline of a streamed cell beyond its own limit; None waits for the server.
    stream_timeout: float | None = None
    keepalive: KeepAliveConfig = field(default_factory=KeepAliveConfig)
    # None turns retries off.
    retry: RetryConfig | None = field(default_factory=RetryConfig)
    max_message_bytes: int = 16 * MIB

    def channel_options(self) -> list[tuple[str, object]]:
        options: list[tuple[str, object]] = [
            ("grpc.max_send_message_length", self.max_message_bytes),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.keepalive_time_ms", int(self.keepalive.time * 1000)),
            ("grpc.keepalive_timeout_ms", int(self.keepalive.timeout * 1000)),
            ("grpc.keepalive_permit_without_calls", int(self.keepalive.permit_without_calls)),
            ("grpc.http2.max_pings_without_data", 0),
        ]
        if self.retry is not None and self.retry.max_attempts > 1:
            options.append(("grpc.service_config", self.retry.service_config()))
        else:
            options.append(("grpc.enable_retries", 0))
        if self.tls is not None and self.tls.server_name:
            options.append(("grpc.ssl_target_name_override", self.tls.server_name))
        return options

    def with_changes(self, **changes: Any) -> ConnectionSettings:
        """A copy with the given fields changed; None leaves a field as it is."""
        given = {k: v for k, v in changes.items() if v is not None}
        return ConnectionSettings(**{**self.__dict__, **given})

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel(self) -> grpc.Channel:
        """A synchronous channel with these settings."""
        if self.tls is not None:
            return grpc.secure_channel(self.target, self.tls.credentials(), self.channel_options())
        return grpc.insecure_channel(self.target, self.channel_options())

    def aio_channel(self) -> grpc.aio.Channel:
        """An asyncio channel with these settings."""
        if self.tls is not None:
            return grpc.aio.secure_channel(
                self.target, self.tls.credentials(), self.channel_options()
            )
        return grpc.aio.insecure_channel(self.target, self.channel_options())

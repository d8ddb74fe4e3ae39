"""Channels from one service to another, with the same message-size and
keepalive options as the servers, over TLS when the service has a CA (and
presenting its own certificate, for mTLS)."""

from __future__ import annotations

from pathlib import Path

import grpc

from .settings import ServerSettings


def channel_options(settings: ServerSettings) -> list[tuple[str, int | str]]:
    options: list[tuple[str, int | str]] = [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
    ]
    if settings.tls_ca_file and settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return options


def channel_credentials(settings: ServerSettings) -> grpc.ChannelCredentials | None:
    """TLS credentials for calls to our other services, or None for plaintext."""
    if not settings.tls_ca_file:
        return None

    def read(path: str) -> bytes | None:
        return Path(path).read_bytes() if path else None

    return grpc.ssl_channel_credentials(
        root_certificates=read(settings.tls_ca_file),
        private_key=read(settings.tls_key_file),
        certificate_chain=read(settings.tls_cert_file),
    )


def internal_channel(target: str, settings: ServerSettings) -> grpc.aio.Channel:
    credentials = channel_credentials(settings)
    if credentials is None:
        return grpc.aio.insecure_channel(target, options=channel_options(settings))
    return grpc.aio.secure_channel(target, credentials, options=channel_options(settings))

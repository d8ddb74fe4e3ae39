"""Channels from one service to another, with the same message-size and
keepalive options as the servers. (The place where TLS between services
will be configured.)"""

from __future__ import annotations

import grpc

from .settings import ServerSettings


def channel_options(settings: ServerSettings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", settings.max_message_bytes),
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.keepalive_time_ms", int(settings.keepalive_time * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout * 1000)),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def internal_channel(target: str, settings: ServerSettings) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=channel_options(settings))

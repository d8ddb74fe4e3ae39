"""Offset paging with opaque tokens, shared by every List RPC."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from codeact.errors import invalid

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, value = raw.partition(":")
        offset = int(value)
        if kind != "o" or offset < 0:
            raise ValueError(raw)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid("page_token", "is not a token returned by this service") from None
    return offset


def page_size(requested: int) -> int:
    if requested < 0:
        raise invalid("page_size", "must not be negative")
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def paginate(items: Sequence[T], requested_size: int, token: str) -> tuple[Sequence[T], str]:
    """One page of items and the token of the next page ("" at the end)."""
    size = page_size(requested_size)
    offset = decode_token(token)
    chunk = items[offset : offset + size]
    following = offset + size
    return chunk, encode_token(following) if following < len(items) else ""

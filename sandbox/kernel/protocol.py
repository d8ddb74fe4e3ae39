"""Framing between the executor and the in-jail kernel. Standard library only.

A frame is an 8-byte prefix (header length, body length; big-endian u32), a
JSON header and an opaque body. JSON and raw bytes only: pickle never crosses
the jail boundary. Both sides import this module; inside the jail it is
loaded from the read-only kernel directory.
"""

from __future__ import annotations

import json
import os
import struct

PREFIX = struct.Struct(">II")
# Bounds a well-behaved kernel never approaches; the host treats anything
# larger as a protocol violation (user code can write to the channel).
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20


class ProtocolError(Exception):
    """A frame that cannot be decoded."""


def encode(header: dict[str, object], body: bytes = b"") -> bytes:
    """Encode one frame."""
    head = json.dumps(header, separators=(",", ":")).encode()
    return PREFIX.pack(len(head), len(body)) + head + body


def decode_prefix(prefix: bytes) -> tuple[int, int]:
    """Return (header length, body length), rejecting oversized frames."""
    head_len, body_len = PREFIX.unpack(prefix)
    if head_len > MAX_HEADER_BYTES or body_len > MAX_BODY_BYTES:
        raise ProtocolError(f"frame too large: header={head_len} body={body_len}")
    return head_len, body_len


def decode_header(raw: bytes) -> dict[str, object]:
    """Decode a JSON header that must be an object."""
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ProtocolError(f"bad frame header: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("frame header is not an object")
    return header


def read_exactly(fd: int, n: int) -> bytes | None:
    """Blocking read of exactly n bytes; None on end of file."""
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[dict[str, object], bytes] | None:
    """Blocking read of one frame from a file descriptor; None on end of file."""
    prefix = read_exactly(fd, PREFIX.size)
    if prefix is None:
        return None
    head_len, body_len = decode_prefix(prefix)
    head = read_exactly(fd, head_len)
    body = read_exactly(fd, body_len) if body_len else b""
    if head is None or body is None:
        return None
    return decode_header(head), body


def write_all(fd: int, data: bytes) -> None:
    """Blocking write of all of data."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]

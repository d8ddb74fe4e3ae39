"""The framing between the executor and the kernel."""

from __future__ import annotations

import os

import pytest

from sandbox.kernel import protocol
from sandbox.kernel.channel import Pump


def test_frames_round_trip_through_a_pipe() -> None:
    r, w = os.pipe()
    try:
        protocol.write_all(w, protocol.encode({"t": "out", "cell": 3}, b"\x00\xffbytes"))
        protocol.write_all(w, protocol.encode({"t": "done"}))
        assert protocol.read_frame(r) == ({"t": "out", "cell": 3}, b"\x00\xffbytes")
        assert protocol.read_frame(r) == ({"t": "done"}, b"")
        os.close(w)
        w = -1
        assert protocol.read_frame(r) is None
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_oversized_or_malformed_frames_are_rejected() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_prefix(protocol.PREFIX.pack(protocol.MAX_HEADER_BYTES + 1, 0))
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_prefix(protocol.PREFIX.pack(10, protocol.MAX_BODY_BYTES + 1))
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_header(b"[1, 2]")
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_header(b"{not json")


class _Frames:
    def __init__(self) -> None:
        self.sent: list[tuple[dict[str, object], bytes]] = []

    def send(self, header: dict[str, object], body: bytes = b"") -> None:
        self.sent.append((header, body))


def test_pump_forwards_everything_written_before_sync_and_caps_a_cell() -> None:
    read_end, write_end = os.pipe()
    frames = _Frames()
    pump = Pump(read_end, "stdout", frames)  # type: ignore[arg-type]
    pump.start()
    try:
        os.write(write_end, b"between cells is dropped\n")
        pump.sync(5)
        pump.begin(cell=1, limit=10)
        for _ in range(200):
            os.write(write_end, b"abc")
        pump.sync(5)  # returns only when the pipe is drained
        assert b"".join(body for _, body in frames.sent) == b"abcabcabca"
        assert all(h["cell"] == 1 for h, _ in frames.sent)
        assert pump.truncated
        pump.end()
    finally:
        os.close(write_end)
        pump.join(5)
        os.close(read_end)

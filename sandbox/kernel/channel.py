"""The kernel's side of the control channel, and capture of fds 1 and 2."""

from __future__ import annotations

import os
import threading

from . import protocol

# Written by the kernel into its own stdout/stderr pipes at the end of a cell;
# when a pump reads it back, everything written before it has been forwarded.
SYNC_MARK = b"\x00\x1b[codeact-sync]\x00"


class Channel:
    """Writes frames to the host; safe to use from several threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, header: dict[str, object], body: bytes = b"") -> None:
        frame = protocol.encode(header, body)
        with self._lock:
            protocol.write_all(self.fd, frame)


def _held_prefix(data: bytes, mark: bytes) -> int:
    """Length of the longest suffix of data that is a proper prefix of mark."""
    for n in range(min(len(mark) - 1, len(data)), 0, -1):
        if data.endswith(mark[:n]):
            return n
    return 0


class Pump(threading.Thread):
    """Forwards what is written to one fd (1 or 2) as output frames.

    The fd is a pipe owned by the kernel, so output from print(), os.write()
    and child processes all arrives here in the order it was written.
    """

    def __init__(self, read_fd: int, write_fd: int, name: str, channel: Channel) -> None:
        super().__init__(name=f"pump-{name}", daemon=True)
        self.read_fd = read_fd
        self.write_fd = write_fd
        self.stream = name
        self.channel = channel
        self.cell: int | None = None
        self.limit = 0
        self.forwarded = 0
        self.truncated = False
        self._synced = threading.Event()

    def begin(self, cell: int, limit: int) -> None:
        self.cell = cell
        self.limit = limit
        self.forwarded = 0
        self.truncated = False

    def sync(self, timeout: float) -> None:
        """Wait until everything written so far has been forwarded."""
        self._synced.clear()
        try:
            protocol.write_all(self.write_fd, SYNC_MARK)
        except OSError:
            return  # user code closed or replaced the fd; nothing to wait for
        self._synced.wait(timeout)

    def end(self) -> None:
        self.cell = None

    def _forward(self, data: bytes) -> None:
        if not data or self.cell is None:
            return  # output between cells (background threads, timers) is dropped
        room = self.limit - self.forwarded
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        self.forwarded += len(data)
        self.channel.send({"t": "out", "cell": self.cell, "name": self.stream}, data)

    def run(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except OSError:
                return
            if not data:
                return
            buf = pending + data
            while (at := buf.find(SYNC_MARK)) >= 0:
                self._forward(buf[:at])
                buf = buf[at + len(SYNC_MARK) :]
                self._synced.set()
            held = _held_prefix(buf, SYNC_MARK)
            self._forward(buf[: len(buf) - held])
            pending = buf[len(buf) - held :]

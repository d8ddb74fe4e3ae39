"""The kernel's side of the control channel, and capture of fds 1 and 2."""

from __future__ import annotations

import array
import fcntl
import os
import select
import termios
import threading
import time

from . import protocol


class Channel:
    """Writes frames to the host; safe to use from several threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, header: dict[str, object], body: bytes = b"") -> None:
        frame = protocol.encode(header, body)
        with self._lock:
            protocol.write_all(self.fd, frame)


def _pending(fd: int) -> int:
    """Bytes waiting in a pipe."""
    buf = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, buf)
    return buf[0]


class Pump(threading.Thread):
    """Forwards what is written to one fd (1 or 2) as output frames.

    The fd is a pipe owned by the kernel, so output from print(), os.write()
    and child processes all arrives here in the order it was written. The
    pipe is only read under the lock, so whoever holds the lock and sees it
    empty knows that everything written so far has been forwarded.
    """

    def __init__(self, read_fd: int, name: str, channel: Channel) -> None:
        super().__init__(name=f"pump-{name}", daemon=True)
        self.read_fd = read_fd
        self.stream = name
        self.channel = channel
        self.cell: int | None = None
        self.limit = 0
        self.forwarded = 0
        self.truncated = False
        self._lock = threading.Lock()
        self._drained = threading.Condition(self._lock)

    def begin(self, cell: int, limit: int) -> None:
        with self._lock:
            self.cell = cell
            self.limit = limit
            self.forwarded = 0
            self.truncated = False

    def sync(self, timeout: float) -> None:
        """Return once everything written so far has been forwarded."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while _pending(self.read_fd):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._drained.wait(remaining)

    def end(self) -> None:
        with self._lock:
            self.cell = None

    def _forward(self, data: bytes) -> None:
        if self.cell is None:
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
        while True:
            try:
                select.select([self.read_fd], [], [])
                with self._lock:
                    data = os.read(self.read_fd, 65536)
                    if data:
                        self._forward(data)
                    self._drained.notify_all()
            except OSError:
                return
            if not data:
                return

"""Checkpoints: paused copy-on-write copies of the kernel, in the same jail.

A checkpoint is a fork of the kernel between cells. The copy keeps the whole
interpreter state (variables, imported modules, objects) and waits, holding
no control channel, on a socket only the live kernel has. To restore, the
live kernel hands the copy its channel, its capture pipes and the sockets of
the checkpoints older than the copy (SCM_RIGHTS), names it as successor to
pid 1, and exits; the copy restarts its threads and carries on as the
kernel. Closing a checkpoint's socket ends it. Checkpoints newer than the
one restored end with the old kernel, since only it held their sockets.

Not captured: the workspace (files are shared), the bash shell (a fresh one
starts), threads started by user code, and positions of files opened in
user code (shared with the live kernel).
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from typing import Any

MAX_FDS = 253


class Snapshot:
    __slots__ = ("count", "pid", "sock")

    def __init__(self, pid: int, sock: socket.socket, count: int) -> None:
        self.pid = pid
        self.sock = sock
        self.count = count


class Checkpoints:
    """The live kernel's checkpoints, by id."""

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.snapshots: dict[str, Snapshot] = {}
        # Ids in creation order, so a restore knows which ones are older.
        self.order: list[str] = []
        # In a restored copy: the id of the request that restored it.
        self.resumed_request: object = None

    def create(self, checkpoint_id: str) -> int | None:
        """Fork a paused copy; its pid in the live kernel. In the copy this
        returns (None) only once the copy has been restored as the kernel."""
        import socket

        self.drop(checkpoint_id)
        kernel_end, copy_end = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            kernel_end.close()
            self._pause(copy_end)
            return None
        copy_end.close()
        self.snapshots[checkpoint_id] = Snapshot(pid, kernel_end, self.kernel.cells.count)
        self.order.append(checkpoint_id)
        return pid

    def drop(self, checkpoint_id: str) -> bool:
        snapshot = self.snapshots.pop(checkpoint_id, None)
        if snapshot is None:
            return False
        self.order.remove(checkpoint_id)
        snapshot.sock.close()
        self._reap(snapshot.pid)
        return True

    def _reap(self, pid: int) -> None:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # adopted by pid 1 after an earlier restore; it reaps

    def restore(self, checkpoint_id: str, request_id: object) -> None:
        """Hand everything to the copy and exit. Never returns on success."""
        import socket

        snapshot = self.snapshots[checkpoint_id]
        older = self.order[: self.order.index(checkpoint_id)]
        kernel = self.kernel
        fds = [kernel.ctrl_in, kernel.channel.fd, *(p.read_fd for p in kernel.pumps)]
        fds += [self.snapshots[i].sock.fileno() for i in older]
        message = {
            "request": request_id,
            "older": [[i, self.snapshots[i].pid, self.snapshots[i].count] for i in older],
        }
        socket.send_fds(snapshot.sock, [json.dumps(message).encode()], fds)
        kernel.name_successor(snapshot.pid)
        os._exit(0)

    def _pause(self, sock: socket.socket) -> None:
        """In the copy: drop the kernel's descriptors, wait to be restored or ended."""
        import socket

        kernel = self.kernel
        for snapshot in self.snapshots.values():
            snapshot.sock.close()
        self.snapshots.clear()
        self.order.clear()
        for fd in (kernel.ctrl_in, kernel.channel.fd, *(p.read_fd for p in kernel.pumps)):
            try:
                os.close(fd)
            except OSError:
                pass
        kernel.shell.forget()
        try:
            data, fds, _, _ = socket.recv_fds(sock, 1 << 16, MAX_FDS)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)  # the checkpoint was dropped, or its kernel is gone
        message = json.loads(data)
        ctrl_in, ctrl_out, *rest = fds
        pump_fds, older_fds = rest[: len(kernel.pumps)], rest[len(kernel.pumps) :]
        for (checkpoint_id, pid, count), fd in zip(message["older"], older_fds, strict=True):
            self.snapshots[checkpoint_id] = Snapshot(pid, socket.socket(fileno=fd), count)
            self.order.append(checkpoint_id)
        sock.close()
        self.resumed_request = message["request"]
        kernel.resume(ctrl_in, ctrl_out, pump_fds)

"""Entry point of the kernel inside the jail.

Started as pid 1 of the jail's pid namespace with the control channel on
fds 0 (requests) and 1 (events). It forks: the parent stays pid 1 and only
reaps orphans; the child is the kernel. The kernel keeps the control fds
private, gives user code /dev/null as stdin and pipes as stdout/stderr, and
runs requests from the host one at a time.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import sys
import threading

from . import protocol
from .cells import PythonCells
from .channel import Channel, Pump
from .checkpoints import Checkpoints
from .shell import Shell

SYNC_TIMEOUT = 1.0
STREAMS = ("stdout", "stderr")


def _init_loop(kernel_pid: int, succession: int) -> None:
    """Pid 1: reap every orphan; leave with the kernel's exit status, unless
    the kernel named a successor (a restored checkpoint) before it exited."""
    devnull = os.open("/dev/null", os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.closerange(3, succession)
    os.closerange(succession + 1, 1 << 16)
    os.set_blocking(succession, False)
    pending = b""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid != kernel_pid:
            continue
        try:
            pending += os.read(succession, 64)
        except BlockingIOError:
            pass
        line, newline, pending = pending.partition(b"\n")
        if newline:
            kernel_pid = int(line)
            continue
        code = os.waitstatus_to_exitcode(status)
        os._exit(code if code >= 0 else 128 - code)


def _private_fd(fd: int) -> int:
    moved = os.dup(fd)
    os.set_inheritable(moved, False)
    return moved


def _text_stream(fd: int) -> io.TextIOWrapper:
    raw = io.FileIO(fd, "w", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace", write_through=True)


class Kernel:
    """Serves the host's requests."""

    def __init__(self, ctrl_in: int, channel: Channel, pumps: list[Pump], succession: int) -> None:
        self.ctrl_in = ctrl_in
        self.channel = channel
        self.pumps = pumps
        self.succession = succession
        self.cells = PythonCells(channel, self.sync_output)
        self.shell = Shell(self.cells)
        self.checkpoints = Checkpoints(self)
        self.output_limit = 1 << 20

    def watch_host(self) -> None:
        """Watchdog thread: the host closing the channel ends the kernel at
        once, even while a cell is running. It only waits for the hang-up;
        requests are read by the main thread, with no hand-off between threads."""
        poller = select.poll()
        poller.register(self.ctrl_in, 0)  # POLLHUP and POLLERR are always reported
        while True:
            for _, events in poller.poll():
                if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
                    os._exit(0)

    def name_successor(self, pid: int) -> None:
        """Tell pid 1 that pid carries on as the kernel after this one exits."""
        protocol.write_all(self.succession, f"{pid}\n".encode())

    def resume(self, ctrl_in: int, ctrl_out: int, pump_fds: list[int]) -> None:
        """In a checkpoint being restored: take over the channel and pipes."""
        self.ctrl_in = ctrl_in
        self.channel = self.cells.channel = Channel(ctrl_out)
        self.pumps = [
            Pump(fd, name, self.channel) for fd, name in zip(pump_fds, STREAMS, strict=True)
        ]
        for pump in self.pumps:
            pump.start()
        threading.Thread(target=self.watch_host, name="watchdog", daemon=True).start()

    def serve(self) -> None:
        threading.Thread(target=self.watch_host, name="watchdog", daemon=True).start()
        self.channel.send({"t": "ready", "python": sys.version.split()[0]})
        while True:
            try:
                frame = protocol.read_frame(self.ctrl_in)
            except (OSError, protocol.ProtocolError):
                frame = None
            if frame is None:
                os._exit(0)
            header, body = frame
            op = header.get("op")
            if op == "exec":
                self.execute(header, body)
            elif op == "configure":
                self.configure(header)
            elif op in ("checkpoint", "restore", "drop_checkpoint"):
                self.checkpoint_op(op, header)
            elif op == "ping":
                self.channel.send({"t": "pong", "id": header.get("id")})
            else:
                self.channel.send({"t": "bad_request", "id": header.get("id"), "op": str(op)})

    def checkpoint_op(self, op: str, header: dict[str, object]) -> None:
        request = header.get("id")
        checkpoint_id = str(header.get("checkpoint", ""))
        if op == "checkpoint":
            self.checkpoint(checkpoint_id, request)
        elif op == "restore":
            if checkpoint_id in self.checkpoints.snapshots:
                self.checkpoints.restore(checkpoint_id, request)  # does not return
            self.channel.send({"t": "unknown_checkpoint", "id": request})
        else:
            found = self.checkpoints.drop(checkpoint_id)
            self.channel.send({"t": "dropped", "id": request, "found": found})

    def checkpoint(self, checkpoint_id: str, request: object) -> None:
        pid = self.checkpoints.create(checkpoint_id)
        if pid is not None:
            self.channel.send({"t": "checkpointed", "id": request, "pid": pid})
            return
        # fork() returned a second time: this is the copy, just restored. It
        # makes itself a new copy under the same id (restoring does not use a
        # checkpoint up), then answers the restore request that woke it.
        while True:
            answering = self.checkpoints.resumed_request
            pid = self.checkpoints.create(checkpoint_id)
            if pid is not None:
                self.channel.send(
                    {"t": "restored", "id": answering, "pid": os.getpid(), "copy": pid}
                )
                return

    def configure(self, header: dict[str, object]) -> None:
        """Lower the kernel's limits for a session; children inherit them."""
        applied: dict[str, object] = {}
        limits = header.get("rlimits")
        if isinstance(limits, dict):
            for name, value in limits.items():
                which = getattr(resource, name, None)
                if isinstance(which, int) and isinstance(value, int):
                    resource.setrlimit(which, (value, value))
                    applied[name] = value
        output = header.get("output_bytes")
        if isinstance(output, int) and output > 0:
            self.output_limit = output
            self.cells.result_limit = output
        self.channel.send({"t": "configured", "id": header.get("id"), "applied": applied})

    def sync_output(self) -> None:
        """Forward everything written to fds 1 and 2 so far."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - user code may have replaced or closed them
                pass
        for pump in self.pumps:
            pump.sync(SYNC_TIMEOUT)

    def execute(self, header: dict[str, object], body: bytes) -> None:
        cell = int(header.get("cell", 0))  # type: ignore[call-overload]
        code = body.decode("utf-8", errors="replace")
        for pump in self.pumps:
            pump.begin(cell, self.output_limit)
        usage_before = _cpu_seconds()
        if header.get("lang") == "bash":
            status = self.run_bash(cell, code)
        else:
            status = self.cells.run(cell, code)
        self.sync_output()
        for pump in self.pumps:
            pump.end()
        self.channel.send(
            {
                "t": "done",
                "cell": cell,
                "status": status,
                "count": self.cells.count,
                "cpu": _cpu_seconds() - usage_before,
                "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                "truncated": any(p.truncated for p in self.pumps),
            }
        )

    def run_bash(self, cell: int, code: str) -> str:
        self.cells.count += 1
        self.cells.cell = cell
        self.cells.pending_interrupt = False
        status, exit_status = self.shell.run(self.cells.count, code)
        if status != "ok":
            message = f"exit status {exit_status}"
            if self.shell.note:
                message += f"; {self.shell.note}"
            self.sync_output()
            self.channel.send(
                {
                    "t": "error",
                    "cell": cell,
                    "ename": "ExitStatus",
                    "evalue": message,
                    "traceback": [f"bash: {message}\n"],
                }
            )
        return status


def _cpu_seconds() -> float:
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_usage.ru_utime + self_usage.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    """Run the kernel; sys.argv[1:] are directories of packages for user code."""
    succession_read, succession_write = os.pipe()
    kernel_pid = os.fork()
    if kernel_pid:
        os.close(succession_write)
        _init_loop(kernel_pid, succession_read)
    os.close(succession_read)
    os.set_inheritable(succession_write, False)
    ctrl_in = _private_fd(0)
    ctrl_out = _private_fd(1)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    channel = Channel(ctrl_out)
    pumps = []
    for fd, name in zip((1, 2), STREAMS, strict=True):
        read_end, write_end = os.pipe()
        os.set_inheritable(read_end, False)
        os.dup2(write_end, fd)
        os.close(write_end)
        pump = Pump(read_end, name, channel)
        pump.start()
        pumps.append(pump)
    if len(sys.argv) > 1:
        import site

        for directory in sys.argv[1:]:
            site.addsitedir(directory)
    # The user's own modules in the working directory (the workspace) import,
    # as in a notebook; last, so a file there cannot shadow the stdlib the
    # kernel itself still imports lazily.
    sys.path.append(os.getcwd())
    sys.stdout = sys.__stdout__ = _text_stream(1)  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = _text_stream(2)  # type: ignore[misc]
    kernel = Kernel(ctrl_in, channel, pumps, succession_write)

    signal.signal(signal.SIGINT, lambda signum, frame: kernel.cells.on_sigint())
    kernel.serve()


if __name__ == "__main__":
    main()

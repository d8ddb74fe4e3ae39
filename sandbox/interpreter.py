"""One jailed interpreter and the conversation with its kernel.

Everything that comes out of the jail is untrusted: user code can write to
the control channel, so frames are size-checked, output is capped again on
this side, and a protocol violation ends the interpreter.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from codeact.errors import FailedPrecondition, NotFound, Unavailable

from .cgroups import Slot, SlotLimits
from .events import Completion, Display, Error, Event, Output, Result, Status
from .jail import JailSpec, address_space_limit
from .kernel import protocol
from .limits import Limits

STDERR_TAIL_BYTES = 8192
# Rich displays (figures) are not output text; they get their own allowance.
DISPLAY_ALLOWANCE_BYTES = 32 << 20


class _PidfdWatcher(asyncio.AbstractChildWatcher):
    """A pidfd per child, on whichever loop starts it (as Python 3.12 does).

    asyncio's default in 3.11 spends a thread per child, and its pidfd watcher
    is bound to one loop; servers on several loops (tests) need this one.
    """

    def add_child_handler(self, pid: int, callback: Any, *args: Any) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, self._reap, loop, pid, pidfd, callback, args)

    @staticmethod
    def _reap(
        loop: asyncio.AbstractEventLoop, pid: int, pidfd: int, callback: Any, args: Any
    ) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        try:
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            code = 255
        callback(pid, code, *args)

    def remove_child_handler(self, pid: int) -> bool:
        return False

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def __enter__(self) -> _PidfdWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


_watcher_installed = False


def _ensure_pidfd_watcher() -> None:
    global _watcher_installed
    if not _watcher_installed:
        asyncio.set_child_watcher(_PidfdWatcher())
        _watcher_installed = True


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (OSError, ValueError):
        return []


def _inner_pid(pid: int) -> int:
    """A process's pid in its own (innermost) pid namespace; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return 0


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the interpreter died"
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"the interpreter was killed by {name}"
    return f"the interpreter exited with code {code}"


@dataclass
class _Cell:
    number: int
    queue: asyncio.Queue[tuple[dict[str, Any], bytes] | None]
    timeout: float
    output_limit: int
    received: int = 0
    timed_out: bool = False
    interrupted: bool = False
    truncated: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)


class Interpreter:
    """A jailed Python kernel: start it, run cells, interrupt, kill."""

    def __init__(self, spec: JailSpec, slot: Slot, grace: float = 2.0) -> None:
        self.spec = spec
        self.slot = slot
        self.grace = grace
        self.process: asyncio.subprocess.Process | None = None
        self.kernel_pid = 0
        self.init_pid = 0
        self.python_version = ""
        self.alive = False
        self._cell_number = 0
        self._cell: _Cell | None = None
        self._settling: asyncio.Task[None] | None = None
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._request_id = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stderr_tail = bytearray()
        self._write_lock = asyncio.Lock()
        self.limits = spec.ceilings

    @property
    def busy(self) -> bool:
        return self._cell is not None

    @property
    def cells_run(self) -> int:
        return self._cell_number

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    # --- life ---------------------------------------------------------------
    async def start(self, timeout: float = 15.0) -> None:
        """Start the jail and wait for the kernel's ready frame."""
        _ensure_pidfd_watcher()
        self.process = await asyncio.create_subprocess_exec(
            *self.spec.argv(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        self._tasks.append(asyncio.create_task(self._drain_stderr()))
        try:
            async with asyncio.timeout(timeout):
                header, _ = await self._read_frame()
            if header.get("t") != "ready":
                raise protocol.ProtocolError(f"expected ready, got {header.get('t')!r}")
        except (TimeoutError, asyncio.IncompleteReadError, protocol.ProtocolError) as exc:
            await self.close()
            detail = self.stderr_tail() or type(exc).__name__
            raise Unavailable(
                "SANDBOX_START_FAILED",
                f"the sandbox did not start: {detail}",
            ) from exc
        self.python_version = str(header.get("python", ""))
        inits = _children(self.process.pid)
        self.init_pid = inits[0] if inits else 0
        kernels = _children(self.init_pid) if inits else []
        self.kernel_pid = kernels[0] if kernels else 0
        self.alive = True
        self._tasks.append(asyncio.create_task(self._read_loop()))

    async def close(self) -> None:
        """Kill the jail (every process in it) and release its cgroup."""
        self.alive = False
        process = self.process
        if process is not None and process.returncode is None:
            # Closing the channel lets the kernel exit and nsjail clean up;
            # SIGKILL follows if that takes too long.
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 0.5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        for _ in range(40):
            if self.slot.remove():
                break
            await asyncio.sleep(0.05)

    async def configure(self, limits: Limits) -> None:
        """Hold the interpreter to a session's limits (it starts at the ceilings)."""
        self.slot.set_limits(
            SlotLimits(limits.memory_bytes, limits.max_pids, limits.cpu_millicores)
        )
        await self.request(
            {
                "op": "configure",
                "rlimits": {
                    "RLIMIT_AS": address_space_limit(limits.memory_bytes),
                    "RLIMIT_FSIZE": limits.workspace_bytes,
                },
                "output_bytes": limits.output_bytes,
            }
        )
        self.limits = limits

    def kill_now(self) -> None:
        """SIGKILL the jail without waiting (its reader reports the death)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    def stderr_tail(self) -> str:
        return bytes(self._stderr_tail).decode("utf-8", errors="replace").strip()

    # --- channel ------------------------------------------------------------
    async def _read_frame(self) -> tuple[dict[str, Any], bytes]:
        assert self.process is not None and self.process.stdout is not None
        reader = self.process.stdout
        head_len, body_len = protocol.decode_prefix(await reader.readexactly(protocol.PREFIX.size))
        header = protocol.decode_header(await reader.readexactly(head_len))
        body = await reader.readexactly(body_len) if body_len else b""
        return header, body

    async def _send(self, header: dict[str, object], body: bytes = b"") -> None:
        assert self.process is not None and self.process.stdin is not None
        async with self._write_lock:
            self.process.stdin.write(protocol.encode(header, body))
            await self.process.stdin.drain()

    async def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        while chunk := await self.process.stderr.read(4096):
            self._stderr_tail += chunk
            del self._stderr_tail[:-STDERR_TAIL_BYTES]

    async def _read_loop(self) -> None:
        try:
            while True:
                header, body = await self._read_frame()
                self._dispatch(header, body)
        except (asyncio.IncompleteReadError, protocol.ProtocolError, OSError):
            pass  # end of file or a violation: either way this kernel is done
        finally:
            self.alive = False
            self.kill_now()
            if self._cell is not None:
                self._cell.queue.put_nowait(None)
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(_dead())
            self._replies.clear()

    def _dispatch(self, header: dict[str, Any], body: bytes) -> None:
        kind = header.get("t")
        cell = self._cell
        if kind in ("out", "result", "error", "display", "done"):
            if cell is None or header.get("cell") != cell.number:
                return  # a late frame of an abandoned cell, or noise
            if kind != "done":
                cell.received += len(body) + len(header.get("evalue", ""))
                if cell.received > cell.output_limit + DISPLAY_ALLOWANCE_BYTES:
                    cell.truncated = True
                    return
            cell.queue.put_nowait((header, body))
        elif isinstance(header.get("id"), int):
            future = self._replies.pop(header["id"], None)
            if future is not None and not future.done():
                future.set_result(header)

    async def request(self, header: dict[str, object], timeout: float = 5.0) -> dict[str, Any]:
        """Send a control request and wait for its reply."""
        if not self.alive:
            raise _dead()
        self._request_id += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[self._request_id] = future
        await self._send({**header, "id": self._request_id})
        async with asyncio.timeout(timeout):
            return await future

    # --- checkpoints --------------------------------------------------------
    def _jail_processes(self) -> list[int]:
        """Outside pids of the jail's processes: from its cgroup, or by
        walking the process tree when there is no cgroup."""
        if pids := self.slot.pids():
            return pids
        found, pending = [], [self.init_pid]
        while pending:
            pid = pending.pop()
            found.append(pid)
            pending.extend(_children(pid))
        return found

    async def host_pid(self, jail_pid: int) -> int:
        """The pid outside of a process known by its pid inside the jail."""
        for _ in range(50):  # a process being reparented can be briefly missing
            for pid in self._jail_processes():
                if _inner_pid(pid) == jail_pid:
                    return pid
            await asyncio.sleep(0.002)
        return 0

    async def checkpoint(self, checkpoint_id: str) -> int:
        """Fork a paused copy of the kernel; returns the copy's pid outside."""
        reply = await self.request({"op": "checkpoint", "checkpoint": checkpoint_id}, timeout=30)
        return await self.host_pid(int(reply.get("pid", 0)))

    async def restore(self, checkpoint_id: str) -> int:
        """Make a checkpoint the kernel (it stays available); returns the
        pid outside of the checkpoint's new copy."""
        reply = await self.request({"op": "restore", "checkpoint": checkpoint_id}, timeout=30)
        if reply.get("t") != "restored":
            raise NotFound("CHECKPOINT_NOT_FOUND", f"checkpoint {checkpoint_id!r} does not exist")
        self.kernel_pid = await self.host_pid(int(reply.get("pid", 0)))
        return await self.host_pid(int(reply.get("copy", 0)))

    async def drop_checkpoint(self, checkpoint_id: str) -> None:
        await self.request({"op": "drop_checkpoint", "checkpoint": checkpoint_id})

    # --- cells --------------------------------------------------------------
    async def execute(
        self, code: str, timeout: float, language: str = "python"
    ) -> AsyncIterator[Event]:
        """Run one cell (python or bash), yielding its events; the last one
        is a Completion."""
        if not self.alive:
            raise _dead()
        if self.busy:
            raise FailedPrecondition(
                "SESSION_BUSY", "a cell is already running in this session; wait or interrupt it"
            )
        loop = asyncio.get_running_loop()
        self._cell_number += 1
        output_limit = self.limits.output_bytes
        cell = _Cell(self._cell_number, asyncio.Queue(), timeout, output_limit)
        self._cell = cell
        self.slot.reset_peak()
        memory_events = self.slot.memory_events()
        started = loop.time()
        cell.timers.append(loop.call_later(timeout, self._on_timeout, cell))
        finished = False
        try:
            await self._send({"op": "exec", "cell": cell.number, "lang": language}, code.encode())
            decoders: dict[str, codecs.IncrementalDecoder] = {}
            sent = 0
            done: dict[str, Any] | None = None
            while (item := await cell.queue.get()) is not None:
                header, body = item
                kind = header["t"]
                if kind == "out":
                    room = output_limit - sent
                    if room <= 0:
                        cell.truncated = True
                        continue
                    if len(body) > room:
                        body, cell.truncated = body[:room], True
                    sent += len(body)
                    stream = "stderr" if header.get("name") == "stderr" else "stdout"
                    decoder = decoders.get(stream)
                    if decoder is None:
                        decoder = decoders[stream] = codecs.getincrementaldecoder("utf-8")(
                            errors="replace"
                        )
                    if text := decoder.decode(body):
                        yield Output(stream, text)
                elif kind == "result":
                    yield Result(_texts(header), _binaries(header, body), int(header["count"]))
                elif kind == "display":
                    yield Display(_texts(header), _binaries(header, body))
                elif kind == "error":
                    yield Error(
                        str(header.get("ename", "")),
                        str(header.get("evalue", "")),
                        [str(line) for line in header.get("traceback", [])],
                    )
                elif kind == "done":
                    done = header
                    break
            completion = await self._completion(cell, done, loop.time() - started, memory_events)
            self._end_cell(cell)
            finished = True
            yield completion
        finally:
            if not finished:
                self._abandon(cell)

    def interrupt(self) -> bool:
        """Interrupt the running cell; False when none is running."""
        cell = self._cell
        if cell is None or not self.alive:
            return False
        cell.interrupted = True
        self._signal_cell(cell)
        return True

    def _signal_cell(self, cell: _Cell) -> None:
        """SIGINT now, SIGKILL of the whole jail after the grace period."""
        if self.kernel_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.kernel_pid, signal.SIGINT)
        loop = asyncio.get_running_loop()
        cell.timers.append(loop.call_later(self.grace, self.kill_now))

    def _on_timeout(self, cell: _Cell) -> None:
        if self._cell is cell:
            cell.timed_out = True
            self._signal_cell(cell)

    def _end_cell(self, cell: _Cell) -> None:
        for timer in cell.timers:
            timer.cancel()
        if self._cell is cell:
            self._cell = None

    def _abandon(self, cell: _Cell) -> None:
        """The caller went away mid-cell (cancel, deadline): interrupt the cell
        and keep the session busy until it has settled."""
        if not self.alive:
            self._end_cell(cell)
            return
        cell.interrupted = True
        self._signal_cell(cell)

        async def settle() -> None:
            try:
                while (item := await cell.queue.get()) is not None:
                    if item[0].get("t") == "done":
                        break
            finally:
                self._end_cell(cell)

        self._settling = asyncio.get_running_loop().create_task(settle())

    async def _completion(
        self, cell: _Cell, done: dict[str, Any] | None, wall: float, memory_events: int
    ) -> Completion:
        limit_mib = self._memory_limit_mib()
        if done is None:
            exit_code = await self._exit_code()
            if cell.timed_out:
                status = Status.TIMEOUT
                message = (
                    f"the cell exceeded its {cell.timeout:g} s wall-time limit and did not stop "
                    "on interrupt; the interpreter was killed and its state is lost "
                    "(restart the session)"
                )
            elif cell.interrupted:
                status = Status.INTERRUPTED
                message = "the cell did not stop on interrupt; the interpreter was killed"
            elif self.slot.memory_events() > memory_events:
                status = Status.OOM
                message = (
                    f"the session exceeded its memory limit ({limit_mib} MiB); the interpreter "
                    "was killed and its state is lost (restart the session)"
                )
            else:
                status = Status.KILLED
                message = f"{_describe_exit(exit_code)}; its state is lost (restart the session)"
            return Completion(
                status,
                wall,
                0.0,
                self.slot.peak_memory(),
                cell.number,
                cell.truncated,
                False,
                message,
            )
        kernel_status = done.get("status")
        message = ""
        if cell.timed_out:
            status = Status.TIMEOUT
            message = (
                f"the cell exceeded its {cell.timeout:g} s wall-time limit and was interrupted; "
                "the interpreter kept its state"
            )
        elif kernel_status == "interrupted" and cell.interrupted:
            status = Status.INTERRUPTED
            message = "the cell was interrupted"
        elif kernel_status == "oom":
            status = Status.OOM
            message = f"MemoryError: the cell needed more than the session's {limit_mib} MiB"
        elif kernel_status in ("error", "interrupted"):
            status = Status.ERROR
        else:
            status = Status.OK
        if cell.truncated or done.get("truncated"):
            cell.truncated = True
        peak = self.slot.peak_memory() or int(done.get("maxrss_kb", 0)) * 1024
        return Completion(
            status,
            wall,
            float(done.get("cpu", 0.0)),
            peak,
            int(done.get("count", cell.number)),
            cell.truncated,
            self.alive,
            message,
        )

    def _memory_limit_mib(self) -> int:
        return self.limits.memory_bytes >> 20

    async def _exit_code(self) -> int | None:
        if self.process is None:
            return None
        try:
            return await asyncio.wait_for(self.process.wait(), 2.0)
        except TimeoutError:
            return None


def _dead() -> FailedPrecondition:
    return FailedPrecondition(
        "SESSION_DEAD",
        "the session's interpreter is not running; restart the session to get a fresh one",
    )


def _texts(header: dict[str, Any]) -> dict[str, str]:
    text = header.get("text")
    return {str(k): str(v) for k, v in text.items()} if isinstance(text, dict) else {}


def _binaries(header: dict[str, Any], body: bytes) -> dict[str, bytes]:
    """Binary representations: header['binary'] lists [mime, length] pairs
    that slice the body in order."""
    out: dict[str, bytes] = {}
    offset = 0
    for entry in header.get("binary") or []:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], int)):
            continue
        mime, length = str(entry[0]), entry[1]
        out[mime] = body[offset : offset + length]
        offset += length
    return out

"""The warm pool: interpreters started ahead of demand.

A session created from the pool skips the jail start (~50 ms); it costs a
workspace resize and a configure round trip instead. The pool is refilled
in the background, a few starts at a time, after every take.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import structlog

from .factory import JailFactory
from .interpreter import Interpreter
from .workspace import Workspace

log = structlog.get_logger("sandbox.pool")


class WarmPool:
    """Ready (workspace, interpreter) pairs for the python runtime."""

    def __init__(
        self,
        factory: JailFactory,
        size: int,
        parallel_starts: int = 2,
        refill_delay: float = 0.02,
    ) -> None:
        self.factory = factory
        self.size = max(0, size)
        self.parallel_starts = max(1, parallel_starts)
        # Starting a jail does synchronous work on the event loop (mounts,
        # cgroups, fork); waiting a moment lets the session that was just
        # taken finish its own setup first.
        self.refill_delay = refill_delay
        self.hits = 0
        self.misses = 0
        self.failures = 0
        self._ready: deque[tuple[Workspace, Interpreter]] = deque()
        self._wanted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def ready(self) -> int:
        return len(self._ready)

    def start(self) -> None:
        if self.size and self._task is None:
            self._task = asyncio.create_task(self._refill_forever())
            self._wanted.set()

    def take(self) -> tuple[Workspace, Interpreter] | None:
        """A ready pair, or None (a miss) when the pool is empty."""
        if self._ready:
            asyncio.get_running_loop().call_later(self.refill_delay, self._wanted.set)
        while self._ready:
            ws, interpreter = self._ready.popleft()
            if interpreter.alive:
                self.hits += 1
                return ws, interpreter
            self._discard_later(ws, interpreter)
        if self.size:
            self.misses += 1
        return None

    async def _start_one(self) -> None:
        ws = self.factory.new_workspace(self.factory.config.defaults.workspace_bytes)
        try:
            interpreter = await self.factory.start(ws)
        except BaseException:
            self.factory.release_workspace(ws)
            raise
        if self._closed:
            await interpreter.close()
            self.factory.release_workspace(ws)
            return
        self._ready.append((ws, interpreter))

    async def _refill_forever(self) -> None:
        while not self._closed:
            await self._wanted.wait()
            self._wanted.clear()
            while not self._closed and len(self._ready) < self.size:
                batch = min(self.parallel_starts, self.size - len(self._ready))
                results = await asyncio.gather(
                    *(self._start_one() for _ in range(batch)), return_exceptions=True
                )
                errors = [r for r in results if isinstance(r, BaseException)]
                if errors:
                    self.failures += len(errors)
                    log.warning("pool.start_failed", error=str(errors[0]), failures=self.failures)
                    await asyncio.sleep(1.0)  # do not spin on a broken host

    def _discard_later(self, ws: Workspace, interpreter: Interpreter) -> None:
        async def discard() -> None:
            await interpreter.close()
            self.factory.release_workspace(ws)

        asyncio.get_running_loop().create_task(discard())

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._ready:
            ws, interpreter = self._ready.popleft()
            await interpreter.close()
            self.factory.release_workspace(ws)

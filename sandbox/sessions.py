"""Sessions: tenant-owned, stateful jailed interpreters, and their registry."""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field

from codeact.errors import (
    CodeActError,
    FailedPrecondition,
    NotFound,
    ResourceExhausted,
    invalid,
    quota_exceeded,
)

from . import limits as limits_mod
from .events import Completion, Event, Status
from .factory import JailFactory
from .files import FileEntry, WorkspaceFiles
from .interpreter import Interpreter
from .limits import Limits
from .pool import WarmPool
from .workspace import Workspace

MAX_LABELS = 32
ROLLBACK_CHECKPOINT = "rollback"
MAX_LABEL_CHARS = 256


@dataclass
class CheckpointInfo:
    id: str
    created: float
    execution_count: int
    # The paused copy's pid outside the jail (for its memory).
    pid: int


class SessionState(enum.Enum):
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass
class Session:
    """One tenant's stateful sandbox: a workspace and the interpreter over it."""

    id: str
    tenant: str
    limits: Limits
    workspace: Workspace
    interpreter: Interpreter
    labels: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    last_active: float = field(default_factory=time.time)
    restart_count: int = 0
    # True when the interpreter came from the warm pool.
    warm: bool = False
    checkpoints: list[CheckpointInfo] = field(default_factory=list)
    # Serializes restart and delete (execution has its own busy check).
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deleted: bool = False

    @property
    def state(self) -> SessionState:
        if not self.interpreter.alive:
            return SessionState.DEAD
        return SessionState.BUSY if self.interpreter.busy else SessionState.IDLE

    @property
    def expires(self) -> float:
        return self.last_active + self.limits.idle_ttl

    @property
    def execution_count(self) -> int:
        return self.interpreter.cells_run

    def touch(self) -> None:
        self.last_active = time.time()


@dataclass(frozen=True)
class RegistryLimits:
    max_sessions: int = 1000
    max_sessions_per_tenant: int = 100
    max_code_bytes: int = 1 << 20
    # Largest file uploaded or downloaded.
    max_file_bytes: int = 64 << 20
    max_checkpoints: int = 8
    # Replace a dead interpreter at once, so a session outlives a kill.
    auto_restart: bool = True


@dataclass(frozen=True)
class TenantLimits:
    """What one tenant may have: the most a session may ask for, and how many."""

    ceilings: Limits
    max_sessions: int


class SessionRegistry:
    """Creates, finds and ends sessions; another tenant's session is NOT_FOUND."""

    def __init__(
        self,
        factory: JailFactory,
        quotas: RegistryLimits | None = None,
        instance: str = "local",
        pool: WarmPool | None = None,
        tenant_limits: Callable[[str], TenantLimits] | None = None,
    ) -> None:
        self.factory = factory
        self.quotas = quotas or RegistryLimits()
        self.instance = instance
        self.pool = pool
        self._tenant_limits = tenant_limits
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, int] = {}  # creations in flight, per tenant
        # Told of each session the idle reaper ends (the executor audits it).
        self.on_reaped: Callable[[Session], None] | None = None

    def limits_for(self, tenant: str) -> TenantLimits:
        """Per-tenant limits; without a tenant policy, the server's."""
        if self._tenant_limits is not None:
            return self._tenant_limits(tenant)
        return TenantLimits(self.ceilings, self.quotas.max_sessions_per_tenant)

    @property
    def defaults(self) -> Limits:
        return self.factory.config.defaults

    @property
    def ceilings(self) -> Limits:
        return self.factory.config.ceilings

    def _count(self, tenant: str) -> int:
        owned = sum(1 for s in self._sessions.values() if s.tenant == tenant)
        return owned + self._pending.get(tenant, 0)

    async def create(
        self,
        tenant: str,
        requested: Mapping[str, float] | None = None,
        labels: Mapping[str, str] | None = None,
        fit_to_ceilings: bool = False,
    ) -> Session:
        allowed = self.limits_for(tenant)
        ceilings = dataclasses.asdict(allowed.ceilings)
        defaults = self.defaults.capped_by(ceilings)
        requested = dict(requested or {})
        if fit_to_ceilings:
            requested = {k: min(v, ceilings.get(k, v)) for k, v in requested.items()}
        limits = limits_mod.resolve(requested, defaults, allowed.ceilings)
        clean_labels = _check_labels(labels or {})
        if len(self._sessions) + sum(self._pending.values()) >= self.quotas.max_sessions:
            raise quota_exceeded(
                "EXECUTOR_FULL",
                f"this executor holds its maximum of {self.quotas.max_sessions} sessions",
                f"executor:{self.instance}",
                self.quotas.max_sessions,
            )
        if self._count(tenant) >= allowed.max_sessions:
            raise quota_exceeded(
                "SESSION_QUOTA_EXCEEDED",
                f"tenant already has {allowed.max_sessions} sessions; delete one first",
                f"tenant:{tenant}",
                allowed.max_sessions,
            )
        self._pending[tenant] = self._pending.get(tenant, 0) + 1
        try:
            ws, interpreter, warm = await self._new_interpreter(limits)
        finally:
            self._pending[tenant] -= 1
        session = Session(
            id=f"{self.instance}-{secrets.token_hex(10)}",
            tenant=tenant,
            limits=limits,
            workspace=ws,
            interpreter=interpreter,
            labels=clean_labels,
            warm=warm,
        )
        self._sessions[session.id] = session
        return session

    async def _new_interpreter(self, limits: Limits) -> tuple[Workspace, Interpreter, bool]:
        """From the warm pool when it has one ready, else a cold start."""
        taken = self.pool.take() if self.pool is not None else None
        if taken is not None:
            ws, interpreter = taken
            try:
                if ws.size_bytes != limits.workspace_bytes:
                    ws.resize(limits.workspace_bytes)
                await interpreter.configure(limits)
                return ws, interpreter, True
            except Exception:  # noqa: BLE001 - a bad pooled jail falls back to a cold start
                await interpreter.close()
                self.factory.release_workspace(ws)
        ws, interpreter = await self._cold_start(limits)
        return ws, interpreter, False

    async def _cold_start(self, limits: Limits) -> tuple[Workspace, Interpreter]:
        ws = self.factory.new_workspace(limits.workspace_bytes)
        try:
            interpreter = await self.factory.start(ws)
        except BaseException:
            self.factory.release_workspace(ws)
            raise
        try:
            await interpreter.configure(limits)
        except BaseException:
            await interpreter.close()
            self.factory.release_workspace(ws)
            raise
        return ws, interpreter

    def get(self, tenant: str, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None or session.tenant != tenant or session.deleted:
            raise NotFound(
                "SESSION_NOT_FOUND",
                f"session {session_id!r} does not exist",
                metadata={"session_id": session_id},
            )
        return session

    def owned(self, tenant: str) -> list[Session]:
        owned = [s for s in self._sessions.values() if s.tenant == tenant and not s.deleted]
        return sorted(owned, key=lambda s: (s.created, s.id))

    async def delete(self, tenant: str, session_id: str) -> None:
        session = self.get(tenant, session_id)
        await self._end(session)

    async def _end(self, session: Session) -> None:
        async with session.lock:
            if session.deleted:
                return
            session.deleted = True
            self._sessions.pop(session.id, None)
            await session.interpreter.close()
            self.factory.release_workspace(session.workspace)

    async def restart(self, tenant: str, session_id: str) -> Session:
        """Replace the interpreter; variables are lost, the workspace stays."""
        session = self.get(tenant, session_id)
        await self._replace_interpreter(session)
        return session

    async def _replace_interpreter(self, session: Session) -> None:
        async with session.lock:
            if session.deleted:
                raise self._gone(session.id)
            await session.interpreter.close()
            interpreter = await self.factory.start(session.workspace)
            try:
                await interpreter.configure(session.limits)
            except BaseException:
                await interpreter.close()
                raise
            session.interpreter = interpreter
            session.restart_count += 1
            session.checkpoints.clear()  # they lived in the old jail
            session.touch()

    def _gone(self, session_id: str) -> NotFound:
        return NotFound(
            "SESSION_NOT_FOUND",
            f"session {session_id!r} does not exist",
            metadata={"session_id": session_id},
        )

    async def execute(
        self,
        tenant: str,
        session_id: str,
        code: str,
        timeout: float | None = None,
        language: str = "python",
        rollback_on_error: bool = False,
    ) -> AsyncIterator[Event]:
        """Run a cell; validation errors are raised before the first event.
        With rollback_on_error a failed cell leaves the interpreter as it was."""
        session = self.get(tenant, session_id)
        if not code.strip():
            raise invalid("code", "must not be empty", "CODE_EMPTY")
        size = len(code.encode("utf-8", errors="surrogatepass"))
        if size > self.quotas.max_code_bytes:
            raise invalid(
                "code",
                f"is {size} bytes; the limit is {self.quotas.max_code_bytes}",
                "CODE_TOO_LARGE",
            )
        cell_timeout = session.limits.cell_timeout
        if timeout is not None:
            if timeout < 0:
                raise invalid("timeout", "must not be negative", "INVALID_TIMEOUT")
            if timeout > cell_timeout:
                raise invalid(
                    "timeout",
                    f"{timeout:g} s is above the session's cell_timeout of {cell_timeout:g} s",
                    "INVALID_TIMEOUT",
                )
            if timeout:
                cell_timeout = timeout
        restarted_before = False
        if session.state is SessionState.DEAD:
            if not self.quotas.auto_restart:
                raise FailedPrecondition(
                    "SESSION_DEAD",
                    "the session's interpreter is not running; restart the session",
                    metadata={"session_id": session_id},
                )
            await self._replace_interpreter(session)
            restarted_before = True
        session.touch()
        interpreter = session.interpreter
        if rollback_on_error:
            await interpreter.checkpoint(ROLLBACK_CHECKPOINT)
        try:
            async for event in interpreter.execute(code, cell_timeout, language):
                if isinstance(event, Completion):
                    if rollback_on_error:
                        event = await self._roll_back(interpreter, event)
                    event = await self._after_cell(session, event, restarted_before)
                yield event
        finally:
            session.touch()

    async def _roll_back(self, interpreter: Interpreter, completion: Completion) -> Completion:
        """Restore the checkpoint taken before a failed cell; drop it either way."""
        if not interpreter.alive:
            return completion  # the checkpoint died with the jail
        rolled_back = False
        if completion.status is not Status.OK:
            await interpreter.restore(ROLLBACK_CHECKPOINT)
            rolled_back = True
        await interpreter.drop_checkpoint(ROLLBACK_CHECKPOINT)
        if not rolled_back:
            return completion
        return dataclasses.replace(
            completion,
            rolled_back=True,
            message=_join(
                completion.message, "the session's state was rolled back to before the cell"
            ),
        )

    async def _after_cell(
        self, session: Session, completion: Completion, restarted_before: bool
    ) -> Completion:
        """With auto-restart, a cell that killed the interpreter leaves a fresh one."""
        if restarted_before:
            completion = dataclasses.replace(
                completion,
                interpreter_restarted=True,
                message=_join(
                    "the interpreter had stopped; this cell ran in a fresh one", completion.message
                ),
            )
        if completion.interpreter_alive or not self.quotas.auto_restart or session.deleted:
            return completion
        try:
            await self._replace_interpreter(session)
        except CodeActError:
            return completion  # still dead; the next cell or RestartSession tries again
        return dataclasses.replace(
            completion,
            interpreter_restarted=True,
            message=_join(
                completion.message,
                "a fresh interpreter was started: variables are lost, files kept",
            ),
        )

    def _files(self, session: Session) -> WorkspaceFiles:
        session.touch()
        return WorkspaceFiles(session.workspace, self.quotas.max_file_bytes)

    async def upload(
        self,
        tenant: str,
        session_id: str,
        path: str,
        chunks: AsyncIterator[bytes],
        mode: int = 0o644,
        overwrite: bool = False,
    ) -> FileEntry:
        session = self.get(tenant, session_id)
        return await self._files(session).upload(path, chunks, mode, overwrite)

    def download(
        self, tenant: str, session_id: str, path: str
    ) -> tuple[FileEntry, Iterator[bytes]]:
        return self._files(self.get(tenant, session_id)).download(path)

    def list_files(
        self, tenant: str, session_id: str, path: str = "", recursive: bool = False
    ) -> tuple[list[FileEntry], bool]:
        return self._files(self.get(tenant, session_id)).listing(path, recursive)

    def _ready_for_checkpoints(self, session: Session) -> None:
        if session.state is SessionState.DEAD:
            raise FailedPrecondition("SESSION_DEAD", "the session's interpreter is not running")
        if session.interpreter.busy:
            raise FailedPrecondition(
                "SESSION_BUSY", "checkpoints are taken and restored between cells"
            )

    async def create_checkpoint(self, tenant: str, session_id: str) -> CheckpointInfo:
        session = self.get(tenant, session_id)
        async with session.lock:
            self._ready_for_checkpoints(session)
            if len(session.checkpoints) >= self.quotas.max_checkpoints:
                raise ResourceExhausted(
                    "CHECKPOINT_LIMIT",
                    f"a session keeps at most {self.quotas.max_checkpoints} checkpoints; "
                    "delete one first",
                    metadata={"limit": self.quotas.max_checkpoints},
                )
            checkpoint_id = f"ckpt-{secrets.token_hex(6)}"
            pid = await session.interpreter.checkpoint(checkpoint_id)
            info = CheckpointInfo(checkpoint_id, time.time(), session.execution_count, pid)
            session.checkpoints.append(info)
            session.touch()
            return info

    def _checkpoint(self, session: Session, checkpoint_id: str) -> CheckpointInfo:
        for info in session.checkpoints:
            if info.id == checkpoint_id:
                return info
        raise NotFound(
            "CHECKPOINT_NOT_FOUND",
            f"checkpoint {checkpoint_id!r} does not exist in this session",
            metadata={"checkpoint_id": checkpoint_id},
        )

    async def restore_checkpoint(self, tenant: str, session_id: str, checkpoint_id: str) -> Session:
        """Back to a checkpoint; it stays available, newer ones are gone."""
        session = self.get(tenant, session_id)
        async with session.lock:
            info = self._checkpoint(session, checkpoint_id)
            self._ready_for_checkpoints(session)
            info.pid = await session.interpreter.restore(checkpoint_id)
            del session.checkpoints[session.checkpoints.index(info) + 1 :]
            session.touch()
        return session

    async def delete_checkpoint(self, tenant: str, session_id: str, checkpoint_id: str) -> None:
        session = self.get(tenant, session_id)
        async with session.lock:
            info = self._checkpoint(session, checkpoint_id)
            self._ready_for_checkpoints(session)
            await session.interpreter.drop_checkpoint(checkpoint_id)
            session.checkpoints.remove(info)

    def interrupt(self, tenant: str, session_id: str) -> bool:
        return self.get(tenant, session_id).interpreter.interrupt()

    async def reap_idle(self, now: float | None = None) -> int:
        """Delete the sessions idle past their TTL; return how many."""
        now = time.time() if now is None else now
        expired = [
            s for s in list(self._sessions.values()) if not s.interpreter.busy and s.expires <= now
        ]
        for session in expired:
            await self._end(session)
            if self.on_reaped is not None:
                self.on_reaped(session)
        return len(expired)

    async def run_reaper(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.reap_idle()

    async def close(self) -> None:
        """End every session (executor shutdown)."""
        await asyncio.gather(
            *(self._end(s) for s in list(self._sessions.values())), return_exceptions=True
        )

    def __len__(self) -> int:
        return len(self._sessions)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _check_labels(labels: Mapping[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise invalid("labels", f"at most {MAX_LABELS} labels are allowed")
    for key, value in labels.items():
        if not key or len(key) > MAX_LABEL_CHARS or len(value) > MAX_LABEL_CHARS:
            raise invalid(
                f"labels[{key[:40]!r}]",
                f"keys must be 1-{MAX_LABEL_CHARS} characters, values at most {MAX_LABEL_CHARS}",
            )
    return dict(labels)

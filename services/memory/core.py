"""The memory service's core: conversations, events, contexts. No gRPC here."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from codeact.errors import NotFound, Unavailable, invalid, quota_exceeded
from codeact.v1 import common_pb2, events_pb2, memory_pb2
from services.common import transcript

from . import condensers
from .condensers import Condenser, Summarizer, View, ViewItem
from .store import ConversationRow, NewEvent, SQLiteStore, StorageUnavailable, Store

T = TypeVar("T")
MESSAGE_OVERHEAD_TOKENS = 4
MAX_KEY_CHARS = 128
# Parsed events kept for contexts (LRU).
EVENT_CACHE = 50_000
EVENT_TYPES = {
    "system_prompt": events_pb2.EVENT_TYPE_SYSTEM_PROMPT,
    "user_message": events_pb2.EVENT_TYPE_USER_MESSAGE,
    "thought": events_pb2.EVENT_TYPE_THOUGHT,
    "action": events_pb2.EVENT_TYPE_ACTION,
    "policy_verdict": events_pb2.EVENT_TYPE_POLICY_VERDICT,
    "observation": events_pb2.EVENT_TYPE_OBSERVATION,
    "condensation": events_pb2.EVENT_TYPE_CONDENSATION,
    "final_answer": events_pb2.EVENT_TYPE_FINAL_ANSWER,
    "error": events_pb2.EVENT_TYPE_ERROR,
}


@dataclass(frozen=True)
class MemoryLimits:
    max_event_bytes: int = 256 * 1024
    max_events_per_append: int = 1000
    default_ttl: float = 30 * 24 * 3600.0
    max_ttl: float = 365 * 24 * 3600.0


@dataclass(frozen=True)
class Context:
    messages: list[common_pb2.Message]
    token_count: int
    condensation: events_pb2.Condensation | None
    event_count: int
    forgotten_event_count: int


def event_id(seq: int) -> str:
    return f"ev-{seq}"


def sequence_of(event_id: str) -> int:
    return int(event_id[3:])


@dataclass(frozen=True)
class StorageQuota:
    """What one tenant may keep; None is no limit."""

    max_conversations: int | None = None
    max_storage_bytes: int | None = None


class Memory:
    def __init__(
        self,
        store: Store,
        count_tokens: Callable[[str], int],
        limits: MemoryLimits | None = None,
        default_condenser: memory_pb2.CondenserSpec | None = None,
        summarizer: Summarizer | None = None,
        quotas: Callable[[str], StorageQuota] | None = None,
    ) -> None:
        self.store = store
        self.quotas = quotas or (lambda tenant: StorageQuota())
        self.count_tokens = count_tokens
        self.limits = limits or MemoryLimits()
        self.default_condenser = default_condenser or memory_pb2.CondenserSpec(
            type=memory_pb2.CONDENSER_TYPE_NOOP
        )
        self.summarizer = summarizer
        self._events: OrderedDict[tuple[str, str], events_pb2.Event] = OrderedDict()
        # SQLite wants one writer; PostgreSQL takes a few connections.
        self.threads = ThreadPoolExecutor(1 if isinstance(store, SQLiteStore) else 4, "memory-db")

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self.threads, fn, *args)
        except StorageUnavailable as exc:
            # Nothing was committed; appends are idempotent, so a retry is safe.
            raise Unavailable("STORAGE_UNAVAILABLE", str(exc)[:300]) from None

    # --- conversations ---------------------------------------------------------------
    async def create_conversation(
        self, tenant: str, labels: Mapping[str, str], ttl: float | None
    ) -> ConversationRow:
        if ttl is not None and not 0 <= ttl <= self.limits.max_ttl:
            raise invalid("ttl", f"must be between 0 and {self.limits.max_ttl:g} seconds")
        quota = self.quotas(tenant)
        if quota.max_conversations is not None:
            count, _ = await self._run(self.store.usage, tenant)
            if count >= quota.max_conversations:
                raise quota_exceeded(
                    "CONVERSATION_QUOTA_EXCEEDED",
                    f"the tenant keeps at most {quota.max_conversations} conversations; "
                    "delete one first",
                    f"tenant:{tenant}",
                    quota.max_conversations,
                )
        now = time.time()
        row = ConversationRow(
            id=f"conv-{secrets.token_hex(10)}",
            tenant=tenant,
            created=now,
            updated=now,
            ttl=self.limits.default_ttl if ttl is None else ttl,
            labels=dict(labels),
        )
        await self._run(self.store.create_conversation, row)
        return row

    async def get_conversation(self, tenant: str, conversation_id: str) -> ConversationRow:
        if not conversation_id:
            raise invalid("conversation_id", "is required")
        row = await self._run(self.store.get_conversation, tenant, conversation_id)
        if row is None:
            raise NotFound(
                "CONVERSATION_NOT_FOUND",
                f"conversation {conversation_id!r} does not exist",
                metadata={"conversation_id": conversation_id},
            )
        return row

    async def list_conversations(
        self, tenant: str, offset: int, limit: int
    ) -> list[ConversationRow]:
        return await self._run(self.store.list_conversations, tenant, offset, limit)

    async def delete_conversation(self, tenant: str, conversation_id: str) -> None:
        await self.get_conversation(tenant, conversation_id)
        await self._run(self.store.delete_conversation, tenant, conversation_id)

    # --- events ------------------------------------------------------------------------
    def _pending(
        self, conversation_id: str, field: str, event: events_pb2.Event, now: float
    ) -> NewEvent:
        kind = event.WhichOneof("payload")
        if kind is None:
            raise invalid(f"{field}.payload", "an event needs a payload", "INVALID_EVENT")
        size = event.ByteSize()
        if size > self.limits.max_event_bytes:
            raise invalid(
                field,
                f"is {size} bytes; the limit is {self.limits.max_event_bytes}",
                "EVENT_TOO_LARGE",
            )
        key = event.idempotency_key or None
        if key is not None and len(key) > MAX_KEY_CHARS:
            raise invalid(f"{field}.idempotency_key", f"at most {MAX_KEY_CHARS} characters")
        tokens = self.count_tokens(transcript.text_of(event))
        template = events_pb2.Event()
        template.CopyFrom(event)
        template.conversation_id = conversation_id
        template.token_count = tokens
        template.create_time.FromNanoseconds(int(now * 1e9))

        def build(seq: int) -> bytes:
            template.sequence = seq
            template.id = event_id(seq)
            return template.SerializeToString()

        return NewEvent(EVENT_TYPES[kind], tokens, key, build)

    async def append(
        self,
        tenant: str,
        conversation_id: str,
        events: Sequence[events_pb2.Event],
        field: str = "events",
    ) -> list[events_pb2.Event]:
        """Append in order; an event whose idempotency key is already stored
        comes back as stored instead of being added again."""
        if not events:
            raise invalid(field, "at least one event is required")
        if len(events) > self.limits.max_events_per_append:
            raise invalid(field, f"at most {self.limits.max_events_per_append} per call")
        if not conversation_id:
            raise invalid("conversation_id", "is required")
        now = time.time()
        pending = [
            self._pending(conversation_id, f"{field}[{i}]", e, now) for i, e in enumerate(events)
        ]
        quota = self.quotas(tenant)
        if quota.max_storage_bytes is not None:
            _, used = await self._run(self.store.usage, tenant)
            incoming = sum(e.ByteSize() for e in events)
            if used + incoming > quota.max_storage_bytes:
                raise quota_exceeded(
                    "STORAGE_QUOTA_EXCEEDED",
                    f"the tenant's conversations hold {used} bytes; {incoming} more would pass "
                    f"its quota of {quota.max_storage_bytes}; delete a conversation first",
                    f"tenant:{tenant}",
                    quota.max_storage_bytes,
                )
        stored = await self._run(self.store.append, tenant, conversation_id, pending, now)
        if stored is None:
            raise NotFound(
                "CONVERSATION_NOT_FOUND",
                f"conversation {conversation_id!r} does not exist",
                metadata={"conversation_id": conversation_id},
            )
        return [events_pb2.Event.FromString(b) for b in stored]

    async def list_events(
        self, tenant: str, conversation_id: str, after_seq: int, limit: int, types: Sequence[int]
    ) -> list[events_pb2.Event]:
        for index, kind in enumerate(types):
            if kind not in EVENT_TYPES.values():
                raise invalid(f"types[{index}]", f"unknown event type {kind}")
        await self.get_conversation(tenant, conversation_id)
        rows = await self._run(
            self.store.list_events, conversation_id, after_seq, limit, list(types)
        )
        return [events_pb2.Event.FromString(b) for b in rows]

    # --- contexts -----------------------------------------------------------------------
    async def _view(self, row: ConversationRow) -> tuple[list[ViewItem], int]:
        """The conversation after its stored condensations, and how many events
        they forgot. Sequence numbers are contiguous, so only the condensations
        are read to shape it."""
        marks = await self._run(
            self.store.sequences_of_type, row.id, events_pb2.EVENT_TYPE_CONDENSATION
        )
        stored = await self._run(self.store.payloads, row.id, marks) if marks else {}
        items: list[ViewItem] = []
        start = 1
        for mark in [*marks, row.next_seq]:
            items.extend(event_id(seq) for seq in range(start, mark))
            if mark in stored:
                condensation = events_pb2.Event.FromString(stored[mark]).condensation
                items = condensers.replay(items, condensation)
            start = mark + 1
        remembered = sum(1 for i in items if isinstance(i, str))
        return items, row.next_seq - 1 - len(marks) - remembered

    async def _load(self, conversation_id: str, ids: list[str]) -> list[events_pb2.Event]:
        """The events with these ids, in the given order. Stored events never
        change, so parsed ones are kept (a context reads mostly the same
        events as the previous one); callers must not modify them."""
        cache = self._events
        missing = [sequence_of(i) for i in ids if (conversation_id, i) not in cache]
        if missing:
            payloads = await self._run(self.store.payloads, conversation_id, missing)
            for seq, payload in payloads.items():
                cache[(conversation_id, event_id(seq))] = events_pb2.Event.FromString(payload)
            while len(cache) > EVENT_CACHE:
                cache.popitem(last=False)
        found = []
        for i in ids:
            key = (conversation_id, i)
            cache.move_to_end(key)
            found.append(cache[key])
        return found

    async def context(
        self,
        tenant: str,
        conversation_id: str,
        spec: memory_pb2.CondenserSpec | None,
        token_budget: int,
        append: Sequence[events_pb2.Event] = (),
    ) -> Context:
        """The messages of the next prompt; `append` events are stored first."""
        if token_budget < 0:
            raise invalid("token_budget", "must not be negative", "INVALID_BUDGET")
        spec = spec if spec is not None and spec.type else self.default_condenser
        condensers.validate(spec)
        if condensers.uses_llm(spec) and self.summarizer is None:
            raise invalid(
                "condenser",
                "LLM summarizing needs a planner (set planner_target)",
                "UNKNOWN_CONDENSER",
            )
        if append:
            await self.append(tenant, conversation_id, append, "append_events")
        row = await self.get_conversation(tenant, conversation_id)
        items, forgotten = await self._view(row)

        async def load(ids: list[str]) -> list[events_pb2.Event]:
            return await self._load(row.id, ids)

        view = await Condenser(spec, load, self.summarizer).apply(View(items))
        made = None
        if view.made:
            stored = await self.append(
                tenant,
                conversation_id,
                [events_pb2.Event(condensation=c) for c in view.made],
            )
            made = stored[-1].condensation
            forgotten += sum(len(c.forgotten_event_ids) for c in view.made)
        ids = [i for i in view.items if isinstance(i, str)]
        loaded = iter(await self._load(row.id, ids))
        shown = [next(loaded) if isinstance(i, str) else i for i in view.items]
        messages = transcript.messages(shown, view.masked)
        messages, tokens, trimmed = self._fit(messages, token_budget)
        return Context(messages, tokens, made, len(ids), forgotten + trimmed)

    def _tokens(self, message: common_pb2.Message) -> int:
        text = message.content + "".join(c.name + c.arguments_json for c in message.tool_calls)
        return self.count_tokens(text) + MESSAGE_OVERHEAD_TOKENS

    def _fit(
        self, messages: list[common_pb2.Message], budget: int
    ) -> tuple[list[common_pb2.Message], int, int]:
        """Drop the oldest non-system messages until the budget holds (the
        last message always stays)."""
        sizes = [self._tokens(m) for m in messages]
        total = sum(sizes)
        if not budget or total <= budget:
            return messages, total, 0
        keep = [True] * len(messages)
        for index, message in enumerate(messages[:-1]):
            if total <= budget:
                break
            if message.role != common_pb2.ROLE_SYSTEM:
                keep[index] = False
                total -= sizes[index]
        # A tool result must not lose the call it answers.
        for index, message in enumerate(messages):
            if (
                keep[index]
                and message.role == common_pb2.ROLE_TOOL
                and index
                and not keep[index - 1]
            ):
                keep[index] = False
                total -= sizes[index]
        fitted = [m for m, k in zip(messages, keep, strict=True) if k]
        return fitted, total, keep.count(False)

    # --- retention ------------------------------------------------------------------------
    async def expire(self) -> int:
        return await self._run(self.store.expire, time.time())

    async def run_retention(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.expire()

    async def close(self) -> None:
        await self._run(self.store.close)
        self.threads.shutdown(wait=True)

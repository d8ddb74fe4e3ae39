"""Synchronous client of MemoryService: conversations, events, contexts."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import grpc

from .settings import ConnectionSettings
from .status import from_rpc_error
from .v1 import events_pb2, memory_pb2, memory_pb2_grpc

T = TypeVar("T")

CONDENSERS = {
    "noop": memory_pb2.CONDENSER_TYPE_NOOP,
    "recent": memory_pb2.CONDENSER_TYPE_RECENT,
    "observation_masking": memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING,
    "amortized_forgetting": memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING,
    "llm_summarizing": memory_pb2.CONDENSER_TYPE_LLM_SUMMARIZING,
    "pipeline": memory_pb2.CONDENSER_TYPE_PIPELINE,
}


def condenser(
    kind: str, *steps: memory_pb2.CondenserSpec, **fields: Any
) -> memory_pb2.CondenserSpec:
    """A condenser spec by name: condenser("recent", keep_first=2, max_events=40),
    condenser("pipeline", condenser("observation_masking", attention_window=10), ...)."""
    if kind not in CONDENSERS:
        raise ValueError(f"unknown condenser {kind!r}; one of {', '.join(CONDENSERS)}")
    return memory_pb2.CondenserSpec(type=CONDENSERS[kind], steps=list(steps), **fields)


class MemoryClient:
    def __init__(self, channel: grpc.Channel, settings: ConnectionSettings) -> None:
        self.stub = memory_pb2_grpc.MemoryServiceStub(channel)
        self.settings = settings

    def _call(self, method: Callable[..., T], request: Any) -> T:
        try:
            return method(request, timeout=self.settings.timeout, metadata=self.settings.metadata())
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None

    def create_conversation(
        self, labels: Mapping[str, str] | None = None, ttl: float | None = None
    ) -> memory_pb2.Conversation:
        """A new conversation; `ttl` seconds of retention after its last append
        (0 keeps it forever, None takes the server default)."""
        request = memory_pb2.CreateConversationRequest(labels=dict(labels or {}))
        if ttl is not None:
            request.ttl.FromTimedelta(datetime.timedelta(seconds=ttl))
        reply: memory_pb2.CreateConversationResponse = self._call(
            self.stub.CreateConversation, request
        )
        return reply.conversation

    def get_conversation(self, conversation_id: str) -> memory_pb2.Conversation:
        request = memory_pb2.GetConversationRequest(conversation_id=conversation_id)
        reply: memory_pb2.GetConversationResponse = self._call(self.stub.GetConversation, request)
        return reply.conversation

    def conversations(self, page_size: int = 100) -> Iterator[memory_pb2.Conversation]:
        """Every conversation of the caller's tenant, oldest first (pages fetched lazily)."""
        token = ""
        while True:
            request = memory_pb2.ListConversationsRequest(page_size=page_size, page_token=token)
            reply = self._call(self.stub.ListConversations, request)
            yield from reply.conversations
            token = reply.next_page_token
            if not token:
                return

    def delete_conversation(self, conversation_id: str) -> None:
        request = memory_pb2.DeleteConversationRequest(conversation_id=conversation_id)
        self._call(self.stub.DeleteConversation, request)

    def append(self, conversation_id: str, *events: events_pb2.Event) -> list[events_pb2.Event]:
        """Store events (see codeact.events); returns them as stored, with ids."""
        request = memory_pb2.AppendEventsRequest(conversation_id=conversation_id, events=events)
        return list(self._call(self.stub.AppendEvents, request).events)

    def events(
        self,
        conversation_id: str,
        types: Iterable[events_pb2.EventType.ValueType] = (),
        page_size: int = 200,
    ) -> Iterator[events_pb2.Event]:
        """A conversation's events in order, optionally only some types."""
        token = ""
        while True:
            request = memory_pb2.ListEventsRequest(
                conversation_id=conversation_id,
                types=list(types),
                page_size=page_size,
                page_token=token,
            )
            reply = self._call(self.stub.ListEvents, request)
            yield from reply.events
            token = reply.next_page_token
            if not token:
                return

    def context(
        self,
        conversation_id: str,
        condenser: memory_pb2.CondenserSpec | None = None,
        token_budget: int = 0,
    ) -> memory_pb2.GetContextResponse:
        """The messages of the next prompt under a condenser and a token budget."""
        request = memory_pb2.GetContextRequest(
            conversation_id=conversation_id, condenser=condenser, token_budget=token_budget
        )
        reply: memory_pb2.GetContextResponse = self._call(self.stub.GetContext, request)
        return reply

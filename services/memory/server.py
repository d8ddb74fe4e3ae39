"""MemoryService over gRPC: a thin translation to the memory core."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2

from codeact.errors import invalid
from codeact.v1 import memory_pb2, memory_pb2_grpc
from services.common.audit import AuditLog
from services.common.auth import identity
from services.common.paging import decode_token, encode_token, page_size

from .core import Memory
from .store import ConversationRow

DESCRIPTOR = memory_pb2.DESCRIPTOR.services_by_name["MemoryService"]
MAX_LABELS = 64


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def conversation_message(row: ConversationRow) -> memory_pb2.Conversation:
    message = memory_pb2.Conversation(
        id=row.id,
        create_time=_timestamp(row.created),
        update_time=_timestamp(row.updated),
        labels=row.labels,
        event_count=row.event_count,
        token_count=row.token_count,
    )
    if row.expires is not None:
        message.expire_time.CopyFrom(_timestamp(row.expires))
    return message


class MemoryServicer(memory_pb2_grpc.MemoryServiceServicer):
    def __init__(self, memory: Memory, audit: AuditLog | None = None) -> None:
        self.memory = memory
        self.audit = audit or AuditLog("memory")

    async def CreateConversation(
        self, request: memory_pb2.CreateConversationRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.CreateConversationResponse:
        ttl = request.ttl.ToTimedelta().total_seconds() if request.HasField("ttl") else None
        if len(request.labels) > MAX_LABELS:
            raise invalid("labels", f"at most {MAX_LABELS} labels")
        for key, value in request.labels.items():
            if not key or len(key) > 256 or len(value) > 256:
                raise invalid(f"labels[{key[:40]!r}]", "keys 1-256 characters, values at most 256")
        row = await self.memory.create_conversation(identity().tenant, request.labels, ttl)
        self.audit.record("conversation.created", row.tenant, conversation_id=row.id)
        return memory_pb2.CreateConversationResponse(conversation=conversation_message(row))

    async def GetConversation(
        self, request: memory_pb2.GetConversationRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.GetConversationResponse:
        row = await self.memory.get_conversation(identity().tenant, request.conversation_id)
        return memory_pb2.GetConversationResponse(conversation=conversation_message(row))

    async def ListConversations(
        self, request: memory_pb2.ListConversationsRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.ListConversationsResponse:
        size = page_size(request.page_size)
        offset = decode_token(request.page_token)
        rows = await self.memory.list_conversations(identity().tenant, offset, size + 1)
        token = encode_token(offset + size) if len(rows) > size else ""
        return memory_pb2.ListConversationsResponse(
            conversations=[conversation_message(r) for r in rows[:size]], next_page_token=token
        )

    async def DeleteConversation(
        self, request: memory_pb2.DeleteConversationRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.DeleteConversationResponse:
        await self.memory.delete_conversation(identity().tenant, request.conversation_id)
        self.audit.record("conversation.deleted", conversation_id=request.conversation_id)
        return memory_pb2.DeleteConversationResponse()

    async def AppendEvents(
        self, request: memory_pb2.AppendEventsRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.AppendEventsResponse:
        stored = await self.memory.append(
            identity().tenant, request.conversation_id, list(request.events)
        )
        return memory_pb2.AppendEventsResponse(events=stored)

    async def ListEvents(
        self, request: memory_pb2.ListEventsRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.ListEventsResponse:
        size = page_size(request.page_size)
        after = decode_token(request.page_token)  # the last sequence number seen
        events = await self.memory.list_events(
            identity().tenant, request.conversation_id, after, size + 1, list(request.types)
        )
        token = encode_token(events[size - 1].sequence) if len(events) > size else ""
        return memory_pb2.ListEventsResponse(events=events[:size], next_page_token=token)

    async def GetContext(
        self, request: memory_pb2.GetContextRequest, context: grpc.aio.ServicerContext
    ) -> memory_pb2.GetContextResponse:
        spec = request.condenser if request.HasField("condenser") else None
        result = await self.memory.context(
            identity().tenant,
            request.conversation_id,
            spec,
            request.token_budget,
            list(request.append_events),
        )
        response = memory_pb2.GetContextResponse(
            messages=result.messages,
            token_count=result.token_count,
            event_count=result.event_count,
            forgotten_event_count=result.forgotten_event_count,
        )
        if result.condensation is not None:
            response.condensation.CopyFrom(result.condensation)
        return response

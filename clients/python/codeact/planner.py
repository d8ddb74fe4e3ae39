"""Synchronous client of PlannerService: the model's next action, summaries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import grpc

from .settings import ConnectionSettings
from .status import from_rpc_error
from .v1 import common_pb2, events_pb2, planner_pb2, planner_pb2_grpc

ROLES = {
    "system": common_pb2.ROLE_SYSTEM,
    "user": common_pb2.ROLE_USER,
    "assistant": common_pb2.ROLE_ASSISTANT,
    "tool": common_pb2.ROLE_TOOL,
}


def message(role: str, content: str) -> common_pb2.Message:
    """A chat message: message("user", "Sum 1..10")."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    return common_pb2.Message(role=ROLES[role], content=content)


class PlannerClient:
    """Asks the model (through the planner) what to do next."""

    def __init__(self, channel: grpc.Channel, settings: ConnectionSettings) -> None:
        self.stub = planner_pb2_grpc.PlannerServiceStub(channel)
        self.settings = settings

    def next_action(
        self, messages: Sequence[common_pb2.Message], model: str = ""
    ) -> planner_pb2.ActionDecision:
        request = planner_pb2.NextActionRequest(messages=list(messages))
        if model:
            request.model.model = model
        try:
            reply: planner_pb2.NextActionResponse = self.stub.NextAction(
                request, timeout=self.settings.timeout, metadata=self.settings.metadata()
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return reply.decision

    def stream_next_action(
        self, messages: Sequence[common_pb2.Message], model: str = ""
    ) -> Iterator[planner_pb2.StreamNextActionResponse]:
        """Text deltas as the model writes, then the decision."""
        request = planner_pb2.StreamNextActionRequest(messages=list(messages))
        if model:
            request.model.model = model
        call = self.stub.StreamNextAction(
            request, timeout=self.settings.timeout, metadata=self.settings.metadata()
        )
        try:
            yield from call
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        finally:
            call.cancel()

    def summarize(self, events: Iterable[events_pb2.Event], previous: str = "") -> str:
        request = planner_pb2.SummarizeRequest(events=list(events), previous_summary=previous)
        try:
            reply: planner_pb2.SummarizeResponse = self.stub.Summarize(
                request, timeout=self.settings.timeout, metadata=self.settings.metadata()
            )
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        return reply.summary

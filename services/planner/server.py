"""PlannerService over gRPC: a thin translation to the planner core."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc

from codeact.v1 import planner_pb2, planner_pb2_grpc
from services.common.auth import identity

from .planning import Planner

DESCRIPTOR = planner_pb2.DESCRIPTOR.services_by_name["PlannerService"]
# Of the caller's deadline, kept back to send our own error before it expires.
DEADLINE_MARGIN = 0.05


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining - DEADLINE_MARGIN


class PlannerServicer(planner_pb2_grpc.PlannerServiceServicer):
    def __init__(self, planner: Planner) -> None:
        self.planner = planner

    async def NextAction(
        self, request: planner_pb2.NextActionRequest, context: grpc.aio.ServicerContext
    ) -> planner_pb2.NextActionResponse:
        decision = await self.planner.next_action(identity().tenant, request, _deadline(context))
        return planner_pb2.NextActionResponse(decision=decision)

    async def StreamNextAction(
        self, request: planner_pb2.StreamNextActionRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[planner_pb2.StreamNextActionResponse]:
        async for response in self.planner.stream_next_action(
            identity().tenant, request, _deadline(context)
        ):
            yield response

    async def Summarize(
        self, request: planner_pb2.SummarizeRequest, context: grpc.aio.ServicerContext
    ) -> planner_pb2.SummarizeResponse:
        return await self.planner.summarize(identity().tenant, request, _deadline(context))

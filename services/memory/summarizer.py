"""The LLM condenser's summaries, asked of the planner service."""

from __future__ import annotations

import grpc

from codeact.status import from_rpc_error
from codeact.v1 import common_pb2, events_pb2, planner_pb2, planner_pb2_grpc
from services.common.auth import forwarded_metadata
from services.common.channels import internal_channel
from services.common.settings import ServerSettings


class PlannerSummarizer:
    """Calls PlannerService.Summarize on behalf of the current caller."""

    def __init__(self, target: str, settings: ServerSettings, timeout: float = 120.0) -> None:
        self.target = target
        self.settings = settings
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    def _stub(self) -> planner_pb2_grpc.PlannerServiceStub:
        if self._channel is None:
            self._channel = internal_channel(self.target, self.settings)
        return planner_pb2_grpc.PlannerServiceStub(self._channel)

    async def summarize(
        self,
        events: list[events_pb2.Event],
        previous_summary: str,
        model: common_pb2.ModelSettings,
        max_tokens: int,
    ) -> str:
        request = planner_pb2.SummarizeRequest(
            events=events,
            previous_summary=previous_summary,
            model=model,
            max_summary_tokens=max_tokens,
        )
        try:
            reply = await self._stub().Summarize(
                request, timeout=self.timeout, metadata=forwarded_metadata()
            )
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err) from None
        return str(reply.summary)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

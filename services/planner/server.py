"""PlannerService over gRPC: a thin translation to the LLM client.

Summarize is live (the memory service's LLM condenser uses it); NextAction
and StreamNextAction answer UNIMPLEMENTED until the agent-loop issue lands.
"""

from __future__ import annotations

import time

import grpc

from codeact.errors import Unavailable, invalid
from codeact.v1 import planner_pb2, planner_pb2_grpc

from . import summaries
from .llm import LLMClient, request_options
from .settings import PlannerSettings

DESCRIPTOR = planner_pb2.DESCRIPTOR.services_by_name["PlannerService"]
MAX_SUMMARIZE_EVENTS = 10_000
# Of the caller's deadline, kept back to send our own error before it expires.
DEADLINE_MARGIN = 0.05


def _deadline(context: grpc.aio.ServicerContext) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining - DEADLINE_MARGIN


class PlannerServicer(planner_pb2_grpc.PlannerServiceServicer):
    def __init__(self, llm: LLMClient, settings: PlannerSettings) -> None:
        self.llm = llm
        self.settings = settings

    async def Summarize(
        self, request: planner_pb2.SummarizeRequest, context: grpc.aio.ServicerContext
    ) -> planner_pb2.SummarizeResponse:
        if not request.events:
            raise invalid("events", "at least one event is required")
        if len(request.events) > MAX_SUMMARIZE_EVENTS:
            raise invalid("events", f"at most {MAX_SUMMARIZE_EVENTS} events")
        if request.max_summary_tokens < 0:
            raise invalid("max_summary_tokens", "must not be negative")
        size = request.max_summary_tokens or self.settings.max_summary_tokens
        options = request_options(request.model, self.settings)
        # The summary's own bound, unless the request set a tighter one.
        options["max_tokens"] = min(options.get("max_tokens", size), size)
        prompt = summaries.messages(
            request.events,
            request.previous_summary,
            size,
            self.settings.summary_event_chars,
            self.settings.summary_input_chars,
        )
        result = await self.llm.chat(prompt, options, deadline=_deadline(context))
        summary = result.content.strip()
        if not summary:
            raise Unavailable("LLM_EMPTY_REPLY", "the model answered with an empty summary")
        return planner_pb2.SummarizeResponse(summary=summary, usage=result.usage)

    # NextAction and StreamNextAction: the generated base answers UNIMPLEMENTED.

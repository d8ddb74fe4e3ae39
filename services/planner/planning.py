"""The planner's core: prompt, model call, parsed decision. No gRPC here."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from codeact.errors import Unavailable, invalid
from codeact.v1 import common_pb2, events_pb2, planner_pb2

from . import summaries
from .endpoints import Endpoints
from .llm import ChatResult, LLMClient, request_options
from .parsing import parse_reply
from .prompts import TOOL_NAMES, PromptLibrary, ToolId
from .settings import PlannerSettings

ALL_TOOLS: tuple[ToolId, ...] = tuple(TOOL_NAMES)
# Without native tools a model writes code blocks: Python, bash, or finish.
TEXT_TOOLS = {events_pb2.TOOL_EXECUTE_PYTHON, events_pb2.TOOL_EXECUTE_BASH, events_pb2.TOOL_FINISH}
ROLES = {
    common_pb2.ROLE_SYSTEM: "system",
    common_pb2.ROLE_USER: "user",
    common_pb2.ROLE_ASSISTANT: "assistant",
    common_pb2.ROLE_TOOL: "tool",
}
MAX_MESSAGES = 10_000


@dataclass(frozen=True)
class _Call:
    client: LLMClient
    messages: list[dict[str, Any]]
    options: dict[str, Any]
    tools: tuple[ToolId, ...]
    schemas: list[dict[str, Any]]
    text_mode: bool


class Planner:
    def __init__(
        self, settings: PlannerSettings, endpoints: Endpoints, library: PromptLibrary
    ) -> None:
        self.settings = settings
        self.endpoints = endpoints
        self.library = library

    def _prepare(
        self,
        tenant: str,
        messages: Sequence[common_pb2.Message],
        tools: Sequence[ToolId],
        model: common_pb2.ModelSettings,
        prompt: planner_pb2.PromptOptions,
    ) -> _Call:
        if not messages:
            raise invalid("messages", "at least one message is required")
        if len(messages) > MAX_MESSAGES:
            raise invalid("messages", f"at most {MAX_MESSAGES} messages")
        for index, message in enumerate(messages):
            if message.role not in ROLES:
                raise invalid(f"messages[{index}].role", "must be system, user, assistant or tool")
            if message.role == common_pb2.ROLE_TOOL and not message.tool_call_id:
                raise invalid(f"messages[{index}].tool_call_id", "a tool message needs it")
        for index, tool in enumerate(tools):
            if tool not in TOOL_NAMES:
                raise invalid(f"tools[{index}]", f"unknown tool {tool}")
        if model.mode not in (
            common_pb2.ACTION_MODE_UNSPECIFIED,
            common_pb2.ACTION_MODE_TOOL_CALLING,
            common_pb2.ACTION_MODE_TEXT,
        ):
            raise invalid("model.mode", f"unknown mode {model.mode}")
        endpoint = self.endpoints.for_tenant(tenant)
        options = request_options(model, self.settings, endpoint.model)
        text_mode = (
            model.mode == common_pb2.ACTION_MODE_TEXT
            if model.mode != common_pb2.ACTION_MODE_UNSPECIFIED
            else endpoint.text_mode
        )
        # Finishing is always possible, whatever else is offered.
        offered = tuple(dict.fromkeys([*(tools or ALL_TOOLS), events_pb2.TOOL_FINISH]))
        if text_mode:
            offered = tuple(t for t in offered if t in TEXT_TOOLS)
        system = self.library.system_prompt(prompt, offered, text_mode)
        return _Call(
            client=self.endpoints.client(endpoint),
            messages=[{"role": "system", "content": system}, *chat_messages(messages, text_mode)],
            options=options,
            tools=offered,
            schemas=[] if text_mode else self.library.tool_schemas(offered),
            text_mode=text_mode,
        )

    async def next_action(
        self, tenant: str, request: planner_pb2.NextActionRequest, deadline: float | None
    ) -> planner_pb2.ActionDecision:
        call = self._prepare(
            tenant, request.messages, list(request.tools), request.model, request.prompt
        )
        result = await call.client.chat(
            call.messages, call.options, tools=call.schemas, deadline=deadline
        )
        return self._decision(result, call)

    async def stream_next_action(
        self, tenant: str, request: planner_pb2.StreamNextActionRequest, deadline: float | None
    ) -> AsyncIterator[planner_pb2.StreamNextActionResponse]:
        call = self._prepare(
            tenant, request.messages, list(request.tools), request.model, request.prompt
        )
        async for item in call.client.stream_chat(
            call.messages, call.options, tools=call.schemas, deadline=deadline
        ):
            if isinstance(item, str):
                yield planner_pb2.StreamNextActionResponse(content_delta=item)
            else:
                decision = self._decision(item, call)
                yield planner_pb2.StreamNextActionResponse(decision=decision)

    def _decision(self, result: ChatResult, call: _Call) -> planner_pb2.ActionDecision:
        parsed = parse_reply(result.content, result.tool_calls, call.tools, call.text_mode)
        assistant = common_pb2.Message(role=common_pb2.ROLE_ASSISTANT, content=result.content)
        if parsed.tool_call is not None:
            assistant.tool_calls.append(parsed.tool_call)
        decision = planner_pb2.ActionDecision(
            assistant_message=assistant, usage=result.usage, model=result.model
        )
        if parsed.action is not None:
            decision.action.CopyFrom(parsed.action)
        else:
            reason = parsed.failure
            if result.finish_reason == "length":
                reason += " (the reply was cut off at the token limit)"
            decision.parse_failure.reason = reason
            decision.parse_failure.format_hint = self.library.format_hint(
                reason, call.tools, call.text_mode
            )
        return decision

    async def summarize(
        self, tenant: str, request: planner_pb2.SummarizeRequest, deadline: float | None
    ) -> planner_pb2.SummarizeResponse:
        if not request.events:
            raise invalid("events", "at least one event is required")
        if len(request.events) > MAX_MESSAGES:
            raise invalid("events", f"at most {MAX_MESSAGES} events")
        if request.max_summary_tokens < 0:
            raise invalid("max_summary_tokens", "must not be negative")
        size = request.max_summary_tokens or self.settings.max_summary_tokens
        endpoint = self.endpoints.for_tenant(tenant)
        options = request_options(request.model, self.settings, endpoint.model)
        # The summary's own bound, unless the request set a tighter one.
        options["max_tokens"] = min(options.get("max_tokens", size), size)
        prompt = summaries.messages(
            request.events,
            request.previous_summary,
            size,
            self.settings.summary_event_chars,
            self.settings.summary_input_chars,
        )
        client = self.endpoints.client(endpoint)
        result = await client.chat(prompt, options, deadline=deadline)
        summary = result.content.strip()
        if not summary:
            raise Unavailable("LLM_EMPTY_REPLY", "the model answered with an empty summary")
        return planner_pb2.SummarizeResponse(summary=summary, usage=result.usage)


def chat_messages(messages: Sequence[common_pb2.Message], text_mode: bool) -> list[dict[str, Any]]:
    """Our messages as the chat API wants them. In text mode tool calls
    become code blocks and tool results become observations."""
    out: list[dict[str, Any]] = []
    for message in messages:
        role = ROLES[message.role]
        if text_mode and message.tool_calls:
            parts = [message.content] if message.content else []
            parts += [_call_as_text(c) for c in message.tool_calls]
            out.append({"role": "assistant", "content": "\n\n".join(parts)})
        elif text_mode and role == "tool":
            out.append({"role": "user", "content": f"Observation:\n{message.content}"})
        elif message.tool_calls:
            out.append(
                {
                    "role": "assistant",
                    "content": message.content or None,
                    "tool_calls": [
                        {
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments_json},
                        }
                        for c in message.tool_calls
                    ],
                }
            )
        elif role == "tool":
            out.append(
                {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
            )
        else:
            entry: dict[str, Any] = {"role": role, "content": message.content}
            if message.name:
                entry["name"] = message.name
            out.append(entry)
    return out


def _call_as_text(call: common_pb2.ToolCall) -> str:
    try:
        arguments = json.loads(call.arguments_json or "{}")
    except json.JSONDecodeError:
        arguments = None
    if isinstance(arguments, dict):
        if call.name == "execute_python" and isinstance(arguments.get("code"), str):
            return f"<code>\n{arguments['code']}\n</code>"
        if call.name == "execute_bash" and isinstance(arguments.get("command"), str):
            return f"```bash\n{arguments['command']}\n```"
        if call.name == "finish":
            return f"<finish>{arguments.get('answer', '')}</finish>"
    return f"{call.name}: {call.arguments_json}"

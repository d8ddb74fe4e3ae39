"""Calls to an OpenAI-compatible chat endpoint, with retries, usage and
errors mapped to the platform's taxonomy.

The openai client's own retries are off so that every HTTP request is
counted in Usage.requests and the caller's deadline bounds the whole call.
A streamed call is retried only until its first chunk has arrived.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import openai
from google.protobuf import duration_pb2

from codeact.errors import (
    CodeActError,
    DeadlineExceeded,
    FailedPrecondition,
    ResourceExhausted,
    Unavailable,
    invalid,
)
from codeact.v1 import common_pb2

from .settings import PlannerSettings

MAX_STOP_SEQUENCES = 4
RETRY_AFTER_CAP = 10.0
# How endpoints say a prompt is longer than the model's context window.
CONTEXT_OVERFLOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "context window",
    "context length",
    "prompt is too long",
    "too many tokens",
)


@dataclass
class ChatResult:
    content: str
    tool_calls: list[common_pb2.ToolCall]
    finish_reason: str
    model: str
    usage: common_pb2.Usage = field(default_factory=common_pb2.Usage)


def request_options(
    model: common_pb2.ModelSettings,
    settings: PlannerSettings,
    default_model: str,
    path: str = "model",
) -> dict[str, Any]:
    """The create() arguments a request's ModelSettings stand for; bad values
    are INVALID_ARGUMENT naming the field."""
    options: dict[str, Any] = {"model": model.model or default_model}
    if model.HasField("temperature"):
        if not 0.0 <= model.temperature <= 2.0:
            raise invalid(f"{path}.temperature", "must be between 0 and 2")
        options["temperature"] = model.temperature
    if model.HasField("top_p"):
        if not 0.0 < model.top_p <= 1.0:
            raise invalid(f"{path}.top_p", "must be in (0, 1]")
        options["top_p"] = model.top_p
    if model.max_tokens < 0 or model.max_tokens > settings.max_completion_tokens:
        raise invalid(
            f"{path}.max_tokens", f"must be between 0 and {settings.max_completion_tokens}"
        )
    if model.max_tokens:
        options["max_tokens"] = model.max_tokens
    if len(model.stop) > MAX_STOP_SEQUENCES or any(not s for s in model.stop):
        raise invalid(f"{path}.stop", f"at most {MAX_STOP_SEQUENCES} non-empty sequences")
    if model.stop:
        options["stop"] = list(model.stop)
    if model.HasField("seed"):
        options["seed"] = model.seed
    timeout = settings.llm_timeout
    if model.HasField("timeout"):
        asked = model.timeout.ToTimedelta().total_seconds()
        if asked <= 0:
            raise invalid(f"{path}.timeout", "must be positive")
        timeout = min(asked, settings.llm_timeout)
    options["timeout"] = timeout
    return options


class LLMClient:
    """One endpoint (base URL and key)."""

    def __init__(self, base_url: str, api_key: str, settings: PlannerSettings) -> None:
        self.settings = settings
        self.client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or "unused",
            max_retries=0,
            timeout=settings.llm_timeout,
        )

    async def chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        options: Mapping[str, Any],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        deadline: float | None = None,
    ) -> ChatResult:
        """One completion. `options` from request_options(); `deadline` is a
        time.monotonic() bound."""
        started = time.monotonic()
        requests = 0
        while True:
            requests += 1
            arguments = self._arguments(options, tools, deadline)
            try:
                response = await self.client.chat.completions.create(
                    messages=[], extra_body=_wire(messages, tools), **arguments
                )
                return _result(response, requests, time.monotonic() - started)
            except Exception as exc:  # noqa: BLE001 - mapped below, never leaked
                await self._backoff_or_raise(exc, requests, deadline)

    async def stream_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        options: Mapping[str, Any],
        *,
        tools: Sequence[Mapping[str, Any]] = (),
        deadline: float | None = None,
    ) -> AsyncIterator[str | ChatResult]:
        """Text deltas as they arrive, then the whole result."""
        started = time.monotonic()
        requests = 0
        while True:
            requests += 1
            arguments = self._arguments(options, tools, deadline)
            arguments["stream_options"] = {"include_usage": True}
            received = False
            try:
                stream: Any = await self.client.chat.completions.create(
                    messages=[], extra_body=_wire(messages, tools), stream=True, **arguments
                )
                assembler = _StreamAssembler()
                async for chunk in stream:
                    received = True
                    delta = assembler.add(chunk)
                    if delta:
                        yield delta
                result = assembler.result(requests, time.monotonic() - started)
            except Exception as exc:  # noqa: BLE001 - mapped below, never leaked
                if received:
                    raise _error(exc) from None
                await self._backoff_or_raise(exc, requests, deadline)
                continue
            yield result
            return

    def _arguments(
        self,
        options: Mapping[str, Any],
        tools: Sequence[Mapping[str, Any]],
        deadline: float | None,
    ) -> dict[str, Any]:
        arguments = dict(options)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(
                    "LLM_TIMEOUT", "the deadline passed before the model answered"
                )
            arguments["timeout"] = min(arguments.get("timeout", self.settings.llm_timeout), left)
        return arguments

    async def _backoff_or_raise(
        self, exc: Exception, requests: int, deadline: float | None
    ) -> None:
        error = _error(exc)
        delay = self._retry_delay(exc, requests)
        if delay is None or (deadline is not None and time.monotonic() + delay >= deadline):
            raise error from None
        await asyncio.sleep(delay)

    def _retry_delay(self, exc: Exception, requests: int) -> float | None:
        if requests > self.settings.llm_max_retries or not _transient(exc):
            return None
        backoff = self.settings.llm_retry_backoff * 2.0 ** (requests - 1)
        retry_after = _retry_after(exc)
        if retry_after is not None:
            backoff = max(backoff, min(retry_after, RETRY_AFTER_CAP))
        return backoff * (1 + random.random() / 4)

    async def close(self) -> None:
        await self.client.close()


def _wire(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Messages and tools, already in wire form, as the request body's extra
    JSON: the client's own transform of typed parameters walks every message
    and costs about 17 ms for a 120-message prompt."""
    body: dict[str, Any] = {"messages": list(messages)}
    if tools:
        body["tools"] = list(tools)
    return body


class _StreamAssembler:
    """Puts streamed chunks back together: content, tool calls by index, usage."""

    def __init__(self) -> None:
        self.content: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish_reason = ""
        self.model = ""
        self.usage: Any = None

    def add(self, chunk: Any) -> str:
        self.model = getattr(chunk, "model", "") or self.model
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        text = ""
        for choice in getattr(chunk, "choices", None) or ():
            delta = choice.delta
            if delta is not None and delta.content:
                text += delta.content
            for call in (delta.tool_calls if delta is not None else None) or ():
                slot = self.calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
        self.content.append(text)
        return text

    def result(self, requests: int, latency: float) -> ChatResult:
        if not self.finish_reason:
            raise ValueError("the stream ended before the model finished its reply")
        usage = common_pb2.Usage(requests=requests, latency=_duration(latency))
        if self.usage is not None:
            _fill_usage(usage, self.usage)
        return ChatResult(
            content="".join(self.content),
            tool_calls=[
                common_pb2.ToolCall(id=c["id"], name=c["name"], arguments_json=c["arguments"])
                for _, c in sorted(self.calls.items())
            ],
            finish_reason=self.finish_reason,
            model=self.model,
            usage=usage,
        )


def _transient(exc: Exception) -> bool:
    # A timeout already spent the call's whole budget; retrying would multiply it.
    if isinstance(exc, openai.APITimeoutError):
        return False
    if isinstance(exc, openai.APIConnectionError | openai.RateLimitError):
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code >= 500 or exc.status_code in (408, 409)
    )


def _retry_after(exc: Exception) -> float | None:
    if not isinstance(exc, openai.APIStatusError):
        return None
    try:
        return float(str(exc.response.headers.get("retry-after", "")))
    except ValueError:
        return None


def is_context_overflow(exc: Exception) -> bool:
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 413, 422):
        return False
    text = f"{getattr(exc, 'code', '')} {exc.message} {json.dumps(exc.body, default=str)}".lower()
    return any(marker in text for marker in CONTEXT_OVERFLOW_MARKERS)


def _error(exc: Exception) -> CodeActError:
    """The platform error for a failed model call; the endpoint's own message is kept."""
    detail = str(exc)[:500]
    if isinstance(exc, CodeActError):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded("LLM_TIMEOUT", "the model did not answer in time")
    if isinstance(exc, openai.APIConnectionError):
        return Unavailable("LLM_UNREACHABLE", f"cannot reach the model endpoint: {detail}")
    if isinstance(exc, openai.RateLimitError):
        return ResourceExhausted(
            "LLM_RATE_LIMITED", f"the model endpoint is rate limiting: {detail}"
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return FailedPrecondition(
            "LLM_AUTH_FAILED", f"the model endpoint refused our key: {detail}"
        )
    if isinstance(exc, openai.NotFoundError):
        return FailedPrecondition("LLM_MODEL_NOT_FOUND", f"the endpoint does not know it: {detail}")
    if is_context_overflow(exc):
        return FailedPrecondition(
            "LLM_CONTEXT_OVERFLOW", f"the prompt is longer than the model's context: {detail}"
        )
    if isinstance(exc, openai.APIStatusError) and exc.status_code < 500:
        return FailedPrecondition("LLM_REQUEST_REJECTED", f"the model endpoint said: {detail}")
    if isinstance(exc, openai.APIStatusError):
        return Unavailable("LLM_UNAVAILABLE", f"the model endpoint failed: {detail}")
    return Unavailable("LLM_BAD_RESPONSE", f"the model endpoint sent an unreadable reply: {detail}")


def _fill_usage(usage: common_pb2.Usage, reported: Any) -> None:
    usage.prompt_tokens = getattr(reported, "prompt_tokens", 0) or 0
    usage.completion_tokens = getattr(reported, "completion_tokens", 0) or 0
    usage.total_tokens = getattr(reported, "total_tokens", 0) or (
        usage.prompt_tokens + usage.completion_tokens
    )


def _result(response: Any, requests: int, latency: float) -> ChatResult:
    choices = getattr(response, "choices", None)
    if not choices:
        raise ValueError("no choices in the reply")
    message = choices[0].message
    calls = [
        common_pb2.ToolCall(
            id=call.id or "",
            name=call.function.name or "",
            arguments_json=call.function.arguments or "",
        )
        for call in message.tool_calls or ()
        if getattr(call, "function", None) is not None
    ]
    usage = common_pb2.Usage(requests=requests, latency=_duration(latency))
    if response.usage is not None:
        _fill_usage(usage, response.usage)
    return ChatResult(
        content=message.content or "",
        tool_calls=calls,
        finish_reason=choices[0].finish_reason or "",
        model=response.model or "",
        usage=usage,
    )


def _duration(seconds: float) -> duration_pb2.Duration:
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration

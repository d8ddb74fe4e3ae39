"""Planner settings (CODEACT_PLANNER_* and the [planner] table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.settings import ServerSettings


@dataclass(frozen=True)
class PlannerSettings(ServerSettings):
    service: ClassVar[str] = "planner"

    port: int = 50052
    metrics_port: int = 9552
    # Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp, LiteLLM...);
    # empty: none (a tenant may still have its own in the tenants file).
    llm_base_url: str = ""
    # Empty: OPENAI_API_KEY from the environment, else none (local servers need none).
    llm_api_key: str = ""
    # The model used when a request names none.
    llm_model: str = "gpt-4o-mini"
    # tool_calling (native tools) or text (code blocks, for models without tools).
    llm_mode: str = "tool_calling"
    # Seconds per model call unless the request sets a shorter timeout.
    llm_timeout: float = 120.0
    # Retries after a connection error, a timeout, 429 or 5xx; backoff doubles.
    llm_max_retries: int = 2
    llm_retry_backoff: float = 0.5
    # The most completion tokens a request may ask for.
    max_completion_tokens: int = 16384
    # Summarize: the summary's default size and how much event text it reads.
    max_summary_tokens: int = 1024
    summary_event_chars: int = 2000
    summary_input_chars: int = 60000
    # A directory replacing the built-in prompts (services/planner/prompts).
    prompts_dir: str = ""

"""Condensers (after OpenHands') and their specs.

A view is what the conversation looks like after its stored condensations:
event ids in order, and at most one summary. Condensers work on ids, so
payloads are read only for what stays (and for what an LLM summarizes).
Noop, recent and observation masking only shape the view, so replaying the
events gives the same context without storing anything. Amortized
forgetting and LLM summarizing change what is remembered, so each of their
condensations is stored as an event (the forgotten ids and the summary) and
every later context replays it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from codeact.errors import invalid
from codeact.v1 import common_pb2, events_pb2, memory_pb2
from services.common.transcript import Summary

# An event id, or the summary standing in for forgotten events.
ViewItem = str | Summary
Loader = Callable[[list[str]], Awaitable[list[events_pb2.Event]]]
MAX_PIPELINE_DEPTH = 4
DEFAULT_SUMMARY_TOKENS = 1024
NAMES = {
    memory_pb2.CONDENSER_TYPE_NOOP: "noop",
    memory_pb2.CONDENSER_TYPE_RECENT: "recent",
    memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING: "observation_masking",
    memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING: "amortized_forgetting",
    memory_pb2.CONDENSER_TYPE_LLM_SUMMARIZING: "llm_summarizing",
    memory_pb2.CONDENSER_TYPE_PIPELINE: "pipeline",
}


class Summarizer(Protocol):
    async def summarize(
        self,
        events: list[events_pb2.Event],
        previous_summary: str,
        model: common_pb2.ModelSettings,
        max_tokens: int,
    ) -> str: ...


@dataclass
class View:
    items: list[ViewItem]
    # Events outside an attention window: their observations show as a placeholder.
    masked: frozenset[str] = frozenset()
    # Condensations made while shaping this view (to be stored).
    made: list[events_pb2.Condensation] = field(default_factory=list)


def replay(items: list[ViewItem], condensation: events_pb2.Condensation) -> list[ViewItem]:
    """Apply a condensation to the view before it."""
    forgotten = set(condensation.forgotten_event_ids)
    kept = [i for i in items if isinstance(i, Summary) or i not in forgotten]
    if condensation.summary:
        kept = [i for i in kept if not isinstance(i, Summary)]
        kept.insert(min(condensation.summary_offset, len(kept)), Summary(condensation.summary))
    return kept


def _forgettable(items: list[ViewItem], keep_first: int, keep: int) -> list[str]:
    """The events between the head (keep_first) and the tail, so that about
    `keep` items remain; summaries always stay."""
    ids = [i for i in items if isinstance(i, str)]
    tail_size = max(1, keep - keep_first)
    return ids[keep_first : max(keep_first, len(ids) - tail_size)]


@dataclass
class Condenser:
    spec: memory_pb2.CondenserSpec
    load: Loader
    summarizer: Summarizer | None = None

    async def apply(self, view: View) -> View:
        kind = self.spec.type
        spec = self.spec
        if kind == memory_pb2.CONDENSER_TYPE_NOOP:
            return view
        if kind == memory_pb2.CONDENSER_TYPE_RECENT:
            if len(view.items) <= spec.max_events:
                return view
            tail = view.items[-(spec.max_events - spec.keep_first) :]
            return View(view.items[: spec.keep_first] + tail, view.masked, view.made)
        if kind == memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING:
            older = view.items[: -spec.attention_window]
            masked = {i for i in older if isinstance(i, str)}
            return View(view.items, view.masked | masked, view.made)
        if kind == memory_pb2.CONDENSER_TYPE_PIPELINE:
            for step in spec.steps:
                view = await Condenser(step, self.load, self.summarizer).apply(view)
            return view
        # Rolling condensers: act only when over max_events, forget down to half.
        if len(view.items) <= spec.max_events:
            return view
        forgotten = _forgettable(view.items, spec.keep_first, spec.max_events // 2)
        condensation = events_pb2.Condensation(condenser=NAMES[kind], forgotten_event_ids=forgotten)
        if kind == memory_pb2.CONDENSER_TYPE_LLM_SUMMARIZING:
            assert self.summarizer is not None
            previous = next((i.text for i in view.items if isinstance(i, Summary)), "")
            condensation.summary = await self.summarizer.summarize(
                await self.load(forgotten),
                previous,
                spec.model,
                spec.max_summary_tokens or DEFAULT_SUMMARY_TOKENS,
            )
            condensation.summary_offset = spec.keep_first
        return View(replay(view.items, condensation), view.masked, [*view.made, condensation])


def validate(spec: memory_pb2.CondenserSpec, path: str = "condenser", depth: int = 0) -> None:
    """Raise INVALID_ARGUMENT naming the first bad field of a spec."""
    if spec.type not in NAMES:
        raise invalid(f"{path}.type", f"unknown condenser {spec.type}", "UNKNOWN_CONDENSER")
    if spec.keep_first < 0:
        raise invalid(f"{path}.keep_first", "must not be negative", "INVALID_CONDENSER")
    if (
        spec.type
        in (
            memory_pb2.CONDENSER_TYPE_RECENT,
            memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING,
            memory_pb2.CONDENSER_TYPE_LLM_SUMMARIZING,
        )
        and spec.max_events < spec.keep_first + 2
    ):
        raise invalid(f"{path}.max_events", "must be at least keep_first + 2", "INVALID_CONDENSER")
    if spec.type == memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING and spec.attention_window < 1:
        raise invalid(f"{path}.attention_window", "must be at least 1", "INVALID_CONDENSER")
    if spec.max_summary_tokens < 0:
        raise invalid(f"{path}.max_summary_tokens", "must not be negative", "INVALID_CONDENSER")
    if spec.type == memory_pb2.CONDENSER_TYPE_PIPELINE:
        if not spec.steps:
            raise invalid(
                f"{path}.steps", "a pipeline needs at least one step", "INVALID_CONDENSER"
            )
        if depth >= MAX_PIPELINE_DEPTH:
            raise invalid(f"{path}.steps", "pipelines nest too deeply", "INVALID_CONDENSER")
        for index, step in enumerate(spec.steps):
            validate(step, f"{path}.steps[{index}]", depth + 1)


def uses_llm(spec: memory_pb2.CondenserSpec) -> bool:
    return spec.type == memory_pb2.CONDENSER_TYPE_LLM_SUMMARIZING or any(
        uses_llm(step) for step in spec.steps
    )

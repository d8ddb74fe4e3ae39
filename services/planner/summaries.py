"""The prompt behind Summarize: older steps of a trajectory folded into a
structured summary the agent can keep working from."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from codeact.v1 import events_pb2
from services.common.transcript import text_of

INSTRUCTIONS = """\
You maintain the memory of a coding agent that works by running Python in a sandbox.
Older steps of its work are being removed from its context; write what it must keep.
Merge the previous summary (if any) with the new steps. Answer with these sections,
each a few short lines, and nothing else:

TASK: what the user asked, with every constraint and exact value they gave.
DONE: what has been completed and verified, with results.
STATE: variables, functions, files and packages that exist now and matter.
FAILURES: what was tried and failed, and why, so it is not repeated.
NEXT: what remains to be done.

Keep exact names, numbers, paths and error messages. Do not invent anything."""

LABELS = {
    "system_prompt": "SYSTEM",
    "user_message": "USER",
    "thought": "THOUGHT",
    "action": "ACTION",
    "policy_verdict": "POLICY",
    "observation": "OBSERVATION",
    "condensation": "EARLIER SUMMARY",
    "final_answer": "ANSWER",
    "error": "ERROR",
}


def _clip(text: str, limit: int) -> str:
    """Keep the head and the tail of long text; outputs say most at both ends."""
    if len(text) <= limit:
        return text
    half = max(1, limit // 2)
    return f"{text[:half]}\n[... {len(text) - 2 * half} characters omitted ...]\n{text[-half:]}"


def transcript(events: Sequence[events_pb2.Event], event_chars: int, total_chars: int) -> str:
    """The events as labelled text, each clipped, the whole kept under total_chars
    by clipping the middle events harder."""
    parts = [
        f"[{e.sequence or i + 1}] {LABELS.get(e.WhichOneof('payload') or '', 'EVENT')}: "
        + _clip(text_of(e), event_chars)
        for i, e in enumerate(events)
    ]
    text = "\n\n".join(parts)
    return _clip(text, total_chars)


def messages(
    events: Sequence[events_pb2.Event],
    previous_summary: str,
    max_tokens: int,
    event_chars: int,
    total_chars: int,
) -> list[dict[str, Any]]:
    steps = transcript(events, event_chars, total_chars)
    earlier = previous_summary.strip() or "(none)"
    user = (
        f"PREVIOUS SUMMARY:\n{earlier}\n\nNEW STEPS:\n{steps}\n\n"
        f"Write the updated summary in at most about {max_tokens} tokens."
    )
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": user}]

"""Stuck-loop detection, after OpenHands' five patterns:

1. the same action with the same observation 4 times in a row;
2. the same action ending in an error 3 times in a row, or 3 identical
   syntax errors in a row;
3. the same message from the model (a reply that was not an action) 3 times;
4. two actions alternating, A-B-A-B-A-B, over 6 steps (with their results);
5. 10 condensations in a row with nothing else between them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    action: str
    observation: str
    error: bool = False
    syntax_error: str = ""


@dataclass(frozen=True)
class Message:
    text: str


@dataclass(frozen=True)
class Condensed:
    pass


Record = Step | Message | Condensed


class StuckDetector:
    def __init__(self) -> None:
        self.history: list[Record] = []

    def add(self, record: Record) -> str | None:
        """Record what happened; the reason the agent is stuck, or None."""
        self.history.append(record)
        return self.reason()

    def _tail(self, kind: type, count: int) -> list[Record] | None:
        """The last `count` records if they are all of this kind."""
        tail = self.history[-count:]
        if len(tail) == count and all(isinstance(r, kind) for r in tail):
            return tail
        return None

    def reason(self) -> str | None:
        steps = self._tail(Step, 4)
        if steps is not None and len(set(steps)) == 1:
            return "the same action gave the same result 4 times in a row"
        last3 = self._tail(Step, 3)
        if last3 is not None:
            typed = [r for r in last3 if isinstance(r, Step)]
            if all(s.error for s in typed) and len({s.action for s in typed}) == 1:
                return "the same action failed 3 times in a row"
            errors = {s.syntax_error for s in typed}
            if "" not in errors and len(errors) == 1:
                return "the same syntax error came back 3 times in a row"
        messages = self._tail(Message, 3)
        if messages is not None and len(set(messages)) == 1:
            return "the model sent the same message 3 times in a row"
        six = self._tail(Step, 6)
        if six is not None:
            a, b = six[0], six[1]
            if a != b and all(r == (a if i % 2 == 0 else b) for i, r in enumerate(six)):
                return "the agent alternated between the same two actions for 6 steps"
        if self._tail(Condensed, 10) is not None:
            return "the context was condensed 10 times in a row without progress"
        return None

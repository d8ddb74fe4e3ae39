"""What the model is told after an action: a cell's output, a policy
refusal, a syntax error. Long outputs keep their head and tail."""

from __future__ import annotations

import ast
import traceback
from collections.abc import Sequence

from codeact.v1 import common_pb2, executor_pb2

STATUS = executor_pb2.ExecutionStatus
TRACEBACK_LINES = 30


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = max(1, limit // 2)
    omitted = len(text) - 2 * half
    return f"{text[:half]}\n[... {omitted} characters omitted ...]\n{text[-half:]}"


def syntax_error(code: str) -> str | None:
    """Python's own message for code that does not parse, or None."""
    try:
        ast.parse(code, "<cell>")
    except SyntaxError as exc:
        return "".join(traceback.format_exception_only(exc)).rstrip()
    except ValueError as exc:  # null bytes
        return f"SyntaxError: {exc}"
    return None


def findings_text(findings: Sequence[common_pb2.Finding]) -> str:
    lines = []
    for finding in findings:
        where = f"line {finding.line}: " if finding.line else ""
        line = f"- {where}{finding.message} [{finding.rule_id}]"
        if finding.suggestions:
            line += f" (did you mean: {', '.join(finding.suggestions)}?)"
        lines.append(line)
    return "\n".join(lines)


def refusal(findings: Sequence[common_pb2.Finding]) -> str:
    return "The policy refused this code, so nothing was run. Change the code:\n" + findings_text(
        findings
    )


class CellObservation:
    """Collects a cell's events into the observation text."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.notes: list[str] = []
        self.displays = 0
        self.status: executor_pb2.ExecutionStatus.ValueType = executor_pb2.EXECUTION_STATUS_OK

    def add(self, event: executor_pb2.ExecuteResponse) -> None:
        kind = event.WhichOneof("event")
        if kind == "output":
            self.parts.append(event.output.text)
        elif kind == "result":
            text = event.result.data.text.get("text/plain", "")
            if text:
                self.parts.append(text if text.endswith("\n") else text + "\n")
        elif kind == "display":
            self.displays += 1
            kinds = sorted({*event.display.data.binary, *event.display.data.text} - {"text/plain"})
            shown = ", ".join(kinds) or "text"
            self.parts.append(f"[displayed to the user: {shown}]\n")
        elif kind == "error":
            lines = list(event.error.traceback) or [f"{event.error.ename}: {event.error.evalue}"]
            self.parts.append("\n".join(lines[-TRACEBACK_LINES:]).rstrip("\n") + "\n")
        elif kind == "completion":
            self._complete(event.completion)

    def _complete(self, completion: executor_pb2.Completion) -> None:
        self.status = completion.status
        wall = completion.wall_time.ToTimedelta().total_seconds()
        if completion.status == executor_pb2.EXECUTION_STATUS_TIMEOUT:
            self.notes.append(f"[the cell was stopped after {wall:.1f} s: it ran too long]")
        elif completion.status == executor_pb2.EXECUTION_STATUS_OOM:
            self.notes.append("[the cell ran out of memory and was stopped]")
        elif completion.status == executor_pb2.EXECUTION_STATUS_INTERRUPTED:
            self.notes.append("[the cell was interrupted]")
        elif completion.status == executor_pb2.EXECUTION_STATUS_KILLED:
            self.notes.append(f"[the interpreter died: {completion.message or 'killed'}]")
        if completion.interpreter_restarted:
            self.notes.append("[the interpreter was restarted: every variable and import is gone]")
        if completion.rolled_back:
            self.notes.append("[the state was rolled back to what it was before this cell]")
        if completion.output_truncated:
            self.notes.append("[the output was cut at the session's output limit]")

    def text(self) -> str:
        body = "".join(self.parts).rstrip("\n")
        if not body and not self.notes:
            return "[the cell ran and printed nothing]"
        return clip("\n".join([p for p in (body, *self.notes) if p]), self.max_chars)

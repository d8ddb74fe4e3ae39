"""A task's events, printed for people: thoughts, highlighted code, live
output, images saved to files, the answer and what it cost."""

from __future__ import annotations

import io
import keyword
import tokenize
from pathlib import Path
from typing import TextIO

from .v1 import agent_pb2, common_pb2, events_pb2, executor_pb2

RESET, BOLD, DIM, ITALIC = "\033[0m", "\033[1m", "\033[2m", "\033[3m"
RED, GREEN, YELLOW, BLUE, MAGENTA, CYAN = (f"\033[{n}m" for n in (31, 32, 33, 34, 35, 36))
IMAGE_SUFFIXES = {"image/png": "png", "image/jpeg": "jpg", "image/svg+xml": "svg"}
LANGUAGE = {events_pb2.TOOL_EXECUTE_PYTHON: "python", events_pb2.TOOL_EXECUTE_BASH: "bash"}


def highlight(code: str, color: bool) -> str:
    """Python with keywords, strings, numbers and comments coloured (tokenize)."""
    if not color:
        return code
    out: list[str] = []
    lines = code.splitlines(keepends=True)
    position = (1, 0)
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type == tokenize.ENDMARKER:
                break
            out.append(_between(lines, position, token.start))
            paint = ""
            if token.type == tokenize.NAME and keyword.iskeyword(token.string):
                paint = BOLD + BLUE
            elif token.type == tokenize.STRING:
                paint = GREEN
            elif token.type == tokenize.NUMBER:
                paint = CYAN
            elif token.type == tokenize.COMMENT:
                paint = DIM
            out.append(f"{paint}{token.string}{RESET}" if paint else token.string)
            position = token.end
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code  # unfinished code is shown as it is
    out.append(_between(lines, position, (len(lines) + 1, 0)))
    return "".join(out)


def _between(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    """The source text between two tokenize positions (whitespace, newlines)."""
    (row, col), (end_row, end_col) = start, end
    if row == end_row:
        return lines[row - 1][col:end_col] if row <= len(lines) else ""
    text = lines[row - 1][col:] if row <= len(lines) else ""
    text += "".join(lines[row : end_row - 1])
    if end_row <= len(lines):
        text += lines[end_row - 1][:end_col]
    return text


class Printer:
    def __init__(self, out: TextIO, color: bool, images_dir: Path) -> None:
        self.out = out
        self.color = color
        self.images_dir = images_dir
        self.step = 0
        self.images = 0
        self.printed_output = False
        self.at_line_start = True

    def _paint(self, text: str, *styles: str) -> str:
        return "".join(styles) + text + RESET if self.color else text

    def _line(self, text: str = "") -> None:
        if not self.at_line_start:
            self.out.write("\n")
        self.out.write(text + "\n")
        self.at_line_start = True
        self.out.flush()

    def show(self, event: agent_pb2.RunTaskResponse) -> None:
        kind = event.WhichOneof("event")
        if event.step != self.step and kind not in ("end",):
            self.step = event.step
            self.printed_output = False
            self._line(self._paint(f"── step {event.step} " + "─" * 40, DIM))
        handler = getattr(self, f"_{kind}", None)
        if handler is not None:
            handler(getattr(event, str(kind)))

    def _thought(self, thought: events_pb2.Thought) -> None:
        self._line(self._paint(thought.text, ITALIC, MAGENTA))

    def _code(self, action: events_pb2.CodeAction) -> None:
        if action.tool in LANGUAGE:
            language = LANGUAGE[action.tool]
            self._line(self._paint(f"{language}:", DIM))
            code = highlight(action.code, self.color) if language == "python" else action.code
            self._line("\n".join("  " + line for line in code.splitlines()))
        elif action.tool == events_pb2.TOOL_EDIT_FILE:
            command = events_pb2.EditCommand.Name(action.edit.command).removeprefix("EDIT_COMMAND_")
            self._line(self._paint(f"edit_file {command.lower()} {action.edit.path}", DIM))

    def _verdict(self, verdict: events_pb2.PolicyVerdict) -> None:
        if verdict.decision == common_pb2.DECISION_ALLOW:
            return
        name = common_pb2.Decision.Name(verdict.decision).removeprefix("DECISION_")
        colour = RED if verdict.decision == common_pb2.DECISION_DENY else YELLOW
        self._line(self._paint(f"policy {name} ({verdict.profile_name}):", BOLD, colour))
        for finding in verdict.findings:
            where = f"line {finding.line}: " if finding.line else ""
            self._line(self._paint(f"  {where}{finding.message}", colour))

    def _output(self, chunk: executor_pb2.OutputChunk) -> None:
        if not self.printed_output:
            self._line(self._paint("output:", DIM))
            self.printed_output = True
        text = chunk.text
        if chunk.name == executor_pb2.STREAM_NAME_STDERR:
            text = self._paint(text, RED)
        self.out.write(text)
        self.at_line_start = chunk.text.endswith("\n")
        self.out.flush()

    def _display(self, display: executor_pb2.DisplayData) -> None:
        for mime, data in display.data.binary.items():
            suffix = IMAGE_SUFFIXES.get(mime)
            if suffix is None:
                continue
            self.images += 1
            self.images_dir.mkdir(parents=True, exist_ok=True)
            path = self.images_dir / f"step{self.step}-{self.images}.{suffix}"
            path.write_bytes(data)
            self._line(self._paint(f"[image saved to {path}]", CYAN))
            return
        text = display.data.text.get("text/plain")
        if text:
            self._line(text)

    def _observation(self, observation: events_pb2.Observation) -> None:
        # Output was shown as it came; say what else the model was told.
        if not self.printed_output and observation.content:
            ok = observation.status in (
                executor_pb2.EXECUTION_STATUS_OK,
                executor_pb2.EXECUTION_STATUS_UNSPECIFIED,
            )
            self._line(self._paint(observation.content, DIM if ok else RED))

    def _condensation(self, condensation: events_pb2.Condensation) -> None:
        forgotten = len(condensation.forgotten_event_ids)
        self._line(self._paint(f"[context condensed: {forgotten} events forgotten]", DIM))

    def _final_answer(self, answer: events_pb2.FinalAnswer) -> None:
        self._line(self._paint("answer: ", BOLD, GREEN) + answer.text)

    def _error(self, error: events_pb2.AgentError) -> None:
        self._line(self._paint(f"error {error.reason}: {error.message}", RED))

    def _end(self, end: agent_pb2.TaskEnd) -> None:
        outcome = agent_pb2.TaskOutcome.Name(end.outcome).removeprefix("TASK_OUTCOME_")
        usage = end.usage
        seconds = end.elapsed.ToTimedelta().total_seconds()
        colour = GREEN if end.outcome == agent_pb2.TASK_OUTCOME_FINISHED else YELLOW
        self._line(
            self._paint(f"{outcome}", BOLD, colour)
            + f" after {end.iterations} steps in {seconds:.1f} s"
            + ("" if end.outcome == agent_pb2.TASK_OUTCOME_FINISHED else f": {end.message}")
        )
        self._line(
            self._paint(
                f"tokens: {usage.prompt_tokens} prompt + {usage.completion_tokens} completion"
                f" = {usage.total_tokens}; {usage.requests} model requests",
                DIM,
            )
        )

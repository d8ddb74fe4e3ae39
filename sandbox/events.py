"""What a running cell reports, as plain data (the executor maps it to protobuf)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Status(enum.Enum):
    """How a cell ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    OOM = "oom"
    KILLED = "killed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Output:
    """Text written to stdout or stderr."""

    stream: str  # "stdout" or "stderr"
    text: str


@dataclass(frozen=True)
class Display:
    """A rich value: text representations and binary ones, by MIME type."""

    text: dict[str, str]
    binary: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The value of the cell's trailing expression."""

    text: dict[str, str]
    binary: dict[str, bytes]
    execution_count: int


@dataclass(frozen=True)
class Error:
    """An exception raised by the cell."""

    ename: str
    evalue: str
    traceback: list[str]


@dataclass(frozen=True)
class Completion:
    """The last event of every cell."""

    status: Status
    wall_time: float
    cpu_time: float
    peak_memory_bytes: int
    execution_count: int
    output_truncated: bool
    interpreter_alive: bool
    message: str = ""
    rolled_back: bool = False
    interpreter_restarted: bool = False


Event = Output | Display | Result | Error | Completion

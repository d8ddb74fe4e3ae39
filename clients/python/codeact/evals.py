"""`codeact eval`: tasks in the M3ToolEval style, run through the agent.

A task is a TOML file:

    instruction = "What do 3 apples and 2 pears cost?"
    answer = "7.5"
    tools = '''
    def price(item: str) -> float:
        "The unit price of a fruit."
        return {"apple": 1.5, "pear": 1.5}[item]
    '''

The tool functions are defined in the agent's sandbox before the task and
listed (signatures and docstrings) in the instruction; the final answer must
match `answer` exactly (surrounding space, case and a final period ignored).
An optional `solution` is Python that prints the answer with the tools
defined; it is never shown to the model (the tests use it to check a suite).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .agent import AgentClient
from .executor import ExecutorClient
from .v1 import agent_pb2

PACKAGED_SUITE = Path(__file__).resolve().parent / "examples" / "eval"


@dataclass(frozen=True)
class EvalTask:
    name: str
    instruction: str
    answer: str
    tools: str = ""
    solution: str = ""

    def prompt(self) -> str:
        if not self.tools:
            return self.instruction
        return (
            f"{self.instruction}\n\nThese Python functions are already defined in the sandbox; "
            f"call them from your code:\n\n{describe_tools(self.tools)}\n\n"
            "Finish with the answer only, exactly as asked."
        )


@dataclass(frozen=True)
class EvalResult:
    task: EvalTask
    answer: str
    success: bool
    turns: int
    outcome: str


def describe_tools(source: str) -> str:
    """The signatures and docstrings of the functions a tools file defines."""
    tree = ast.parse(source)
    parts = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            signature = ast.unparse(node.args)
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            doc = ast.get_docstring(node) or ""
            parts.append(
                f"def {node.name}({signature}){returns}:\n    {doc!r}"
                if doc
                else f"def {node.name}({signature}){returns}: ..."
            )
    return "\n".join(parts)


def load_task(path: Path) -> EvalTask:
    with open(path, "rb") as f:
        table = tomllib.load(f)
    unknown = set(table) - {"name", "instruction", "answer", "tools", "solution"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    for key in ("instruction", "answer"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise ValueError(f"{path}: '{key}' must be a non-empty string")
    tools = table.get("tools", "")
    if tools:
        try:
            ast.parse(tools)
        except SyntaxError as exc:
            raise ValueError(f"{path}: tools do not parse: {exc}") from None
    return EvalTask(
        table.get("name", path.stem),
        table["instruction"],
        table["answer"],
        tools,
        table.get("solution", ""),
    )


def load_suite(paths: Iterable[Path]) -> list[EvalTask]:
    files: list[Path] = []
    for path in paths:
        if not path.exists():
            raise ValueError(f"{path}: no such file or directory")
        files += sorted(path.glob("*.toml")) if path.is_dir() else [path]
    if not files:
        raise ValueError("no task files (*.toml) found")
    return [load_task(f) for f in files]


def normalize(answer: str) -> str:
    return answer.strip().removesuffix(".").strip().casefold()


def run_suite(
    tasks: list[EvalTask],
    agent: AgentClient,
    executor: ExecutorClient,
    profile_name: str = "",
    profile: agent_pb2.AgentProfile | None = None,
    timeout: float = 600.0,
) -> Iterator[EvalResult]:
    for task in tasks:
        with agent.create_session(profile_name, profile) as session:
            if task.tools:
                setup = executor.get_session(session.info.executor_session_id).run(task.tools)
                if not setup.ok:
                    raise ValueError(f"{task.name}: the tools failed to load: {setup.error}")
            answer, turns, outcome = "", 0, "ERROR"
            for event in session.run(task.prompt(), timeout=timeout):
                kind = event.WhichOneof("event")
                if kind == "final_answer":
                    answer = event.final_answer.text
                elif kind == "end":
                    turns = event.end.iterations
                    outcome = agent_pb2.TaskOutcome.Name(event.end.outcome).removeprefix(
                        "TASK_OUTCOME_"
                    )
        success = outcome == "FINISHED" and normalize(answer) == normalize(task.answer)
        yield EvalResult(task, answer, success, turns, outcome)

"""Prompts as data: the system prompt, tool descriptions, format hints,
few-shot examples and prompt extensions live in files under prompts/.

Templates use `${name}` placeholders (string.Template). An extension is a
markdown file whose front matter lists trigger words; it is added to the
system prompt when one of them appears in the task.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, TypeAlias

from codeact.v1 import events_pb2, planner_pb2

ToolId: TypeAlias = events_pb2.Tool.ValueType
BUILTIN_DIR = Path(__file__).resolve().parent / "prompts"
TEMPLATES = ("system", "format_tools", "format_text", "hint_tools", "hint_text")
TOOL_NAMES = {
    events_pb2.TOOL_EXECUTE_PYTHON: "execute_python",
    events_pb2.TOOL_EXECUTE_BASH: "execute_bash",
    events_pb2.TOOL_EDIT_FILE: "edit_file",
    events_pb2.TOOL_THINK: "think",
    events_pb2.TOOL_FINISH: "finish",
}
TOOLS_BY_NAME = {name: tool for tool, name in TOOL_NAMES.items()}
MAX_LISTED_PACKAGES = 200
RENDERED_CACHE = 256


@dataclass(frozen=True)
class Extension:
    name: str
    triggers: tuple[str, ...]
    text: str

    def triggered_by(self, task: str) -> bool:
        return any(
            re.search(rf"\b{re.escape(word)}\b", task, re.IGNORECASE) for word in self.triggers
        )


def _extension(path: Path) -> Extension:
    text = path.read_text()
    triggers: tuple[str, ...] = ()
    if text.startswith("---\n"):
        header, _, text = text[4:].partition("\n---\n")
        for line in header.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "triggers":
                triggers = tuple(w.strip().lower() for w in value.split(",") if w.strip())
    if not triggers:
        raise ValueError(f"{path}: an extension needs a 'triggers:' line in its front matter")
    return Extension(path.stem, triggers, text.strip())


class PromptLibrary:
    def __init__(self, directory: Path = BUILTIN_DIR) -> None:
        self.directory = directory
        self.templates: dict[str, Template] = {}
        for name in TEMPLATES:
            path = directory / f"{name}.md"
            if not path.is_file():
                raise ValueError(f"prompt template {path} is missing")
            self.templates[name] = Template(path.read_text().strip())
        with open(directory / "tools.toml", "rb") as f:
            self.tools: dict[str, dict[str, Any]] = tomllib.load(f)
        missing = set(TOOLS_BY_NAME) - set(self.tools)
        if missing:
            raise ValueError(f"{directory}/tools.toml lacks {', '.join(sorted(missing))}")
        self.examples = {
            mode: (directory / "examples" / f"{mode}.md").read_text().strip()
            if (directory / "examples" / f"{mode}.md").is_file()
            else ""
            for mode in ("text", "tools")
        }
        self._rendered: dict[tuple[bytes, tuple[ToolId, ...], bool], str] = {}
        self.extensions = {
            path.stem: _extension(path) for path in sorted(directory.glob("extensions/*.md"))
        }

    def tool_schemas(self, tools: Sequence[ToolId]) -> list[dict[str, Any]]:
        """The OpenAI `tools` argument for these tools."""
        return [
            {
                "type": "function",
                "function": {
                    "name": TOOL_NAMES[tool],
                    "description": " ".join(self.tools[TOOL_NAMES[tool]]["description"].split()),
                    "parameters": self.tools[TOOL_NAMES[tool]]["parameters"],
                },
            }
            for tool in tools
        ]

    def extensions_for(self, options: planner_pb2.PromptOptions) -> list[Extension]:
        if not options.enable_prompt_extensions:
            return []
        disabled = set(options.disabled_prompt_extensions)
        return [
            e
            for name, e in self.extensions.items()
            if name not in disabled and e.triggered_by(options.task)
        ]

    def system_prompt(
        self, options: planner_pb2.PromptOptions, tools: Sequence[ToolId], text_mode: bool
    ) -> str:
        """The system prompt; the same options give the same text, which is
        kept (an agent asks with the same options at every step)."""
        key = (options.SerializeToString(deterministic=True), tuple(tools), text_mode)
        cached = self._rendered.get(key)
        if cached is None:
            if len(self._rendered) >= RENDERED_CACHE:
                self._rendered.clear()
            cached = self._rendered[key] = self._system_prompt(options, tools, text_mode)
        return cached

    def _system_prompt(
        self, options: planner_pb2.PromptOptions, tools: Sequence[ToolId], text_mode: bool
    ) -> str:
        if text_mode:
            action_format = self.templates["format_text"].safe_substitute()
        else:
            listed = "\n".join(
                f"- {TOOL_NAMES[t]}: {' '.join(self.tools[TOOL_NAMES[t]]['description'].split())}"
                for t in tools
            )
            action_format = self.templates["format_tools"].safe_substitute(tool_list=listed)
        extensions = self.extensions_for(options)
        text = self.templates["system"].safe_substitute(
            packages=_packages(options.available_packages),
            imports=_imports(options.allowed_imports),
            format=action_format,
            examples=self.examples["text" if text_mode else "tools"],
            extensions="\n\n".join(e.text for e in extensions),
        )
        return re.sub(r"\n{3,}", "\n\n", text).strip()

    def format_hint(self, reason: str, tools: Sequence[ToolId], text_mode: bool) -> str:
        template = self.templates["hint_text" if text_mode else "hint_tools"]
        return template.safe_substitute(
            reason=reason, tool_names=", ".join(TOOL_NAMES[t] for t in tools)
        )


def _packages(packages: Iterable[Any]) -> str:
    listed = sorted(packages, key=lambda p: p.name.lower())[:MAX_LISTED_PACKAGES]
    if not listed:
        return "Only the Python standard library is installed."
    parts = []
    for package in listed:
        part = f"{package.name} {package.version}".strip()
        modules = [
            m for m in package.modules if m.lower() != package.name.lower().replace("-", "_")
        ]
        if modules:
            part += f" (import {', '.join(sorted(modules)[:5])})"
        parts.append(part)
    return "Installed packages, besides the standard library: " + ", ".join(parts) + "."


def _imports(allowed: Sequence[str]) -> str:
    if not allowed:
        return ""
    return f"Only these modules may be imported (with their submodules): {', '.join(allowed)}."

"""One pass over a cell's AST, producing findings for the rules in rules.py.

A pre-pass collects import aliases (so `sp.run` is known as `subprocess.run`)
and the names the cell binds itself (so a variable called `input` is not the
builtin). Names the parser normalised (NFKC) are caught as such; strings are
normalised here before they are searched for dunder names.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from . import rules
from .modules import ModuleIndex
from .rules import Severity

SNIPPET_CHARS = 200
_DUNDER = re.compile(
    r"__[A-Za-z_][A-Za-z0-9_]*__|\b(?:gi|cr|ag|f|tb|co)_(?:frame|code|back|globals|locals|builtins|next)\b"
)
WRITE_MODES = re.compile(r"[wax+]")
# Cheap first tests, so most nodes are dismissed with one set lookup.
NAMES_OF_INTEREST = (
    rules.DYNAMIC_CODE
    | rules.INTERACTIVE
    | rules.NAMESPACE_CALLS
    | rules.DANGEROUS_DUNDERS
    | {"__builtins__", "__builtin__"}
)
CALLS_OF_INTEREST = rules.REFLECTION_CALLS | {"open"}
LAST_PARTS = frozenset(name.rsplit(".", 1)[-1] for name in rules.CALL_RULES)
PREFIX_LAST_PARTS = tuple(prefix.rsplit(".", 1)[-1] for prefix in rules.CALL_PREFIXES)
FRAME_WORDS = tuple(sorted(rules.FRAME_ATTRIBUTES))


@dataclass(frozen=True)
class Finding:
    rule_id: str
    severity: Severity
    message: str
    line: int
    column: int
    end_line: int
    end_column: int
    snippet: str
    suggestions: tuple[str, ...] = ()


@dataclass
class ScanOptions:
    allowed_imports: frozenset[str] = frozenset()
    denied_imports: frozenset[str] = frozenset()
    check_installed: bool = True
    extra_modules: frozenset[str] = frozenset()
    # rule id -> severity, for the rules that are on.
    severities: dict[str, Severity] = field(default_factory=dict)


def _prefixes(module: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b', 'a.b.c']."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _matches(module: str, names: frozenset[str]) -> bool:
    """module is one of names, or a submodule of one."""
    return any(prefix in names for prefix in _prefixes(module))


# Fields whose lists may hold something other than nodes (names, None).
_MIXED_LIST_FIELDS = frozenset({"names", "keys", "kw_defaults", "defaults"})
_CHILD_FIELDS: dict[type, tuple[tuple[str, bool], ...]] = {}


def _buckets(tree: ast.AST) -> dict[type, list[Any]]:
    """Every node of the tree, grouped by type, in one traversal (a third of
    ast.walk's cost: no generators, and the shared Load/Store contexts skipped)."""
    buckets: dict[type, list[Any]] = defaultdict(list)
    stack = [tree]
    pop, push, extend = stack.pop, stack.append, stack.extend
    node_type = ast.AST
    while stack:
        node = pop()
        kind = type(node)
        buckets[kind].append(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(
                (f, f in _MIXED_LIST_FIELDS) for f in kind._fields if f != "ctx"
            )
        for name, mixed in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                if mixed:
                    extend(v for v in value if isinstance(v, node_type))
                else:
                    extend(value)
            elif isinstance(value, node_type):
                push(value)
    return buckets


def _dotted(node: ast.AST) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


class Scanner:
    def __init__(self, code: str, options: ScanOptions, modules: ModuleIndex) -> None:
        self.code = code
        self.lines = code.splitlines()
        self.options = options
        self.modules = modules
        self.findings: list[Finding] = []
        self.aliases: dict[str, str] = {}
        self.bound: set[str] = set()
        self._seen: set[tuple[str, int, int]] = set()

    # --- infrastructure -------------------------------------------------------------
    def scan(self, tree: ast.Module) -> list[Finding]:
        buckets = _buckets(tree)
        self._prepass(buckets)
        for kind, handler in (
            (ast.Import, self.visit_Import),
            (ast.ImportFrom, self.visit_ImportFrom),
            (ast.Name, self.visit_Name),
            (ast.Attribute, self.visit_Attribute),
            (ast.Call, self.visit_Call),
            (ast.Constant, self.visit_Constant),
        ):
            for node in buckets.get(kind, ()):
                handler(node)
        return self.findings

    def _prepass(self, buckets: dict[type, list[Any]]) -> None:
        """Import aliases, and every name the cell binds itself."""
        for node in buckets.get(ast.Import, ()):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.aliases[local] = alias.name if alias.asname else local
        for node in buckets.get(ast.ImportFrom, ()):
            if node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in buckets.get(ast.Name, ()):
            if not isinstance(node.ctx, ast.Load):
                self.bound.add(node.id)
        for kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
            self.bound.update(node.name for node in buckets.get(kind, ()))
        self.bound.update(node.arg for node in buckets.get(ast.arg, ()))

    def _snippet(self, node: ast.AST) -> str:
        text = ast.get_source_segment(self.code, node) or ""
        line: int = getattr(node, "lineno", 0)
        if not text and 0 < line <= len(self.lines):
            text = self.lines[line - 1].strip()
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 3] + "..."

    def report(
        self, rule_id: str, node: ast.AST, message: str, suggestions: tuple[str, ...] = ()
    ) -> None:
        severity = self.options.severities.get(rule_id)
        if severity is None:
            return  # the rule is off in this profile
        line = getattr(node, "lineno", 1)
        column = getattr(node, "col_offset", 0)
        key = (rule_id, line, column)
        if key in self._seen:
            return
        self._seen.add(key)
        self.findings.append(
            Finding(
                rule_id,
                severity,
                message,
                line,
                column,
                getattr(node, "end_lineno", None) or line,
                getattr(node, "end_col_offset", None) or column,
                self._snippet(node),
                suggestions,
            )
        )

    def _qualified(self, node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        if head in self.aliases:
            return f"{self.aliases[head]}.{rest}" if rest else self.aliases[head]
        return dotted

    # --- imports --------------------------------------------------------------------
    def _check_module(self, module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        options = self.options
        if _matches(module, options.denied_imports):
            self.report(
                "import-denied", node, f"importing {module!r} is not allowed by this profile"
            )
        elif options.allowed_imports and not _matches(module, options.allowed_imports):
            allowed = ", ".join(sorted(options.allowed_imports))
            self.report(
                "import-not-allowed",
                node,
                f"importing {module!r} is not allowed by this profile; allowed: {allowed}",
            )
        if options.check_installed and not self.modules.available(top, options.extra_modules):
            self.report(
                "import-not-available",
                node,
                self.modules.not_available_message(top),
                tuple(self.modules.suggestions(top)),
            )
        for prefix in _prefixes(module):
            rule_id = rules.MODULE_RULES.get(prefix)
            if rule_id is not None:
                self.report(rule_id, node, _module_message(rule_id, module))
                break

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level or not node.module:
            return  # relative imports: the workspace's own modules
        self._check_module(node.module, node)
        for alias in node.names:
            self._check_qualified(f"{node.module}.{alias.name}", node)

    # --- names, attributes, calls -----------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name not in NAMES_OF_INTEREST:
            return
        if isinstance(node.ctx, ast.Load) and name not in self.bound:
            if name in rules.DYNAMIC_CODE:
                self.report("dynamic-code", node, _DYNAMIC.format(name=name))
            elif name in rules.INTERACTIVE:
                self.report("interactive", node, _INTERACTIVE.format(name=name))
            elif name in rules.NAMESPACE_CALLS:
                self.report(
                    "reflection", node, f"{name}() exposes namespaces; name what you need directly"
                )
        if name in ("__builtins__", "__builtin__"):
            self.report("builtins-access", node, "reaching the builtins namespace is not allowed")
        elif name.startswith("__") and name.endswith("__") and name in rules.DANGEROUS_DUNDERS:
            self.report("dangerous-dunder", node, _dunder_message(name))

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr in rules.FRAME_ATTRIBUTES:
            self.report("frame-access", node, _FRAMES.format(name=attr))
        elif attr in rules.WALK_STEPS:
            inner = node.value
            if isinstance(inner, ast.Attribute) and inner.attr.startswith("__"):
                self.report("dangerous-dunder", node, _dunder_message(attr))
            else:
                self.report("dunder-attribute", node, _OTHER_DUNDER.format(name=attr))
        elif attr in rules.DANGEROUS_DUNDERS:
            self.report("dangerous-dunder", node, _dunder_message(attr))
        elif attr.startswith("__") and attr.endswith("__") and attr not in rules.SAFE_DUNDERS:
            self.report("dunder-attribute", node, _OTHER_DUNDER.format(name=attr))
        if attr in LAST_PARTS or attr.startswith(PREFIX_LAST_PARTS):
            qualified = self._qualified(node)
            if qualified is not None:
                self._check_qualified(qualified, node)

    def _check_qualified(self, qualified: str, node: ast.AST) -> None:
        rule_id = rules.CALL_RULES.get(qualified)
        if rule_id is None:
            for prefix, candidate in rules.CALL_PREFIXES.items():
                if qualified.startswith(prefix):
                    rule_id = candidate
                    break
        if rule_id is not None:
            self.report(rule_id, node, _call_message(rule_id, qualified))

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr != "open" and func.attr not in rules.WRITE_METHODS:
                return
        elif not (isinstance(func, ast.Name) and func.id in CALLS_OF_INTEREST):
            return
        name = func.id if isinstance(func, ast.Name) and func.id not in self.bound else None
        if name in rules.REFLECTION_CALLS and len(node.args) >= 2:
            target = node.args[1]
            if not (isinstance(target, ast.Constant) and isinstance(target.value, str)):
                self.report(
                    "reflection",
                    node,
                    f"{name}() with a computed attribute name can reach anything; "
                    "use the attribute by its name",
                )
        if name == "open" or (isinstance(func, ast.Attribute) and func.attr == "open"):
            mode = _open_mode(node)
            if mode is not None and WRITE_MODES.search(mode):
                self.report("open-write", node, _WRITE.format(mode=mode))
        if isinstance(func, ast.Attribute) and func.attr in rules.WRITE_METHODS:
            self.report(
                "open-write", node, f".{func.attr}() writes a file; this profile forbids writing"
            )

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str) or "_" not in value:
            return
        if value.isascii():
            if "__" not in value and not any(word in value for word in FRAME_WORDS):
                return
            text = value
        else:
            text = unicodedata.normalize("NFKC", value)
        for match in _DUNDER.finditer(text):
            word = match.group(0)
            if word in rules.DANGEROUS_DUNDERS or word in rules.FRAME_ATTRIBUTES:
                self.report(
                    "dunder-string",
                    node,
                    f"the string mentions {word!r}, a name used to walk into interpreter "
                    "internals (through getattr, format strings or eval)",
                )
                break


def _open_mode(call: ast.Call) -> str | None:
    mode: ast.expr | None = call.args[1] if len(call.args) >= 2 else None
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return mode.value
    return None


_DYNAMIC = (
    "{name}() runs code built at run time, which defeats every check before execution; "
    "write the code directly in the cell"
)
_INTERACTIVE = (
    "{name}() waits for a person (or pages text); nobody answers in the sandbox, so it "
    "fails or hangs; print what you need instead"
)
_FRAMES = (
    "{name} reaches stack frames or code objects, the way out of restricted code; it is not allowed"
)
_OTHER_DUNDER = "{name} is an interpreter-level attribute; use the object's public API"
_WRITE = "open(..., {mode!r}) writes a file; this profile forbids writing"


def _dunder_message(name: str) -> str:
    return (
        f"{name} walks from an object into interpreter internals (the start of class-hierarchy "
        "escapes); it is not allowed. Use the object's public API instead"
    )


def _module_message(rule_id: str, module: str) -> str:
    return {
        "process": f"{module} starts processes; prefer Python (or the bash tool for shell work)",
        "network": f"{module} needs the network, and the sandbox has none: this will fail",
        "ctypes": f"{module} calls native code directly; it is not allowed",
        "multiprocessing": f"{module} starts processes; mind the session's process limit",
        "import-machinery": f"{module} changes how imports work; import modules normally",
        "dynamic-code": f"{module} compiles and runs code at run time; write the code directly",
        "builtins-access": f"{module} exposes the builtins namespace; it is not allowed",
        "deserialization": f"{module} can run code while loading data; load only your own files",
        "interactive": f"{module} waits for a person; nobody answers in the sandbox",
        "gc-introspection": f"{module} can reach any object in the interpreter; it is not allowed",
    }.get(rule_id, f"{module} is flagged by {rule_id}")


def _call_message(rule_id: str, name: str) -> str:
    if rule_id == "frame-access":
        return _FRAMES.format(name=name)
    return _module_message(rule_id, name)

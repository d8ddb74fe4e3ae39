"""The rules of the policy checker: ids, default severities, and what they flag.

Every rule here is ours (AST scans). RestrictedPython's own checks are the
separate `restricted-python` rule (see restricted.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    INFO = 1
    WARNING = 2
    ERROR = 3


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity  # the default; a profile may change it or turn the rule off
    summary: str


RULES = {
    rule.id: rule
    for rule in (
        Rule("syntax-error", Severity.ERROR, "the cell does not parse"),
        Rule(
            "syntax-warning", Severity.INFO, "the parser's warnings (a likely missing comma, ...)"
        ),
        Rule("import-denied", Severity.ERROR, "a module the profile denies"),
        Rule("import-not-allowed", Severity.ERROR, "a module outside the profile's allow list"),
        Rule("import-not-available", Severity.ERROR, "neither installed in the sandbox nor stdlib"),
        Rule("dynamic-code", Severity.ERROR, "exec, eval, compile, __import__"),
        Rule("dangerous-dunder", Severity.ERROR, "class-hierarchy and globals walks"),
        Rule("dunder-attribute", Severity.INFO, "other dunder attributes"),
        Rule("dunder-string", Severity.ERROR, "a dangerous dunder name inside a string"),
        Rule("frame-access", Severity.ERROR, "frames and code objects"),
        Rule("builtins-access", Severity.ERROR, "the builtins module or __builtins__"),
        Rule("reflection", Severity.WARNING, "getattr/setattr with computed names, globals()"),
        Rule("import-machinery", Severity.WARNING, "importlib, sys.modules and friends"),
        Rule("process", Severity.WARNING, "subprocess, os.system and friends"),
        Rule("network", Severity.WARNING, "sockets and HTTP (the sandbox has no network)"),
        Rule("ctypes", Severity.ERROR, "ctypes and other foreign-function access"),
        Rule("multiprocessing", Severity.INFO, "multiprocessing and process pools"),
        Rule("deserialization", Severity.INFO, "pickle, marshal, shelve"),
        Rule(
            "interactive", Severity.WARNING, "input, breakpoint, help and other interactive calls"
        ),
        Rule("open-write", Severity.INFO, "files opened for writing"),
        Rule("gc-introspection", Severity.WARNING, "gc.get_objects and referrer walks"),
        Rule(
            "restricted-python", Severity.ERROR, "RestrictedPython's compile_restricted refused it"
        ),
        Rule("unchecked-language", Severity.INFO, "a language the checker does not analyse"),
    )
}

# Attribute names that walk from an object to the interpreter's internals.
DANGEROUS_DUNDERS = frozenset(
    {
        "__subclasses__", "__globals__", "__builtins__", "__mro__", "__bases__", "__base__",
        "__code__", "__closure__", "__func__", "__self__", "__getattribute__", "__reduce__",
        "__reduce_ex__", "__loader__", "__spec__", "__import__", "__class__", "__dict__",
        "__init_subclass__", "__subclasshook__", "__get__", "__set_name__", "__defaults__",
        "__kwdefaults__", "__wrapped__",
    }
)  # fmt: skip
# Dunders that data code uses every day; never flagged.
SAFE_DUNDERS = frozenset(
    {
        "__name__", "__doc__", "__version__", "__file__", "__init__", "__len__", "__qualname__",
        "__module__", "__all__", "__annotations__", "__repr__", "__str__", "__eq__", "__hash__",
        "__iter__", "__next__", "__enter__", "__exit__", "__call__", "__getitem__",
        "__setitem__", "__contains__", "__array__", "__array_interface__",
    }
)  # fmt: skip
# __class__ and __dict__ are dangerous only as steps of a walk: alone they are
# ordinary (obj.__class__.__name__); they count with a dangerous neighbour.
WALK_STEPS = frozenset({"__class__", "__dict__"})

FRAME_ATTRIBUTES = frozenset(
    {
        "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "f_back",
        "f_globals", "f_locals", "f_builtins", "f_code", "tb_frame", "tb_next", "co_code",
        "__traceback__",
    }
)  # fmt: skip

DYNAMIC_CODE = frozenset({"exec", "eval", "compile", "__import__"})
INTERACTIVE = frozenset(
    {"input", "breakpoint", "help", "license", "credits", "copyright", "exit", "quit"}
)
REFLECTION_CALLS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
NAMESPACE_CALLS = frozenset({"globals", "locals", "vars"})

# Modules (and their submodules) by the rule they fall under.
MODULE_RULES: dict[str, str] = {
    "subprocess": "process", "pty": "process", "commands": "process", "pexpect": "process",
    "socket": "network", "ssl": "network", "socketserver": "network", "http": "network",
    "urllib": "network", "requests": "network", "httpx": "network", "aiohttp": "network",
    "ftplib": "network", "smtplib": "network", "telnetlib": "network", "xmlrpc": "network",
    "websocket": "network", "paramiko": "network",
    "ctypes": "ctypes", "_ctypes": "ctypes", "cffi": "ctypes",
    "multiprocessing": "multiprocessing", "concurrent.futures.process": "multiprocessing",
    "importlib": "import-machinery", "imp": "import-machinery", "pkgutil": "import-machinery",
    "runpy": "import-machinery", "zipimport": "import-machinery", "code": "dynamic-code",
    "codeop": "dynamic-code",
    "builtins": "builtins-access", "__builtin__": "builtins-access",
    "pickle": "deserialization", "cPickle": "deserialization", "marshal": "deserialization",
    "shelve": "deserialization", "dill": "deserialization",
    "pdb": "interactive", "bdb": "interactive", "pydoc": "interactive",
    "gc": "gc-introspection",
}  # fmt: skip

# Calls by qualified name (after import aliases are resolved).
CALL_RULES: dict[str, str] = {
    "os.system": "process", "os.popen": "process", "os.fork": "process",
    "os.forkpty": "process", "os.posix_spawn": "process", "os.posix_spawnp": "process",
    "os.kill": "process", "os.killpg": "process", "os.startfile": "process",
    "sys._getframe": "frame-access", "inspect.currentframe": "frame-access",
    "inspect.stack": "frame-access", "inspect.getouterframes": "frame-access",
    "inspect.getinnerframes": "frame-access", "inspect.trace": "frame-access",
    "inspect.getframeinfo": "frame-access",
    "gc.get_objects": "gc-introspection", "gc.get_referrers": "gc-introspection",
    "gc.get_referents": "gc-introspection",
    "sys.modules": "import-machinery", "sys.meta_path": "import-machinery",
    "sys.path_hooks": "import-machinery",
    "pickle.loads": "deserialization", "pickle.load": "deserialization",
    "marshal.loads": "deserialization",
    "asyncio.open_connection": "network", "asyncio.start_server": "network",
}  # fmt: skip
CALL_PREFIXES: dict[str, str] = {
    "os.exec": "process",
    "os.spawn": "process",
}
WRITE_METHODS = frozenset({"write_text", "write_bytes"})

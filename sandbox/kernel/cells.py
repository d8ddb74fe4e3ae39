"""Runs Python cells in one persistent namespace, as a notebook kernel does."""

from __future__ import annotations

import ast
import builtins
import linecache
import os
import sys
import types
from collections.abc import Callable

from .channel import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    import traceback
    from typing import Any

CELL_PREFIX = "<cell-"
KERNEL_DIR = os.path.dirname(os.path.abspath(__file__))

# The kernel's runner, for the matplotlib backend's show() (None in children).
active: PythonCells | None = None


def _split_trailing_expression(tree: ast.Module) -> tuple[ast.Module, ast.Expression | None]:
    """Split a cell into its statements and a trailing expression, if any."""
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        assert isinstance(last, ast.Expr)
        body = ast.Module(body=tree.body[:-1], type_ignores=[])
        return body, ast.Expression(body=last.value)
    return tree, None


def _drop_kernel_frames(te: traceback.TracebackException, seen: set[int]) -> None:
    import traceback

    if id(te) in seen:
        return
    seen.add(id(te))
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith(KERNEL_DIR)]
    )
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _drop_kernel_frames(chained, seen)


def format_exception(exc: BaseException) -> list[str]:
    """Traceback lines of exc without the kernel's own frames."""
    import traceback  # only errors need it: keep it off the start-up path

    te = traceback.TracebackException.from_exception(exc)
    _drop_kernel_frames(te, set())
    return list(te.format())


class PythonCells:
    """A persistent __main__ namespace and the execution of cells in it."""

    def __init__(self, channel: Channel, sync_output: Callable[[], None]) -> None:
        global active
        self.channel = channel
        # Called before a result, display or error is sent, so that they
        # follow the output printed before them.
        self.sync_output = sync_output
        self.module = types.ModuleType("__main__")
        self.module.__dict__["__builtins__"] = builtins
        sys.modules["__main__"] = self.module
        self.namespace = self.module.__dict__
        self.count = 0
        self.cell = 0
        # SIGINT raises KeyboardInterrupt only while user code runs; an
        # interrupt that lands while the kernel writes a frame waits for it.
        self.in_user_code = False
        self.pending_interrupt = False
        self.result_limit = 1 << 20
        builtins.display = self.display  # type: ignore[attr-defined]
        active = self

    def on_sigint(self) -> None:
        if self.in_user_code:
            raise KeyboardInterrupt
        self.pending_interrupt = True

    def _send_bundle(self, kind: str, value: Any) -> None:
        from . import display  # only rich values need it: keep it off the start-up path

        text, binary = display.mime_bundle(value, self.result_limit)
        header, body = display.frame(kind, self.cell, text, binary)
        if kind == "result":
            header["count"] = self.count
        # Kernel work inside user code: an interrupt waits until the frame is out.
        was = self.in_user_code
        self.in_user_code = False
        try:
            self.sync_output()
            self.channel.send(header, body)
        finally:
            self.in_user_code = was
        if was and self.pending_interrupt:
            self.pending_interrupt = False
            raise KeyboardInterrupt

    def display(self, *objs: Any) -> None:
        """Show values as rich output (the builtin display())."""
        for obj in objs:
            self._send_bundle("display", obj)

    def flush_figures(self) -> None:
        """Show every open matplotlib figure, then close them (plt.show())."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        for number in pyplot.get_fignums():
            self._send_bundle("display", pyplot.figure(number))
        pyplot.close("all")

    def _register_source(self, filename: str, code: str) -> None:
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)

    def run(self, cell: int, code: str) -> str:
        """Run one cell; return 'ok', 'error', 'interrupted' or 'oom'."""
        self.count += 1
        self.cell = cell
        self.pending_interrupt = False
        filename = f"{CELL_PREFIX}{self.count}>"
        self._register_source(filename, code)
        try:
            tree = ast.parse(code, filename=filename)
            body, trailing = _split_trailing_expression(tree)
            compiled_body = compile(body, filename, "exec")
            compiled_expr = compile(trailing, filename, "eval") if trailing else None
            self.in_user_code = True
            try:
                exec(compiled_body, self.namespace)
                value = eval(compiled_expr, self.namespace) if compiled_expr else None
                if value is not None:
                    builtins._ = value  # type: ignore[attr-defined]
                    self._send_bundle("result", value)
                self.flush_figures()
            finally:
                self.in_user_code = False
        except KeyboardInterrupt as exc:
            self._send_error(exc)
            return "interrupted"
        except MemoryError as exc:
            self._send_error(exc)
            return "oom"
        except BaseException as exc:  # noqa: BLE001 - every user error is reported, none kills the kernel
            self._send_error(exc)
            return "error"
        finally:
            self.pending_interrupt = False
        return "ok"

    def _send_error(self, exc: BaseException) -> None:
        try:
            evalue = str(exc)
        except Exception:  # noqa: BLE001 - a broken __str__ must not break reporting
            evalue = f"<unprintable {type(exc).__name__}>"
        try:
            lines = format_exception(exc)
        except Exception:  # noqa: BLE001
            lines = [f"{type(exc).__name__}: {evalue}\n"]
        self.sync_output()
        self.channel.send(
            {
                "t": "error",
                "cell": self.cell,
                "ename": type(exc).__name__,
                "evalue": evalue,
                "traceback": lines,
            }
        )

"""A matplotlib backend for the kernel: Agg rendering, and show() sends the
open figures to the client as image/png displays (as Jupyter's inline
backend does). Outside the kernel (a child process) show() does nothing.

Selected with MPLBACKEND=module://codeact_kernel.mplbackend.
"""

from __future__ import annotations

from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from . import cells

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    if cells.active is not None:
        cells.active.flush_figures()

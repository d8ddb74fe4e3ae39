"""Rich representations: MIME bundles, as IPython builds them."""

from __future__ import annotations

import base64
import io
import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAX_BINARY_BYTES = 8 << 20

_TEXT_REPRS = (
    ("_repr_html_", "text/html"),
    ("_repr_markdown_", "text/markdown"),
    ("_repr_svg_", "image/svg+xml"),
    ("_repr_latex_", "text/latex"),
    ("_repr_json_", "application/json"),
)
_BINARY_REPRS = (("_repr_png_", "image/png"), ("_repr_jpeg_", "image/jpeg"))


def _figure_png(obj: Any) -> bytes | None:
    figure_module = sys.modules.get("matplotlib.figure")
    if figure_module is None or not isinstance(obj, figure_module.Figure):
        return None
    buffer = io.BytesIO()
    obj.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _call(obj: Any, name: str) -> Any:
    method = getattr(obj, name, None)
    if not callable(method):
        return None
    try:
        return method()
    except Exception:  # noqa: BLE001 - a broken _repr_*_ only loses that representation
        return None


def mime_bundle(obj: Any, plain_limit: int) -> tuple[dict[str, str], dict[str, bytes]]:
    """Text and binary representations of obj; text/plain is always there."""
    text: dict[str, str] = {}
    binary: dict[str, bytes] = {}
    if not isinstance(obj, type):  # a class's _repr_*_ are unbound methods
        bundle = None
        method = getattr(obj, "_repr_mimebundle_", None)
        if callable(method):
            try:
                bundle = method(include=None, exclude=None)
            except Exception:  # noqa: BLE001
                bundle = None
        if isinstance(bundle, tuple):
            bundle = bundle[0]
        if isinstance(bundle, dict):
            for mime, value in bundle.items():
                if isinstance(value, bytes):
                    binary[str(mime)] = value
                elif isinstance(value, str):
                    text[str(mime)] = value
                elif value is not None:
                    text[str(mime)] = json.dumps(value, default=str)
        for name, mime in _TEXT_REPRS:
            if mime not in text and (value := _call(obj, name)) is not None:
                text[mime] = value if isinstance(value, str) else json.dumps(value, default=str)
        for name, mime in _BINARY_REPRS:
            if mime not in binary and (value := _call(obj, name)) is not None:
                binary[mime] = value if isinstance(value, bytes) else base64.b64decode(value)
        if "image/png" not in binary and (png := _figure_png(obj)) is not None:
            binary["image/png"] = png
    plain = repr(obj)
    if len(plain) > plain_limit:
        plain = plain[:plain_limit] + f"... [repr truncated at {plain_limit} characters]"
    text["text/plain"] = plain
    binary = {mime: data for mime, data in binary.items() if len(data) <= MAX_BINARY_BYTES}
    return text, binary


def frame(
    kind: str, cell: int, text: dict[str, str], binary: dict[str, bytes]
) -> tuple[dict[str, Any], bytes]:
    """A result or display frame: binaries are concatenated in the body."""
    header: dict[str, Any] = {
        "t": kind,
        "cell": cell,
        "text": text,
        "binary": [[mime, len(data)] for mime, data in binary.items()],
    }
    return header, b"".join(binary.values())

"""The README's Python example runs as written against a live executor."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import KEYS, ServerThread

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_example() -> str:
    text = README.read_text()
    section = text[text.index("## Calling the executor") :]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def test_the_readme_python_example_runs(executor: ServerThread) -> None:
    code = _python_example()
    assert "127.0.0.1:50054" in code and '"s3cret"' in code
    code = code.replace("127.0.0.1:50054", executor.address).replace('"s3cret"', repr(KEYS["acme"]))
    exec(compile(code, "README.md", "exec"), {})

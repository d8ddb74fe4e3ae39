"""What can be imported in the sandbox, and what the model probably meant."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field

# Names people (and models) import that belong to packages with another name.
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "bs4": "beautifulsoup4",
    "yaml": "PyYAML",
    "skimage": "scikit-image",
    "dateutil": "python-dateutil",
    "torch": "torch",
    "tensorflow": "tensorflow",
    "seaborn": "seaborn",
    "scipy": "scipy",
    "statsmodels": "statsmodels",
    "plotly": "plotly",
    "requests": "requests",
}


@dataclass(frozen=True)
class ModuleIndex:
    """Top-level module names: installed third-party ones and the standard library."""

    installed: frozenset[str] = field(default_factory=frozenset)
    stdlib: frozenset[str] = field(default_factory=frozenset)
    # Installed distributions, for messages ("installed: numpy 2.4.6, ...").
    distributions: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, installed: Iterable[str], stdlib: Iterable[str], distributions: Iterable[str] = ()
    ) -> ModuleIndex:
        return cls(frozenset(installed), frozenset(stdlib), tuple(distributions))

    def available(self, top_level: str, extra: frozenset[str] = frozenset()) -> bool:
        return top_level in self.installed or top_level in self.stdlib or top_level in extra

    def suggestions(self, name: str, limit: int = 3) -> list[str]:
        """Close matches among the modules that exist (installed ones first)."""
        installed = difflib.get_close_matches(name, sorted(self.installed), limit, 0.6)
        rest = difflib.get_close_matches(name, sorted(self.stdlib), limit, 0.75)
        lowered = [m for m in self.installed | self.stdlib if m.lower() == name.lower()]
        ordered = [*lowered, *installed, *rest]
        return list(dict.fromkeys(m for m in ordered if m != name))[:limit]

    def not_available_message(self, name: str) -> str:
        hint = ""
        if name in DISTRIBUTIONS:
            hint = f" (it comes from the {DISTRIBUTIONS[name]} package, which is not installed)"
        shown = ", ".join(self.distributions[:12]) if self.distributions else "none"
        return (
            f"module {name!r} is not available in the sandbox{hint}, and packages cannot be "
            f"installed (there is no network). Use the standard library or an installed "
            f"package: {shown}."
        )

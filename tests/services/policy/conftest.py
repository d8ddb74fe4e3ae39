"""A checker over the real sandbox environment, and the built-in profiles."""

from __future__ import annotations

import pytest

from services.policy.__main__ import module_index
from services.policy.checker import Checker
from services.policy.profiles import BUILTIN_DIR, PolicyProfile, load_directory
from services.policy.settings import PolicySettings


@pytest.fixture(scope="session")
def checker() -> Checker:
    return Checker(module_index(PolicySettings()))


@pytest.fixture(scope="session")
def profiles() -> dict[str, PolicyProfile]:
    return load_directory(BUILTIN_DIR)

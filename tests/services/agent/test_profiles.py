"""Agent profiles as data: loading, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeact.errors import InvalidArgument, NotFound
from codeact.v1 import agent_pb2, common_pb2, memory_pb2
from services.agent.profiles import BUILTIN_DIR, ProfileCatalog, load_directory


def test_builtin_profiles_load_with_short_names() -> None:
    profiles = load_directory(BUILTIN_DIR)
    assert set(profiles) >= {"default", "strict"}
    default = profiles["default"]
    assert default.condenser.type == memory_pb2.CONDENSER_TYPE_PIPELINE
    assert [s.type for s in default.condenser.steps] == [
        memory_pb2.CONDENSER_TYPE_OBSERVATION_MASKING,
        memory_pb2.CONDENSER_TYPE_AMORTIZED_FORGETTING,
    ]
    assert default.step_timeout.seconds == 60
    assert profiles["strict"].rollback_on_error
    assert not profiles["strict"].enable_bash


def test_a_typo_in_a_profile_file_is_refused_with_its_name(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text("enable_pyhton = true\n")
    with pytest.raises(ValueError, match=r"mine\.toml"):
        load_directory(tmp_path)
    (tmp_path / "mine.toml").write_text('[model]\nmode = "telepathy"\n')
    with pytest.raises(ValueError, match=r"mine\.toml"):
        load_directory(tmp_path)


def test_overrides_replace_lists_and_the_condenser_and_merge_the_rest() -> None:
    catalog = ProfileCatalog(load_directory(BUILTIN_DIR), "default")
    override = agent_pb2.AgentProfile(
        enable_bash=False,
        disabled_prompt_extensions=["plotting"],
        condenser=memory_pb2.CondenserSpec(type=memory_pb2.CONDENSER_TYPE_NOOP),
        sandbox_limits=common_pb2.SandboxLimits(max_pids=16),
        model=common_pb2.ModelSettings(model="m2"),
    )
    profile = catalog.resolve("", override)
    assert profile.name == "default"
    assert profile.enable_bash is False and profile.enable_python
    assert list(profile.disabled_prompt_extensions) == ["plotting"]
    assert profile.condenser == memory_pb2.CondenserSpec(type=memory_pb2.CONDENSER_TYPE_NOOP)
    assert profile.sandbox_limits.max_pids == 16
    assert profile.sandbox_limits.memory_bytes == 1 << 30  # kept from the file
    assert (profile.model.model, profile.model.temperature) == ("m2", 0.0)
    with pytest.raises(NotFound):
        catalog.resolve("missing", None)
    with pytest.raises(InvalidArgument) as err:
        catalog.resolve("", agent_pb2.AgentProfile(enable_browsing=True))
    assert "no network" in err.value.field_violations[0].description


def test_a_profiles_dir_adds_and_replaces(tmp_path: Path) -> None:
    (tmp_path / "analyst.toml").write_text(
        'enable_bash = false\nmax_iterations = 12\npolicy_profile = "standard"\n'
        '[condenser]\ntype = "recent"\nkeep_first = 1\nmax_events = 30\n'
    )
    profiles = load_directory(BUILTIN_DIR) | load_directory(tmp_path)
    analyst = ProfileCatalog(profiles, "analyst").resolve("", None)
    assert analyst.max_iterations == 12
    assert analyst.condenser.type == memory_pb2.CONDENSER_TYPE_RECENT
    with pytest.raises(ValueError, match="default_profile"):
        ProfileCatalog(profiles, "nope")

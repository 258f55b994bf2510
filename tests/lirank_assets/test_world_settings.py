"""Settings and resources: world presets, the log source chosen in one place, run settings read as
`EnvVar` when a run starts."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from dagster import DagsterInvalidConfigError

from lirank_assets.definitions import build_definitions, build_resources
from lirank_assets.resources import FileLogs, LogSource, SimulatedLogs
from lirank_assets.settings import WORLD_PRESETS, Settings, WorldChoice, settings_from_env
from spark.world import (
    WorldContext,
    initial_block_states,
    log_followers_of_counts,
    simulate_blocks,
)


def test_xlarge_preset_is_sized_for_ten_million_impressions() -> None:
    """Project the preset's impressions from two of its blocks (512 members) on day 0."""
    config = WORLD_PRESETS["xlarge"]
    context = WorldContext(config)
    state = list(initial_block_states(context, [0, 1]))
    followers = log_followers_of_counts(config, np.zeros(config.num_authors, dtype=np.int64))
    blocks = list(simulate_blocks(context, 0, state, followers))
    impressions = sum(b.tables["feed_impressions"].num_rows for b in blocks)
    members = sum(b.state.num_rows for b in blocks)
    projected = impressions / members * config.num_members * config.num_days
    assert 10_000_000 < projected < 20_000_000, projected


def test_world_choice_is_a_preset_with_its_seed_and_dates_replaced() -> None:
    assert WorldChoice().world_config() == WORLD_PRESETS["demo"]
    choice = WorldChoice(preset="tiny", seed=11, start_date="2025-03-02", num_days=2)
    assert choice.world_config() == dataclasses.replace(
        WORLD_PRESETS["tiny"], seed=11, start_date=dt.date(2025, 3, 2), num_days=2
    )
    with pytest.raises(ValueError, match="'huge' does not exist.*tiny"):
        WorldChoice(preset="huge").world_config()


def test_settings_from_the_environment_shape_the_graph() -> None:
    settings = settings_from_env(
        {"LIRANK_WORLD": "tiny", "LIRANK_NUM_DAYS": "3", "LIRANK_COLD_START_DAYS": "2"}
    )
    assert settings.world == dataclasses.replace(WORLD_PRESETS["tiny"], num_days=3)
    assert (settings.start_date, settings.end_date) == (dt.date(2026, 1, 1), dt.date(2026, 1, 4))
    assert settings.cold_start_days == 2
    for name, bad in (("LIRANK_NUM_DAYS", "two"), ("LIRANK_COLD_START_DAYS", "0")):
        with pytest.raises(ValueError, match=f"{name}={bad!r}"):
            settings_from_env({name: bad})
    with pytest.raises(ValueError, match="'huge' does not exist"):
        settings_from_env({"LIRANK_WORLD": "huge"})


def test_the_log_source_is_chosen_in_one_place(tmp_path) -> None:
    """Simulated logs by default (with the truth table), the user's files with a logs path: both
    are `LogSource`s, and the world group has one asset per table the source writes."""
    simulated = build_resources(Settings(world_choice=WorldChoice(preset="tiny")), str(tmp_path))
    files = build_resources(Settings(logs_path=str(tmp_path / "logs")), str(tmp_path))
    assert isinstance(simulated["log_source"], SimulatedLogs)
    assert isinstance(files["log_source"], FileLogs)
    assert all(isinstance(r["log_source"], LogSource) for r in (simulated, files))
    assert simulated["log_source"].world.world_config() == WORLD_PRESETS["tiny"]
    assert files["log_source"].ground_truth(dt.date(2026, 1, 1)) is None
    for settings, truth in ((Settings(), True), (Settings(logs_path=str(tmp_path)), False)):
        graph = build_definitions(settings, str(tmp_path)).resolve_asset_graph()
        world = {key.to_user_string() for key in graph.asset_keys_for_group("world")}
        assert ("feed_ground_truth" in world) is truth
        assert {"feed_sessions", "feed_impressions", "posts", "members"} <= world


def test_run_settings_are_env_vars_read_when_a_run_starts(tmp_path, monkeypatch) -> None:
    """A set variable reaches the resource as an `EnvVar`: its value is read when the resource
    is initialized for a run, so a changed value needs no reload; unset, the default applies."""
    monkeypatch.setenv("LIRANK_WORLD_SHARDS", "3")
    monkeypatch.setenv("LIRANK_SPARK_MASTER", "local[1]")
    monkeypatch.delenv("LIRANK_HOROVOD_HOSTS", raising=False)
    resources = build_resources(Settings(world_choice=WorldChoice(preset="tiny")), str(tmp_path))
    monkeypatch.setenv("LIRANK_WORLD_SHARDS", "5")
    with resources["log_source"].process_config_and_initialize_cm() as source:
        assert source.num_shards == 5
        assert source.data_root.layout.root == tmp_path
    with resources["spark"].process_config_and_initialize_cm() as spark:
        assert spark.master == "local[1]"
    with resources["training"].process_config_and_initialize_cm() as training:
        assert training.horovod_hosts is None and training.horovod_num_proc == 0
    monkeypatch.setenv("LIRANK_WORLD_SHARDS", "two")
    with pytest.raises(DagsterInvalidConfigError, match="LIRANK_WORLD_SHARDS"):
        with resources["log_source"].process_config_and_initialize_cm():
            pass

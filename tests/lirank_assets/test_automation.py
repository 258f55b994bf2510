"""Declarative automation: a new day of raw logs requests exactly that day's downstream assets,
and a failed blocking check holds back what depends on it (no Spark: events are reported)."""

from __future__ import annotations

import pytest
from dagster import (
    AssetCheckResult,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    evaluate_automation_conditions,
)

from lirank_assets.checks import day_evaluation
from lirank_assets.definitions import build_definitions
from lirank_assets.settings import Settings, WorldChoice

DAYS = ["2026-01-01", "2026-01-02", "2026-01-03"]
RAW = (
    "feed_sessions", "feed_impressions", "posts", "members", "feed_ground_truth",
    # the Ads and Jobs products' raw tables land with the feed's
    "ad_catalog", "ad_impressions", "ads_ground_truth",
    "job_postings", "member_profiles", "job_impressions", "jobs_ground_truth",
)  # fmt: skip
PRODUCT_FEATURES = ("ads_examples", "jobs_examples")
PRODUCT_RANKING = ("ads_ctr_model", "ads_ctr_model_8bit", "jobs_ranking_model")
PRODUCT_EVALUATION = ("ads_evaluation", "jobs_evaluation")
FEATURES = (
    "exploded_session_features",
    "replay_candidates",
    "dwell_thresholds",
    "training_examples",
    "training_examples_avro",
)
RANKING = ("feed_ranking_model",)
# next-day: day D's evaluation reads day D-1's model and day D's features (the random effects that
# score day D are refit through the day for that model)
EVALUATION = ("windowed_random_effects", "offline_metrics", "replay_metrics", "model_review")
MODEL = RANKING + EVALUATION
PRODUCTS = PRODUCT_FEATURES + PRODUCT_RANKING + PRODUCT_EVALUATION
# `evaluate_automation_conditions` selects with a beta parameter of Dagster's own.
pytestmark = pytest.mark.filterwarnings("ignore::dagster.BetaWarning")

BLOCKING_CHECKS = (
    ("training_examples", "training_examples_quality"),
    ("training_examples_avro", "training_examples_avro_shards"),
)


@pytest.fixture
def defs(tmp_path):
    """The graph on 3 tiny days; models from the second day (2-day cold start)."""
    settings = Settings(world_choice=WorldChoice(preset="tiny", num_days=3), cold_start_days=2)
    return build_definitions(settings, str(tmp_path))


def _land(instance: DagsterInstance, assets, day: str) -> None:
    for asset in assets:
        instance.report_runless_asset_event(AssetMaterialization(asset, partition=day))


def _check(instance: DagsterInstance, day: str, failing: str | None = None, assets=None) -> None:
    """The blocking checks of the day's latest `assets` (default: examples and shards) pass,
    except `failing`."""
    for asset, name in BLOCKING_CHECKS:
        if assets is not None and asset not in assets:
            continue
        result = AssetCheckResult(passed=name != failing)
        instance.report_runless_asset_event(day_evaluation(instance, asset, name, day, result))


def _requested(result) -> dict[str, set[str]]:
    """Requested partitions per asset (assets with none left out)."""
    assets = RAW + FEATURES + MODEL + PRODUCTS
    requested = {asset: result.get_requested_partitions(AssetKey(asset)) for asset in assets}
    return {asset: set(days) for asset, days in requested.items() if days}


def _history(instance: DagsterInstance, days) -> None:
    """Days fully materialized, their checks passed (what the demo leaves behind)."""
    for index, day in enumerate(days):
        ranking = (RANKING + PRODUCT_RANKING) * (index > 0)
        evaluation = (EVALUATION + PRODUCT_EVALUATION) * (index > 1)
        _land(instance, RAW + FEATURES + PRODUCT_FEATURES + ranking + evaluation, day)
        _check(instance, day)


def _refresh(defs, instance: DagsterInstance, cursor, day: str) -> list[set[str]]:
    """Tick until nothing more is requested, materializing what each tick requests for `day`
    (its blocking checks passing); returns the assets each tick requested."""
    waves = []
    while True:
        tick = evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        cursor, requested = tick.cursor, _requested(tick)
        if not requested:
            return waves
        waves.append(set(requested))
        for asset, days in requested.items():
            assert days == {day}, (asset, days)
            _land(instance, [asset], day)
        _check(instance, day, assets=requested)


def test_a_new_day_of_logs_refreshes_exactly_that_days_downstream_assets(defs):
    """Each tick requests what is ready; materializing it (checks passing) makes the next step
    ready: the day's features; then (after `training_examples_quality` passed) its Avro shards
    and its next-day evaluation by the previous day's model (metrics and review in one run);
    then (after `training_examples_avro_shards` passed) its own model. No other day is touched,
    and nothing is requested twice."""
    instance = DagsterInstance.ephemeral()
    _history(instance, DAYS[:2])
    tick = evaluate_automation_conditions(defs=defs, instance=instance)
    assert tick.total_requested == 0  # everything present is up to date

    _land(instance, RAW, DAYS[2])
    assert _refresh(defs, instance, tick.cursor, DAYS[2]) == [
        set(FEATURES) - {"training_examples_avro"} | set(PRODUCT_FEATURES),
        # the products' models and evaluations have no blocking check in front of them
        {"training_examples_avro", *EVALUATION, *PRODUCT_RANKING, *PRODUCT_EVALUATION},
        set(RANKING),
    ]


def test_a_failed_blocking_check_holds_back_the_model(defs):
    """The day's examples were written but failed their quality check: the Avro shards and the
    model are not requested; assets that do not read the examples still refresh."""
    instance = DagsterInstance.ephemeral()
    _history(instance, DAYS[:2])
    _land(instance, RAW, DAYS[2])
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    _land(instance, FEATURES[:4], DAYS[2])
    _check(instance, DAYS[2], failing="training_examples_quality")
    result = evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    requested = _requested(result)
    assert not {"training_examples_avro", *MODEL} & set(requested), requested


def test_the_model_is_not_requested_before_its_cold_start_window_is_full(defs):
    """Day 0's features refresh when its logs land; the model has no partition before day 1."""
    instance = DagsterInstance.ephemeral()
    first = evaluate_automation_conditions(defs=defs, instance=instance)
    _land(instance, RAW, DAYS[0])
    refreshed = set().union(*_refresh(defs, instance, first.cursor, DAYS[0]))
    assert refreshed == {*FEATURES, *PRODUCT_FEATURES}

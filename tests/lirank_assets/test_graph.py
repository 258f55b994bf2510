"""The asset graph on a tiny world: materialization, incremental training, single-run backfills,
bad input."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    DefaultSensorStatus,
)

from lirank_assets.definitions import build_definitions
from lirank_assets.demo import step_failure_message
from lirank_assets.settings import Settings, WorldChoice
from models.reporting.review import read_review_snapshot
from spark.storage import DataLayout

TINY = WorldChoice(preset="tiny", num_days=3)
DAYS = [TINY.world_config().date_of(d).isoformat() for d in range(3)]
DATES = [dt.date.fromisoformat(day) for day in DAYS]
REPO = Path(__file__).resolve().parents[2]


def _settings(logs_path: str | None = None) -> Settings:
    return Settings(world_choice=TINY, logs_path=logs_path, cold_start_days=2)


def _run(defs, job: str, day: str, instance):
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=day, instance=instance, raise_on_error=False
    )
    return result


@pytest.fixture(scope="module")
def graph(tmp_path_factory, spark):
    """Materialize 3 days: features on day 0, cold start on day 1, incremental on day 2 and the
    next-day evaluation of day 2 by day 1's model."""
    root = tmp_path_factory.mktemp("graph")
    defs = build_definitions(_settings(), str(root))
    instance = DagsterInstance.ephemeral()
    jobs = [[], ["ranking_job"], ["ranking_job", "evaluation_job"]]
    for index, day in enumerate(DAYS):
        for job in ("raw_logs_job", "features_job", *jobs[index]):
            result = _run(defs, job, day, instance)
            assert result.success, [e.message for e in result.all_events if e.is_failure]
    return defs, instance, root


def test_every_asset_partition_is_materialized(graph):
    defs, instance, _ = graph
    keys = defs.resolve_asset_graph().get_all_asset_keys()
    ranking = {
        "feed_ranking_model", "explore_exploit_posterior", "compressed_feed_model",
        "ads_ctr_model", "ads_ctr_model_8bit", "jobs_ranking_model",
    }  # fmt: skip
    evaluation = {
        "windowed_random_effects", "offline_metrics", "replay_metrics", "model_review",
        "ads_evaluation", "jobs_evaluation",
    }  # fmt: skip
    for key in keys:
        first = 1 if key.path[0] in ranking else 2 if key.path[0] in evaluation else 0
        materialized = instance.get_materialized_partitions(key)
        assert set(DAYS[first:]) <= materialized, (key, materialized)


def test_cold_start_then_incremental_from_the_previous_day(graph):
    _, _, root = graph
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        models = conn.execute(
            "SELECT date, model_id, mode, base_model_id, train_days FROM models ORDER BY date"
        ).df()
    assert list(models["mode"]) == ["cold", "incremental"]
    assert models["train_days"].tolist() == [2, 1]
    assert models.loc[1, "base_model_id"] == models.loc[0, "model_id"]


def test_ads_and_jobs_models_cold_start_then_train_incrementally_through_the_gate(graph):
    """Each product's model: a cold start on day 1's window, then day 2 warm-started from day
    1's promoted model with the same job; each gated (`gate.json`) and recorded."""
    _, _, root = graph
    layout = DataLayout(root.resolve())
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        models = conn.execute(
            "SELECT product, date, model_id, mode, base_model_id, train_days, train_rows, "
            "promoted FROM product_models ORDER BY product, date"
        ).df()
    for product in ("ads", "jobs"):
        rows = models[models["product"] == product].reset_index(drop=True)
        assert rows["model_id"].tolist() == [f"{product}-{DAYS[1]}", f"{product}-{DAYS[2]}"]
        assert rows["mode"].tolist() == ["cold", "incremental"]
        assert rows["train_days"].tolist() == [2, 1]
        assert rows.loc[1, "base_model_id"] == rows.loc[0, "model_id"]
        assert (rows["train_rows"] > 100).all()
        for date, promoted in zip(DATES[1:], rows["promoted"], strict=True):
            record = json.loads((layout.product_model(product, date) / "gate.json").read_text())
            assert record["promoted"] is bool(promoted)
            checks = {m["check"] for m in record["metrics"]}
            assert {"final_loss", "auc_vs_popularity", "calibration"} <= checks
        # incremental days carry the Fisher anchors of paper §5, like the feed's
        assert (layout.product_model(product, DATES[2]) / "cold_anchor.npz").is_file()
    # each product model's `model_gate` check reports its day's verdict, as the feed's does
    _, instance, _ = graph
    for asset, product in (("ads_ctr_model", "ads"), ("jobs_ranking_model", "jobs")):
        key = AssetCheckKey(AssetKey(asset), "model_gate")
        records = instance.event_log_storage.get_asset_check_execution_history(key, limit=20)
        verdicts = {r.partition: r.evaluation.passed for r in records if r.evaluation}
        promoted = models[models["product"] == product]["promoted"].tolist()
        assert [verdicts[day] for day in DAYS[1:]] == promoted


def test_ads_and_jobs_are_judged_next_day_against_their_production_rankers(graph):
    """Day 2's sponsored slots and job slates are scored by day 1's promoted models; every
    verdict row carries a 95% interval around its difference, and the 8-bit Ads variant ranks
    like the float model."""
    _, _, root = graph
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        ads = conn.execute("SELECT * FROM ads_metrics").df()
        jobs = conn.execute("SELECT * FROM jobs_metrics").df()
        topk = conn.execute("SELECT * FROM jobs_topk").df()
        verdicts = conn.execute("SELECT * FROM product_verdicts").df()
    assert ads["model_id"].unique().tolist() == [f"ads-{DAYS[1]}"]
    assert jobs["model_id"].unique().tolist() == [f"jobs-{DAYS[1]}"]
    for table in (ads, jobs, topk, verdicts):
        assert table["date"].astype(str).unique().tolist() == [DAYS[2]]
    assert set(ads["scorer"]) == {"model", "model_8bit", "production"}
    assert set(ads["head"]) == {"website_visit", "visit_or_social", "any_engagement", "all"}
    auc = ads.set_index(["scorer", "head"])["auc"]
    assert abs(auc["model_8bit", "all"] - auc["model", "all"]) < 0.005
    examples = pq.read_table(DataLayout(root).product_examples("ads", DATES[2])).num_rows
    assert ads.set_index(["scorer", "head"])["rows"]["model", "all"] == examples
    assert set(topk["ranker"]) == {"model", "production"}
    assert set(verdicts["product"]) == {"ads", "jobs"}
    assert {"auc", "log_loss", "qualified_applications_top_k", "apply_auc"} <= set(
        verdicts["metric"]
    )
    for row in verdicts.itertuples():
        assert row.delta_lo <= row.delta <= row.delta_hi, row
        assert row.verdict in ("wins", "loses", "no significant difference")
    snapshot = read_review_snapshot(DataLayout(root).review_snapshot)
    assert len(snapshot["product_verdicts"]) == len(verdicts)


def test_the_gate_compares_the_days_picks_with_the_previous_model_on_the_truth(graph):
    """Day 2's candidate is judged against day 1's promoted model on day 2's random bucket by
    the simulator's truth (rule 6 of the gate); day 1 (a cold start) is not judged on it."""
    _, _, root = graph
    layout = DataLayout(root.resolve())
    checks = {}
    for date in DATES[1:]:
        record = json.loads((layout.feed_model(date) / "gate.json").read_text())
        checks[date] = {m["check"]: m for m in record["metrics"]}
    assert checks[DATES[1]]["picks_vs_previous"]["passed"] is None
    rule = checks[DATES[2]]["truth_vs_previous"]
    assert rule["passed"] is not None and "paired over" in rule["detail"]


def test_the_posterior_is_updated_day_by_day_not_refit(graph):
    """Day 2's posterior starts from day 1's (its model warm-started from day 1's) and holds the
    training rows of both days; the review snapshot carries one row per model day."""
    from models.explore.posterior import LastLayerPosterior

    _, _, root = graph
    layout = DataLayout(root.resolve())
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        rows = conn.execute(
            "SELECT date, carried_over, day_rows, rows, top_slot_changed FROM explore_exploit "
            "ORDER BY date"
        ).df()
    assert rows["carried_over"].tolist() == [False, True]
    assert rows["rows"].tolist() == [rows["day_rows"][0], rows["day_rows"].sum()]
    train_day2 = pq.read_table(layout.training_examples(DATES[2])).column("split")
    assert rows["day_rows"][1] == train_day2.to_pylist().count("train")
    assert ((rows["top_slot_changed"] >= 0) & (rows["top_slot_changed"] <= 1)).all()
    posterior = LastLayerPosterior.load(layout.explore_posterior(DATES[2]))
    assert posterior.rows == rows["rows"].iloc[1]
    assert len(read_review_snapshot(layout.review_snapshot)["explore_exploit"]) == 2


def test_the_compressed_model_serves_the_promoted_model_in_8_bits(graph):
    """Each model day's promoted model is compressed (middle-max 8-bit by default): the
    directory holds the Keras model and the SavedModel, and its embeddings take <= 30% of the
    fp32 bytes (30-wide rows: 30 int8 + two float16 against 120 bytes)."""
    _, instance, root = graph
    layout = DataLayout(root.resolve())
    for date in DATES[1:]:
        directory = layout.compressed_feed_model(date)
        assert (directory / "model.keras").is_file()
        assert (directory / "saved_model" / "saved_model.pb").is_file()
        manifest = json.loads((directory / "manifest.json").read_text())
        assert manifest["metadata"]["compressed_from"] == f"feed-{date.isoformat()}"
    metadata = instance.get_latest_materialization_event(
        AssetKey("compressed_feed_model")
    ).asset_materialization.metadata
    assert metadata["scheme"].value == "middle_max_8bit"
    assert 0 < metadata["ratio"].value <= 0.30
    assert metadata["compressed_bytes"].value < 0.30 * metadata["fp32_bytes"].value
    snapshot = read_review_snapshot(layout.review_snapshot)["compressed_models"]
    assert snapshot["model_id"].tolist() == [f"feed-{d.isoformat()}" for d in DATES[1:]]
    assert (snapshot["ratio"] <= 0.30).all()


def test_the_models_train_from_the_avro_shards_of_their_days(graph):
    """The graph's trainer reads the Avro shards through ATDS (paper §13): each model's training
    plan names the `training_examples_avro` partitions of its days (cold start: days 0-1, then
    the new day) and its result counts exactly their Parquet partitions' train rows."""
    _, instance, root = graph
    layout = DataLayout(root.resolve())
    for index, dates in ((1, DATES[:2]), (2, DATES[2:3])):
        manifest = json.loads((layout.feed_model(DATES[index]) / "manifest.json").read_text())
        plan = json.loads(manifest["metadata"]["plan"])
        assert plan["examples_format"] == "avro"
        assert [Path(path) for path in plan["examples"]] == [
            layout.training_examples_avro(date) for date in dates
        ]
        train_rows = sum(
            pq.read_table(layout.training_examples(date)).column("split").to_pylist().count("train")
            for date in dates
        )
        assert manifest["metadata"]["training_result"]["train_rows"] == train_rows > 500
    metadata = instance.get_latest_materialization_event(
        AssetKey("feed_ranking_model")
    ).asset_materialization.metadata
    assert metadata["examples_format"].value == "avro"


def test_training_without_a_days_avro_shards_names_them_and_writes_nothing(graph, tmp_path):
    """A cold start whose window lacks a day's Avro shards (Parquet present) fails before
    training, naming that shard directory and saying to re-materialize its asset."""
    _, _, root = graph
    layout = DataLayout((tmp_path / "root").resolve())
    shutil.copytree(root / "features", layout.features)
    missing, present = (layout.training_examples_avro(date) for date in DATES[:2])
    shutil.rmtree(missing)
    defs = build_definitions(_settings(), str(layout.root))
    result = defs.resolve_job_def("ranking_job").execute_in_process(
        partition_key=DAYS[1],
        instance=DagsterInstance.ephemeral(),
        asset_selection=[AssetKey("feed_ranking_model")],
        raise_on_error=False,
    )
    assert not result.success
    message = " ".join(step_failure_message(e) for e in result.all_events if e.is_step_failure)
    assert str(missing) in message and str(present) not in message
    assert "Re-materialize `training_examples_avro`" in message
    assert not layout.feed_model(DATES[1]).exists()


def test_day_two_is_evaluated_next_day_by_day_ones_model(graph):
    """Next-day protocol: day 2's traffic is ranked by the model trained through day 1; offline
    metrics use all of day 2's non-replay rows; the model is compared with every other ranker
    on the same sessions (paired ground truth)."""
    _, _, root = graph
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        replay = conn.execute("SELECT * FROM replay_metrics").df()
        offline = conn.execute("SELECT * FROM offline_metrics").df()
        paired = conn.execute("SELECT * FROM paired_differences").df()
    for table in (replay, offline, paired):
        assert table["date"].astype(str).unique().tolist() == [DAYS[2]]
        assert table["model_id"].unique().tolist() == [f"feed-{DAYS[1]}"]
    splits = pq.read_table(DataLayout(root).training_examples(DATES[2])).column("split")
    unseen = sum(split in ("train", "holdout") for split in splits.to_pylist())
    assert (offline["rows"] == unseen).all()
    assert set(paired["reference"]) == {"popularity_baseline", "production", "random"}
    rates = replay.set_index("ranker")["expected_contributions"]
    for row in paired.itertuples():
        gap = rates["model"] - rates[row.reference]
        assert row.mean_difference == pytest.approx(gap, abs=1e-9)
        assert row.sessions == replay["sessions"].iloc[0] and row.variance >= 0


def test_day_twos_random_effects_are_refit_every_8_hours_for_day_ones_model(graph):
    """The effects that score day 2: three windows (ending at hours 0, 8, 16), post and author
    levels, for the click and like heads; the first window saw only day 1. Their lift on the
    traffic each window scored is in the warehouse and the review snapshot, with intervals."""
    _, instance, root = graph
    effects = pq.read_table(DataLayout(root).random_effects(DATES[2])).to_pandas()
    assert sorted(effects["window_end"].unique()) == [0.0, 8.0, 16.0]
    assert set(effects["level"]) == {"post", "author"}
    assert set(effects["head"]) == {"click", "like"}
    assert np.isfinite(effects["effect"]).all() and (effects["count"] > 0).all()
    lift = read_review_snapshot(DataLayout(root).review_snapshot)["random_effects_lift"]
    assert lift["date"].astype(str).unique().tolist() == [DAYS[2]]
    assert lift["model_id"].unique().tolist() == [f"feed-{DAYS[1]}"]
    assert sorted(lift["scored_hours"].unique()) == ["00-08", "08-16", "16-24", "all"]
    day = lift[lift["scored_hours"] == "all"]
    windows = lift[lift["scored_hours"] != "all"]
    for head in ("click", "like"):
        assert (
            windows[windows["head"] == head]["scored_rows"].sum()
            == (day[day["head"] == head]["scored_rows"].iloc[0])
        )
    defined = day.dropna(subset=["auc_lift"])
    assert (defined["auc_lift_ci_low"] <= defined["auc_lift"]).all()
    assert (defined["auc_lift"] <= defined["auc_lift_ci_high"]).all()
    metadata = instance.get_latest_materialization_event(
        AssetKey("windowed_random_effects")
    ).asset_materialization.metadata
    assert metadata["fit_for_model"].value == f"feed-{DAYS[1]}"
    assert metadata["windows"].value == 3


def test_replay_and_offline_metrics_are_consistent(graph):
    _, instance, root = graph
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as conn:
        replay = conn.execute("SELECT * FROM replay_metrics").df()
        offline = conn.execute("SELECT * FROM offline_metrics").df()
    assert set(replay["ranker"]) == {"model", "popularity_baseline", "production", "random"}
    assert (replay["matched"] <= replay["sessions"]).all()
    assert (replay["contributions"] <= replay["matched"]).all()
    inside = (replay["ci_low"] <= replay["rate"]) & (replay["rate"] <= replay["ci_high"])
    assert inside.all()
    assert set(offline["head"]) == {"click", "like", "comment", "share", "vote", "long_dwell"}
    model_click = offline[(offline["scorer"] == "model") & (offline["head"] == "click")]["auc"]
    assert (model_click > 0.55).all()
    # the latest day's rates are numeric metadata (plotted across partitions in the UI)
    metadata = instance.get_latest_materialization_event(
        AssetKey("replay_metrics")
    ).asset_materialization.metadata
    latest = replay[replay["date"] == replay["date"].max()].set_index("ranker")
    for ranker, row in latest.iterrows():
        # floats in metadata are rounded to 4 decimals
        assert metadata[f"{ranker}_rate"].value == pytest.approx(row["rate"], abs=5e-5)
        expected = row["expected_contributions"]
        assert metadata[f"{ranker}_expected"].value == pytest.approx(expected, abs=5e-5)


def test_review_snapshot_holds_every_evaluated_day(graph):
    _, _, root = graph
    snapshot = read_review_snapshot(DataLayout(root).review_snapshot)
    assert sorted(snapshot["models"]["date"].astype(str).unique()) == DAYS[1:]
    assert snapshot["leaderboard"]["date"].astype(str).tolist() == DAYS[2:]
    assert set(snapshot["paired_differences"]["reference"]) >= {"production"}


def test_rerunning_a_partition_is_idempotent(graph):
    defs, instance, root = graph
    path = DataLayout(root).raw_table("feed_impressions", DATES[0])
    before = pq.read_table(path)
    assert _run(defs, "raw_logs_job", DAYS[0], instance).success
    after = pq.read_table(path)
    assert before.equals(after)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


def test_the_daily_refresh_is_declarative_automation_on_by_default(graph):
    """Every asset downstream of the raw logs carries the daily refresh condition, and the
    sensor that evaluates it runs by default (`test_automation.py` checks what it requests)."""
    defs, _, _ = graph
    graph_ = defs.resolve_asset_graph()
    for key in graph_.get_all_asset_keys():
        condition = graph_.get(key).automation_condition
        if key in graph_.asset_keys_for_group("world"):
            assert condition is None, key
        else:
            assert condition is not None and condition.get_label() == "daily_refresh", key
    sensor = defs.resolve_sensor_def("daily_refresh_automation")
    assert sensor.default_status == DefaultSensorStatus.RUNNING


def test_bad_user_logs_fail_loudly_and_overwrite_nothing(graph, tmp_path):
    _, _, root = graph
    logs = tmp_path / "logs"
    day = DAYS[0]
    for table in ("feed_sessions", "feed_impressions", "posts", "members"):
        shutil.copytree(root / "raw" / table / f"date={day}", logs / table / f"date={day}")
    broken = logs / "feed_impressions" / f"date={day}" / "part-00000.parquet"
    pq.write_table(pq.ParquetFile(broken).read().drop(["dwell_seconds"]), broken)

    user_root = tmp_path / "user-root"
    defs = build_definitions(_settings(logs_path=str(logs)), str(user_root))
    instance = DagsterInstance.ephemeral()
    # A good earlier load of the same partition must survive the failed one.
    shutil.copytree(root / "raw", user_root / "raw")
    before = pq.read_table(DataLayout(user_root).raw_table("feed_impressions", DATES[0]))
    result = _run(defs, "raw_logs_job", day, instance)
    assert not result.success
    message = " ".join(step_failure_message(e) for e in result.all_events if e.is_step_failure)
    assert "dwell_seconds" in message and "part-00000.parquet" in message and "float" in message
    after = pq.read_table(DataLayout(user_root).raw_table("feed_impressions", DATES[0]))
    assert before.equals(after)


def test_definitions_validate_from_the_workspace(tmp_path):
    env = {**os.environ, "LIRANK_DATA_ROOT": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _atds_rows(paths) -> list[tuple]:
    """Every row of the Avro shards read through ATDS, as sorted tuples in `AVRO_COLUMNS` order."""
    from spark.avro_shards import AVRO_COLUMNS, atds_dataset

    columns: dict[str, list] = {name: [] for name in AVRO_COLUMNS}
    for batch in atds_dataset(paths, batch_size=1000):
        for name, tensor in batch.items():
            if hasattr(tensor, "indices"):  # varlen column: tf.SparseTensor [batch, None]
                rows = [[] for _ in range(int(tensor.dense_shape[0]))]
                for (row, _), value in zip(
                    tensor.indices.numpy(), tensor.values.numpy(), strict=True
                ):
                    rows[row].append(value.item())
                columns[name].extend(tuple(r) for r in rows)
            else:
                values = tensor.numpy()
                if values.dtype == np.float32:  # float32 -> the same double as numpy's
                    columns[name].extend(float(v) for v in values)
                else:
                    columns[name].extend(
                        v.decode() if isinstance(v, bytes) else v for v in values.tolist()
                    )
    return sorted(zip(*[columns[name] for name in AVRO_COLUMNS], strict=True))


def test_training_examples_avro_shards_hold_exactly_the_parquet_rows(graph):
    """The asset's Avro shards, read by tensorflow-io's ATDSDataset, equal its Parquet rows."""
    import pyarrow as pa

    from spark.avro_shards import AVRO_COLUMNS

    _, instance, root = graph
    layout = DataLayout(root)
    for date in DATES:
        parquet = pq.read_table(layout.training_examples(date))
        shard_dir = layout.training_examples_avro(date)
        shards = sorted(shard_dir.glob("part-*.avro"))
        assert shards and [p.name for p in shard_dir.iterdir() if p.name.startswith(".")] == []
        want = parquet.to_pydict()
        want["date"] = [(d - dt.date(1970, 1, 1)).days for d in want["date"]]
        for name in AVRO_COLUMNS:
            kind = parquet.schema.field(name).type
            if pa.types.is_float32(kind):  # compare as float32 values, as ATDS returns them
                want[name] = [float(np.float32(v)) for v in want[name]]
            elif pa.types.is_list(kind):
                want[name] = [tuple(v) for v in want[name]]
        rows = sorted(zip(*[want[name] for name in AVRO_COLUMNS], strict=True))
        assert len(rows) > 1000
        assert _atds_rows(shards) == rows
    parquet, avro = (
        instance.get_latest_materialization_event(AssetKey(name)).asset_materialization.metadata
        for name in ("training_examples", "training_examples_avro")
    )
    assert avro["dagster/row_count"].value == parquet["dagster/row_count"].value
    assert avro["shards"].value >= 1
    assert [c.name for c in avro["dagster/column_schema"].schema.columns] == list(AVRO_COLUMNS)


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


@pytest.mark.parametrize("problem", ["wrong_type", "missing_column", "corrupt_file", "empty_day"])
def test_bad_user_logs_are_quarantined_or_reported_through_the_asset(graph, tmp_path, problem):
    """A malformed day is moved to <logs>/_quarantine by `raw_feed_logs`; an empty day is
    reported; either way the run fails naming the file and column, and the raw and feature
    partitions of an earlier good load stay byte for byte."""
    import pyarrow as pa

    _, _, root = graph
    day = DAYS[1]
    logs = tmp_path / "logs"
    for table in ("feed_sessions", "feed_impressions", "posts", "members"):
        shutil.copytree(root / "raw" / table / f"date={day}", logs / table / f"date={day}")
    partition = logs / "feed_impressions" / f"date={day}"
    (broken,) = partition.glob("*.parquet")
    good = pq.ParquetFile(broken).read()
    if problem == "wrong_type":
        index = good.schema.get_field_index("dwell_seconds")
        as_text = pa.array([str(v) for v in good.column(index).to_pylist()])
        pq.write_table(good.set_column(index, "dwell_seconds", as_text), broken)
    elif problem == "missing_column":
        pq.write_table(good.drop(["dwell_seconds"]), broken)
    elif problem == "corrupt_file":
        broken.write_bytes(broken.read_bytes()[: len(broken.read_bytes()) // 2])
    else:
        pq.write_table(good.slice(0, 0), broken)
    bad_bytes = broken.read_bytes()

    user_root = tmp_path / "user-root"
    for group in ("raw", "features"):
        shutil.copytree(root / group, user_root / group)
    before = {group: _files(user_root / group) for group in ("raw", "features")}
    defs = build_definitions(_settings(logs_path=str(logs)), str(user_root))
    result = _run(defs, "raw_logs_job", day, DagsterInstance.ephemeral())
    assert not result.success
    message = " ".join(step_failure_message(e) for e in result.all_events if e.is_step_failure)
    assert broken.name in message
    quarantined = logs / "_quarantine" / "feed_impressions" / f"date={day}"
    if problem == "empty_day":
        assert "zero rows for date" in message
        assert broken.exists() and not quarantined.exists()
    else:
        assert "QUARANTINED" in message and str(quarantined) in message
        assert not partition.exists()
        assert (quarantined / broken.name).read_bytes() == bad_bytes
        if problem == "corrupt_file":
            assert "cannot read" in message
        else:
            assert "dwell_seconds" in message and "expected type float" in message
    assert {group: _files(user_root / group) for group in ("raw", "features")} == before


def test_dwell_thresholds_keep_one_partition_per_day_re_measured_over_the_trailing_window(
    graph, spark
):
    """Each day's thresholds partition stays (the table's history) and equals the thresholds of
    the exploded features of that day and the days before it (7-day window, clipped at day 0)."""
    from spark.dwell import dwell_thresholds
    from spark.io import read_parquet_dirs

    _, instance, root = graph
    layout = DataLayout(root)
    dates = DATES
    history = {}
    for index, date in enumerate(dates):
        stored = pq.read_table(layout.dwell_thresholds(date)).to_pandas()
        window = read_parquet_dirs(
            spark, [layout.exploded_session_features(day) for day in dates[: index + 1]]
        )
        expected = dwell_thresholds(window, 0.9, 100).toPandas()
        keys = ["position_bucket", "content_type", "platform"]
        stored, expected = (f.sort_values(keys).reset_index(drop=True) for f in (stored, expected))
        assert stored[keys + ["level", "sample_count"]].equals(
            expected[keys + ["level", "sample_count"]]
        )
        assert np.allclose(stored["threshold_seconds"], expected["threshold_seconds"])
        history[date] = stored.set_index(keys)["threshold_seconds"]
    assert not history[dates[0]].equals(history[dates[-1]])  # re-measured, not copied
    records = instance.fetch_materializations(AssetKey("dwell_thresholds"), limit=100).records
    windows = {
        r.partition_key: r.asset_materialization.metadata["window_days"].value for r in records
    }
    assert {key: windows[key] for key in DAYS} == {day: i + 1 for i, day in enumerate(DAYS)}


def test_atds_feed_pipeline_on_the_asset_shards_equals_the_numpy_inputs(graph):
    """`models.inputs.atds` over a day's real shards gives the arrays `examples_to_inputs` and
    `labels_from` build from the same records (read in the same order with fastavro), with the
    graph model's Murmur-hashed ids and vocabularies learned from the day."""
    import fastavro
    import pandas as pd

    from models.inputs.atds import atds_feed_dataset
    from models.inputs.spec import InputSpec, examples_to_inputs, labels_from

    _, _, root = graph
    shards = sorted(DataLayout(root).training_examples_avro(DATES[-1]).glob("*.avro"))
    records = []
    for shard in shards:
        with open(shard, "rb") as handle:
            records.extend(fastavro.reader(handle))
    frame = pd.DataFrame.from_records(records)
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    spec = InputSpec.learned_from(train, id_hash="murmur")
    parts = list(atds_feed_dataset(shards, batch_size=256, split="train", spec=spec))
    for index, want in enumerate((examples_to_inputs(train, spec), labels_from(train))):
        got = {key: np.concatenate([p[index][key].numpy() for p in parts]) for key in want}
        for key, value in want.items():
            assert got[key].dtype == value.dtype, key
            np.testing.assert_array_equal(got[key], value, err_msg=key)
    assert len(train) > 500


def test_avro_shard_check_passes_on_every_day(graph):
    """The blocking `training_examples_avro_shards` check ran and passed for every partition."""
    _, instance, _ = graph
    key = AssetCheckKey(AssetKey("training_examples_avro"), "training_examples_avro_shards")
    records = instance.event_log_storage.get_asset_check_execution_history(key, limit=50)
    evaluations = {r.partition: r.evaluation for r in records if r.evaluation is not None}
    assert set(DAYS) <= set(evaluations)
    for day in DAYS:
        evaluation = evaluations[day]
        assert evaluation.passed, evaluation
        rows = {name: evaluation.metadata[name].value for name in ("avro_rows", "parquet_rows")}
        assert rows["avro_rows"] == rows["parquet_rows"] > 0


def test_training_examples_avro_can_write_a_chosen_number_of_shards(graph):
    """`avro_shards: 3` (e.g. 3 Horovod ranks) rewrites the day as exactly 3 shards, same rows."""
    from spark.avro_shards import shard_row_counts

    defs, instance, root = graph
    shard_dir = DataLayout(root).training_examples_avro(DATES[0])
    before = sum(shard_row_counts(sorted(shard_dir.glob("*.avro"))).values())
    result = defs.resolve_job_def("features_job").execute_in_process(
        partition_key=DAYS[0],
        instance=instance,
        asset_selection=[AssetKey("training_examples_avro")],
        run_config={"ops": {"training_examples_avro": {"config": {"avro_shards": 3}}}},
    )
    assert result.success
    counts = shard_row_counts(sorted(shard_dir.glob("*.avro")))
    assert [Path(path).name for path in counts] == [f"part-0000{i}.avro" for i in range(3)]
    assert sum(counts.values()) == before and min(counts.values()) > 0


def test_a_backfill_of_the_features_is_one_run_with_each_days_metadata(graph):
    """`BackfillPolicy.single_run()`: the features of all three days materialize in one run
    (what `dg launch --assets ... --partition-range A...B` starts); each day keeps its own row
    count and its own blocking-check evaluations, as in a one-day run."""
    defs, instance, root = graph
    layout = DataLayout(root)
    result = defs.resolve_job_def("features_job").execute_in_process(
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": DAYS[0],
            "dagster/asset_partition_range_end": DAYS[-1],
        },
    )
    assert result.success
    for date, day in zip(DATES, DAYS, strict=True):
        for asset, path in (
            ("training_examples", layout.training_examples(date)),
            ("exploded_session_features", layout.exploded_session_features(date)),
        ):
            (record,) = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(asset), asset_partitions=[day]), limit=1
            ).records
            assert record.run_id == result.run_id
            rows = record.asset_materialization.metadata["dagster/row_count"].value
            assert rows == sum(pq.read_metadata(f).num_rows for f in path.glob("*.parquet")) > 0
        windows = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("dwell_thresholds"), asset_partitions=[day]),
            limit=1,
        ).records[0]
        assert windows.asset_materialization.metadata["window_days"].value == DAYS.index(day) + 1
    for asset, check in (
        ("training_examples", "training_examples_quality"),
        ("training_examples_avro", "training_examples_avro_shards"),
    ):
        records = instance.event_log_storage.get_asset_check_execution_history(
            AssetCheckKey(AssetKey(asset), check), limit=20
        )
        in_run = {r.partition: r.evaluation for r in records if r.run_id == result.run_id}
        assert set(DAYS) <= set(in_run), in_run
        assert all(in_run[day].passed for day in DAYS)

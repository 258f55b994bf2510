"""Tests for models.reporting.review: the atomic read-only review snapshot and its leaderboard."""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from models.reporting.review import (
    LEADERBOARD_COLUMNS,
    MODELS_SCHEMA,
    OFFLINE_METRICS_SCHEMA,
    REPLAY_METRICS_SCHEMA,
    read_review_snapshot,
    write_review_snapshot,
)

DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)


def _frames(model_rate: float = 0.30) -> dict[str, pd.DataFrame]:
    models = pd.DataFrame(
        [
            (DAY1, "m1", "cold", None, 3, 1000, 0.41, 12.0),
            (DAY2, "m2", "incremental", "m1", 1, 400, 0.39, 4.0),
        ],
        columns=list(MODELS_SCHEMA),
    )
    offline = pd.DataFrame(
        [
            (DAY1, "m1", "model", "click", 100, 10, 0.70, 0.30, 1.0),
            (DAY1, "m1", "model", "like", 100, 5, 0.80, 0.20, 0.9),
            (DAY1, "m1", "popularity_baseline", "click", 100, 10, 0.60, 0.33, 1.0),
            (DAY1, "m1", "popularity_baseline", "like", 100, 5, 0.62, 0.22, 1.1),
            (DAY2, "m2", "model", "click", 90, 9, 0.72, 0.29, 1.02),
            (DAY2, "m2", "model", "like", 90, 4, float("nan"), 0.21, 0.95),
            (DAY2, "m2", "popularity_baseline", "click", 90, 9, 0.61, 0.33, 1.0),
        ],
        columns=list(OFFLINE_METRICS_SCHEMA),
    )
    replay = pd.DataFrame(
        [
            (DAY1, "m1", "model", 500, 100, 30, model_rate, 0.22, 0.39, 0.31),
            (DAY1, "m1", "popularity_baseline", 500, 98, 20, 0.20, 0.13, 0.29, 0.21),
            (DAY1, "m1", "random", 500, 101, 15, 0.1485, 0.09, 0.23, None),
            (DAY2, "m2", "model", 480, 96, 33, 0.34375, 0.25, 0.44, 0.33),
            (DAY2, "m2", "popularity_baseline", 480, 95, 19, 0.20, 0.13, 0.29, 0.20),
        ],
        columns=list(REPLAY_METRICS_SCHEMA),
    )
    return {"models": models, "offline_metrics": offline, "replay_metrics": replay}


def test_round_trip_with_types(tmp_path):
    path = write_review_snapshot(tmp_path / "review" / "review.duckdb", **_frames())
    assert path == tmp_path / "review" / "review.duckdb"
    assert sorted(p.name for p in path.parent.iterdir()) == ["review.duckdb"]  # no temp left
    tables = read_review_snapshot(path)
    assert set(tables) == {"models", "offline_metrics", "replay_metrics", "leaderboard"}
    assert list(tables["replay_metrics"].columns) == list(REPLAY_METRICS_SCHEMA)
    assert len(tables["offline_metrics"]) == 7
    models = tables["models"].set_index("model_id")
    assert models.loc["m2", "base_model_id"] == "m1" and pd.isna(models.loc["m1", "base_model_id"])
    with duckdb.connect(str(path), read_only=True) as conn:
        types = {row[0]: row[1] for row in conn.execute("DESCRIBE replay_metrics").fetchall()}
    assert types == REPLAY_METRICS_SCHEMA


def test_leaderboard_values(tmp_path):
    tables = read_review_snapshot(write_review_snapshot(tmp_path / "r.duckdb", **_frames()))
    board = tables["leaderboard"]
    assert tuple(board.columns) == LEADERBOARD_COLUMNS
    assert list(board["model_id"]) == ["m1", "m2"]
    day1, day2 = board.iloc[0], board.iloc[1]
    assert day1["model_rate"] == pytest.approx(0.30)
    assert (day1["model_ci_low"], day1["model_ci_high"]) == (
        pytest.approx(0.22),
        pytest.approx(0.39),
    )
    assert day1["baseline_rate"] == pytest.approx(0.20)
    assert day1["lift"] == pytest.approx(0.5)
    assert day1["model_auc"] == pytest.approx(0.75)
    assert day1["baseline_auc"] == pytest.approx(0.61)
    assert day1["mode"] == "cold" and day2["mode"] == "incremental"
    # NaN AUC (one class absent) is left out of the mean rather than poisoning it.
    assert day2["model_auc"] == pytest.approx(0.72)
    assert day2["lift"] == pytest.approx(0.34375 / 0.20 - 1)


def test_atomic_replace_while_a_reader_reads(tmp_path):
    path = tmp_path / "review.duckdb"
    write_review_snapshot(path, **_frames(model_rate=0.30))
    with duckdb.connect(str(path), read_only=True) as reader:
        before = reader.execute("SELECT model_rate FROM leaderboard ORDER BY date").fetchall()
        write_review_snapshot(path, **_frames(model_rate=0.25))
        # The open reader keeps its consistent (old) snapshot.
        during = reader.execute("SELECT model_rate FROM leaderboard ORDER BY date").fetchall()
    assert before == during and before[0][0] == pytest.approx(0.30)
    after = read_review_snapshot(path)["leaderboard"]
    assert after["model_rate"].iloc[0] == pytest.approx(0.25)


def test_missing_column_and_bad_values_are_named(tmp_path):
    frames = _frames()
    frames["replay_metrics"] = frames["replay_metrics"].drop(columns="ci_high")
    with pytest.raises(ValueError, match=r"'replay_metrics'.*\['ci_high'\]"):
        write_review_snapshot(tmp_path / "r.duckdb", **frames)
    frames = _frames()
    frames["models"].loc[0, "mode"] = "warm"
    with pytest.raises(ValueError, match=r"'mode'.*\['warm'\]"):
        write_review_snapshot(tmp_path / "r.duckdb", **frames)
    assert not any(tmp_path.iterdir())


def test_empty_inputs_give_empty_tables(tmp_path):
    path = write_review_snapshot(
        tmp_path / "r.duckdb", pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    )
    tables = read_review_snapshot(path)
    assert all(frame.empty for frame in tables.values())
    assert list(tables["models"].columns) == list(MODELS_SCHEMA)


def test_missing_snapshot_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="no review snapshot at .*make demo"):
        read_review_snapshot(tmp_path / "nope.duckdb")

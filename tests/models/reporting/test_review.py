"""Tests for models.reporting.review and .leaderboard: the atomic read-only review snapshot, its
per-day leaderboard and its pooled overview (differences with intervals, verdicts in words)."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pandas as pd
import pytest

from models.evaluation.intervals import rate_difference_interval
from models.reporting.leaderboard import (
    LEADERBOARD_SCHEMA,
    OVERVIEW_SCHEMA,
    build_overview,
    verdict,
)
from models.reporting.review import (
    ABLATION_TABLE,
    DETAIL_SCHEMAS,
    GATE_CHECKS_SCHEMA,
    GATE_VERDICTS_SCHEMA,
    MODELS_SCHEMA,
    OFFLINE_METRICS_SCHEMA,
    PAIRED_DIFFERENCES_SCHEMA,
    REPLAY_METRICS_SCHEMA,
    SNAPSHOT_TABLES,
    StaleSnapshotError,
    read_review_snapshot,
    write_review_snapshot,
)

DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
Z = 1.959963984540054


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
    # Replay: model 30/100 then 34/100, popularity 20/100 twice, production 25/100 then 35/100.
    replay = pd.DataFrame(
        [
            (DAY1, "m1", "model", 500, 100, 30, model_rate, 0.22, 0.39, 0.31),
            (DAY1, "m1", "popularity_baseline", 500, 100, 20, 0.20, 0.13, 0.29, 0.21),
            (DAY1, "m1", "production", 500, 100, 25, 0.25, 0.18, 0.34, 0.36),
            (DAY1, "m1", "random", 500, 101, 15, 0.1485, 0.09, 0.23, None),
            (DAY2, "m2", "model", 480, 100, 34, 0.34, 0.25, 0.44, 0.33),
            (DAY2, "m2", "popularity_baseline", 480, 100, 20, 0.20, 0.13, 0.29, 0.20),
            (DAY2, "m2", "production", 480, 100, 35, 0.35, 0.26, 0.45, 0.36),
        ],
        columns=list(REPLAY_METRICS_SCHEMA),
    )
    # Ground truth: the model loses to production on both days and beats popularity.
    paired = pd.DataFrame(
        [
            (DAY1, "m1", "production", 4, -0.05, 0.0004),
            (DAY1, "m1", "popularity_baseline", 4, 0.10, 0.02),
            (DAY1, "m1", "random", 4, 0.20, 0.05),
            (DAY2, "m2", "production", 6, -0.03, 0.0009),
            (DAY2, "m2", "popularity_baseline", 6, 0.20, 0.03),
        ],
        columns=list(PAIRED_DIFFERENCES_SCHEMA),
    )
    return {
        "models": models,
        "offline_metrics": offline,
        "replay_metrics": replay,
        "paired_differences": paired,
    }


def _snapshot(tmp_path, **frames) -> dict[str, pd.DataFrame]:
    return read_review_snapshot(write_review_snapshot(tmp_path / "r.duckdb", **frames))


def test_round_trip_with_types(tmp_path):
    path = write_review_snapshot(tmp_path / "review" / "review.duckdb", **_frames())
    assert path == tmp_path / "review" / "review.duckdb"
    assert sorted(p.name for p in path.parent.iterdir()) == ["review.duckdb"]  # no temp left
    tables = read_review_snapshot(path)
    assert tuple(tables) == (*SNAPSHOT_TABLES, ABLATION_TABLE)
    assert set(tables) == {
        "models",
        "offline_metrics",
        "replay_metrics",
        "paired_differences",
        "leaderboard",
        "overview",
        *DETAIL_SCHEMAS,
        ABLATION_TABLE,
    }
    assert all(tables[table].empty for table in (*DETAIL_SCHEMAS, ABLATION_TABLE))
    assert list(tables["replay_metrics"].columns) == list(REPLAY_METRICS_SCHEMA)
    assert len(tables["offline_metrics"]) == 7
    models = tables["models"].set_index("model_id")
    assert models.loc["m2", "base_model_id"] == "m1" and pd.isna(models.loc["m1", "base_model_id"])
    paired = tables["paired_differences"]
    assert len(paired) == 5 and set(paired["reference"]) == {
        "production",
        "popularity_baseline",
        "random",
    }
    with duckdb.connect(str(path), read_only=True) as conn:

        def types(table: str) -> dict[str, str]:
            return {row[0]: row[1] for row in conn.execute(f"DESCRIBE {table}").fetchall()}

        assert types("replay_metrics") == REPLAY_METRICS_SCHEMA
        assert types("paired_differences") == PAIRED_DIFFERENCES_SCHEMA
        assert types("leaderboard") == LEADERBOARD_SCHEMA
        assert types("overview") == OVERVIEW_SCHEMA


def test_leaderboard_values(tmp_path):
    board = _snapshot(tmp_path, **_frames())["leaderboard"]
    assert tuple(board.columns) == tuple(LEADERBOARD_SCHEMA)
    assert not any("lift" in name for name in board.columns)
    assert list(board["model_id"]) == ["m1", "m2"]
    day1, day2 = board.iloc[0], board.iloc[1]
    assert day1["model_rate"] == pytest.approx(0.30)
    assert (day1["model_ci_low"], day1["model_ci_high"]) == (
        pytest.approx(0.22),
        pytest.approx(0.39),
    )
    # Replay differences from the counts: 30/100 − 20/100 and 30/100 − 25/100, Newcombe intervals.
    assert day1["vs_popularity_replay"] == pytest.approx(0.10)
    assert day1["vs_production_replay"] == pytest.approx(0.05)
    _, low, high = rate_difference_interval(30, 100, 25, 100)
    assert (day1["vs_production_replay_low"], day1["vs_production_replay_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert day1["vs_production_replay_low"] < 0 < day1["vs_production_replay_high"]
    assert day2["vs_production_replay"] == pytest.approx(-0.01)
    # Paired truth on one day: mean ± z·sqrt(s²/n) = 0.10 ± 1.96·sqrt(0.02 / 4).
    assert day1["vs_popularity_truth"] == pytest.approx(0.10)
    half = Z * math.sqrt(0.02 / 4)
    assert day1["vs_popularity_truth_low"] == pytest.approx(0.10 - half)
    assert day1["vs_popularity_truth_high"] == pytest.approx(0.10 + half)
    assert day2["vs_production_truth"] == pytest.approx(-0.03)
    assert day2["vs_production_truth_high"] == pytest.approx(-0.03 + Z * math.sqrt(0.0009 / 6))
    assert day1["model_auc"] == pytest.approx(0.75)
    assert day1["baseline_auc"] == pytest.approx(0.61)
    assert day1["mode"] == "cold" and day2["mode"] == "incremental"
    # NaN AUC (one class absent) is left out of the mean rather than poisoning it.
    assert day2["model_auc"] == pytest.approx(0.72)


def test_leaderboard_without_ground_truth_has_nan_truth(tmp_path):
    frames = _frames()
    del frames["paired_differences"]
    tables = _snapshot(tmp_path, **frames)
    assert tables["paired_differences"].empty
    board = tables["leaderboard"]
    assert board["vs_production_truth"].isna().all()
    assert board["vs_popularity_truth_low"].isna().all()
    assert board["vs_popularity_replay"].tolist() == pytest.approx([0.10, 0.14])


def test_overview_pools_days_and_lets_the_truth_decide(tmp_path):
    overview = _snapshot(tmp_path, **_frames())["overview"].set_index("reference")
    assert list(overview.index) == ["production", "popularity_baseline"]
    production, popularity = overview.loc["production"], overview.loc["popularity_baseline"]
    # Replay pools the counts: 64/200 − 60/200 and 64/200 − 40/200.
    assert production["replay_difference"] == pytest.approx(0.02)
    assert production["replay_ci_low"] < 0 < production["replay_ci_high"]
    assert popularity["replay_difference"] == pytest.approx(0.12)
    _, low, high = rate_difference_interval(64, 200, 40, 200)
    assert (popularity["replay_ci_low"], popularity["replay_ci_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )
    assert production["replay_days"] == 2 and production["truth_days"] == 2
    # Truth vs production, by hand: N = 10, m = (4·−0.05 + 6·−0.03) / 10 = −0.038,
    # S² = (3·0.0004 + 5·0.0009 + 4·0.012² + 6·0.008²) / 9 = 0.00074, half = z·sqrt(S²/N).
    half = Z * math.sqrt(0.00074 / 10)
    assert production["truth_sessions"] == 10
    assert production["truth_difference"] == pytest.approx(-0.038)
    assert production["truth_ci_low"] == pytest.approx(-0.038 - half)
    assert production["truth_ci_high"] == pytest.approx(-0.038 + half)
    # Replay sees no difference from production, the (paired, tighter) truth sees a loss.
    assert production["verdict"] == "model LOSES to production"
    assert production["decided_by"] == "ground truth"
    # Popularity: m = 0.16, S² = (3·0.02 + 5·0.03 + 4·0.06² + 6·0.04²) / 9 = 0.026.
    assert popularity["truth_difference"] == pytest.approx(0.16)
    assert popularity["truth_ci_low"] == pytest.approx(0.16 - Z * math.sqrt(0.026 / 10))
    assert popularity["verdict"] == "model beats popularity"


def test_overview_falls_back_to_replay_without_truth():
    frames = _frames()
    replay = frames["replay_metrics"].assign(date=lambda f: pd.to_datetime(f["date"]))
    empty = pd.DataFrame(columns=list(PAIRED_DIFFERENCES_SCHEMA))
    overview = build_overview(replay, empty).set_index("reference")
    assert overview.loc["production", "verdict"] == "no significant difference from production"
    assert overview.loc["popularity_baseline", "verdict"] == "model beats popularity"
    assert set(overview["decided_by"]) == {"replay"}
    assert overview["truth_difference"].isna().all() and (overview["truth_sessions"] == 0).all()


@pytest.mark.parametrize(
    ("low", "high", "reference", "expected"),
    [
        (0.01, 0.03, "production", "model beats production"),
        (-0.03, -0.01, "production", "model LOSES to production"),
        (-0.01, 0.02, "production", "no significant difference from production"),
        (0.01, 0.03, "popularity_baseline", "model beats popularity"),
        (float("nan"), float("nan"), "production", "not enough data to compare with production"),
    ],
)
def test_verdict_in_words(low, high, reference, expected):
    assert verdict(low, high, reference) == expected


def test_verdict_rejects_an_unknown_reference():
    with pytest.raises(ValueError, match=r"`reference` must be one of .*'random'"):
        verdict(0.1, 0.2, "random")


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
    frames = _frames()
    frames["paired_differences"].loc[0, "reference"] = "model"
    with pytest.raises(ValueError, match=r"'paired_differences' column 'reference'.*\['model'\]"):
        write_review_snapshot(tmp_path / "r.duckdb", **frames)
    frames = _frames()
    frames["paired_differences"] = frames["paired_differences"].drop(columns="variance")
    with pytest.raises(ValueError, match=r"'paired_differences'.*\['variance'\]"):
        write_review_snapshot(tmp_path / "r.duckdb", **frames)
    assert not any(tmp_path.iterdir())


def test_detail_tables_and_the_ablation_ladder_round_trip(tmp_path):
    day = dt.date(2024, 3, 1)
    gates = pd.DataFrame(
        [(day, "m1", True, False, False, None, "m0", "log_loss_vs_previous[all]: worse", None)],
        columns=list(GATE_VERDICTS_SCHEMA),
    )
    checks = pd.DataFrame(
        [(day, "m1", "ece", "vote", None, "", None, "not judged")],
        columns=list(GATE_CHECKS_SCHEMA),
    )
    ablation = pd.DataFrame({"row": [1, 0], "variant": ["+ dcn", "dot"], "new_column": [2.0, 1.0]})
    path = write_review_snapshot(
        tmp_path / "r.duckdb",
        **_frames(),
        details={"gate_verdicts": gates, "gate_checks": checks, ABLATION_TABLE: ablation},
    )
    tables = read_review_snapshot(path)
    assert tables["gate_verdicts"]["reasons"].tolist() == ["log_loss_vs_previous[all]: worse"]
    assert pd.isna(tables["gate_verdicts"]["serving_model_id"].iloc[0])
    assert tables["gate_checks"]["check"].tolist() == ["ece"]  # a reserved word, quoted
    assert pd.isna(tables["gate_checks"]["passed"].iloc[0])
    # free-form: every column kept, ordered by row
    assert tables[ABLATION_TABLE]["variant"].tolist() == ["dot", "+ dcn"]
    assert list(tables[ABLATION_TABLE].columns) == ["row", "variant", "new_column"]
    assert tables["segment_metrics"].empty
    with pytest.raises(ValueError, match=r"unknown detail table\(s\) \['nope'\]"):
        write_review_snapshot(tmp_path / "x.duckdb", **_frames(), details={"nope": ablation})
    gates.loc[0, "model_id"] = None
    with pytest.raises(ValueError, match=r"'gate_verdicts' column 'model_id' has 1 missing"):
        write_review_snapshot(tmp_path / "x.duckdb", **_frames(), details={"gate_verdicts": gates})


def test_empty_inputs_give_empty_tables(tmp_path):
    path = write_review_snapshot(
        tmp_path / "r.duckdb", pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), pd.DataFrame()
    )
    tables = read_review_snapshot(path)
    assert all(frame.empty for frame in tables.values())
    assert list(tables["models"].columns) == list(MODELS_SCHEMA)
    assert list(tables["paired_differences"].columns) == list(PAIRED_DIFFERENCES_SCHEMA)
    assert list(tables["overview"].columns) == list(OVERVIEW_SCHEMA)


def test_missing_snapshot_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="no review snapshot at .*make demo"):
        read_review_snapshot(tmp_path / "nope.duckdb")


def test_an_out_of_date_snapshot_is_named(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE models (date DATE, model_id VARCHAR)")
    with pytest.raises(StaleSnapshotError, match=r"out of date: table 'models'.*make demo"):
        read_review_snapshot(path)

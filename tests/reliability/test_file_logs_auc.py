"""User logs copied from the simulator give the simulator's examples (issue 11, "Unexplained").

A tester copied the simulated raw logs into a user-log directory, read them back with `FileLogs`
and reported a cold start scoring mean AUC 0.385 against ~0.7 on the simulated source. Rebuilt
here on the tiny world: whatever layout the copy takes (here several files per day, rows
reversed), `FileLogs` writes the same raw rows as `SimulatedLogs`, and the model-ready rows built
from them (session explosion: splits, features, labels) are equal row for row, with the same
label rates per split and the same popularity-baseline AUC. Every model and metric downstream is a
function of those rows, so a source-dependent AUC has to show up here first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lirank_assets.resources import DataRoot, FileLogs, SimulatedLogs
from lirank_assets.settings import WorldChoice
from models.evaluation.baselines import popularity_scores
from models.evaluation.metrics import head_metrics
from spark.explode import explode_session_features
from spark.io import read_parquet_dirs
from spark.schemas import RAW_TABLES

TINY = WorldChoice(preset="tiny", num_days=2)
DATES = [TINY.world_config().date_of(day) for day in range(2)]
KEYS = {
    "feed_sessions": ["session_id"],
    "feed_impressions": ["session_id", "post_id"],
    "posts": ["post_id"],
    "members": ["member_id"],
}
HEADS = ("click", "like", "comment", "share", "vote")


def _copy_in_another_layout(raw: Path, logs: Path) -> None:
    """Each simulated partition re-exported as two Parquet files, rows in reverse order."""
    for table in RAW_TABLES:
        for partition in sorted((raw / table).glob("date=*")):
            rows = pq.read_table(partition)
            rows = rows.take(np.arange(rows.num_rows)[::-1])
            half = rows.num_rows // 2
            target = logs / table / partition.name
            target.mkdir(parents=True)
            pq.write_table(rows.slice(0, half), target / "export-a.parquet")
            pq.write_table(rows.slice(half), target / "export-b.parquet")


@pytest.fixture(scope="module")
def sources(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("file_logs_auc")
    simulated = SimulatedLogs(data_root=DataRoot(path=str(base / "sim")), world=TINY)
    for date in DATES:
        simulated.write_day(spark, date)
    _copy_in_another_layout(simulated.data_root.layout.raw, base / "logs")
    user = FileLogs(data_root=DataRoot(path=str(base / "user")), path=str(base / "logs"))
    for date in DATES:
        user.write_day(spark, date)
    return simulated.data_root.layout, user.data_root.layout


def _sorted(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys, ignore_index=True)


def _examples(spark, layout, date) -> pd.DataFrame:
    sessions = read_parquet_dirs(spark, [layout.raw_table("feed_sessions", date)])
    impressions = read_parquet_dirs(spark, [layout.raw_table("feed_impressions", date)])
    frame = explode_session_features(sessions, impressions).toPandas()
    return _sorted(frame, ["session_id", "post_id"])


@pytest.mark.parametrize("table", list(RAW_TABLES))
def test_file_logs_write_the_simulated_rows(sources, table):
    simulated, user = sources
    for date in DATES:
        want = _sorted(pq.read_table(simulated.raw_table(table, date)).to_pandas(), KEYS[table])
        got = _sorted(pq.read_table(user.raw_table(table, date)).to_pandas(), KEYS[table])
        assert len(got) == len(want) > 0
        pd.testing.assert_frame_equal(got, want)


def test_examples_from_file_logs_equal_the_simulated_examples(sources, spark):
    """Same rows, splits, features and labels; hence the same label rates per split and the
    same popularity baseline AUC on day 1 (fit on day 0's train rows)."""
    simulated, user = sources
    per_source = {
        name: [_examples(spark, layout, date) for date in DATES]
        for name, layout in (("simulated", simulated), ("user", user))
    }
    for want, got in zip(per_source["simulated"], per_source["user"], strict=True):
        assert len(want) > 1000
        pd.testing.assert_frame_equal(got, want)
        rates = [frame.groupby("split")[list(HEADS)].mean() for frame in (want, got)]
        pd.testing.assert_frame_equal(*rates)
        assert set(want["split"]) == {"train", "holdout", "random_bucket"}
    aucs = {}
    for name, (day0, day1) in per_source.items():
        train = day0[day0["split"] == "train"]
        evaluated = day1[day1["split"].isin(["train", "holdout"])]
        scores = {
            head: popularity_scores(
                train["post_id"].to_numpy(), train[head].to_numpy(), evaluated["post_id"].to_numpy()
            )
            for head in HEADS
        }
        labels = {head: evaluated[head].to_numpy() for head in HEADS}
        aucs[name] = head_metrics(labels, scores).set_index("head")["auc"]
    pd.testing.assert_series_equal(aucs["user"], aucs["simulated"])
    assert 0.5 < aucs["user"].mean() < 0.8

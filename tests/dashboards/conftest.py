"""Fixture review snapshot for the dashboard tests, written with `write_review_snapshot`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from models.reporting.review import (
    MODELS_SCHEMA,
    OFFLINE_METRICS_SCHEMA,
    PAIRED_DIFFERENCES_SCHEMA,
    REPLAY_METRICS_SCHEMA,
    write_review_snapshot,
)

DAY1, DAY2 = dt.date(2024, 3, 1), dt.date(2024, 3, 2)
REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "dashboards" / "app.py"

# Latest day (DAY2): model replay rate 34.38% [29.91%, 39.13%]; mean AUC over heads 0.7350 vs
# baseline 0.6150. Pooled: replay sees no significant difference from production (+5.4 pp on the
# one day production was replayed) while the paired ground truth says the model LOSES to it
# (-0.0085 per session); the model beats popularity on both.
MODELS = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "cold", None, 3, 120_000, 0.412, 95.0),
        (DAY2, "feed-2024-03-02", "incremental", "feed-2024-03-01", 1, 41_000, 0.398, 31.0),
    ],
    columns=list(MODELS_SCHEMA),
)
OFFLINE = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "model", "click", 9000, 900, 0.7100, 0.3010, 1.0300),
        (DAY1, "feed-2024-03-01", "model", "like", 9000, 400, 0.7400, 0.1820, 0.9700),
        (DAY1, "feed-2024-03-01", "popularity_baseline", "click", 9000, 900, 0.6000, 0.3300, 1.0),
        (DAY1, "feed-2024-03-01", "popularity_baseline", "like", 9000, 400, 0.6100, 0.2000, 1.0),
        (DAY2, "feed-2024-03-02", "model", "click", 9100, 950, 0.7200, 0.2980, 1.0210),
        (DAY2, "feed-2024-03-02", "model", "like", 9100, 410, 0.7500, 0.1790, 0.9630),
        (DAY2, "feed-2024-03-02", "popularity_baseline", "click", 9100, 950, 0.6100, 0.3290, 1.0),
        (DAY2, "feed-2024-03-02", "popularity_baseline", "like", 9100, 410, 0.6200, 0.1990, 1.0),
    ],
    columns=list(OFFLINE_METRICS_SCHEMA),
)
REPLAY = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "model", 2000, 400, 128, 0.32, 0.2763, 0.3671, 0.318),
        (
            DAY1,
            "feed-2024-03-01",
            "popularity_baseline",
            2000,
            395,
            79,
            0.20,
            0.1638,
            0.2418,
            0.205,
        ),
        (DAY1, "feed-2024-03-01", "random", 2000, 402, 60, 0.1493, 0.1178, 0.1874, 0.150),
        (DAY2, "feed-2024-03-02", "model", 2100, 416, 143, 0.3438, 0.2991, 0.3913, 0.337),
        (
            DAY2,
            "feed-2024-03-02",
            "popularity_baseline",
            2100,
            420,
            84,
            0.20,
            0.1651,
            0.2402,
            0.202,
        ),
        (DAY2, "feed-2024-03-02", "production", 2100, 418, 121, 0.2895, 0.2477, 0.3351, 0.291),
        (DAY2, "feed-2024-03-02", "random", 2100, 421, 63, 0.1496, 0.1187, 0.1870, 0.151),
    ],
    columns=list(REPLAY_METRICS_SCHEMA),
)
PAIRED = pd.DataFrame(
    [
        (DAY1, "feed-2024-03-01", "production", 2000, -0.0090, 0.0016),
        (DAY1, "feed-2024-03-01", "popularity_baseline", 2000, 0.1130, 0.0040),
        (DAY1, "feed-2024-03-01", "random", 2000, 0.1680, 0.0060),
        (DAY2, "feed-2024-03-02", "production", 2100, -0.0080, 0.0015),
        (DAY2, "feed-2024-03-02", "popularity_baseline", 2100, 0.1350, 0.0050),
    ],
    columns=list(PAIRED_DIFFERENCES_SCHEMA),
)


@pytest.fixture
def snapshot(tmp_path, monkeypatch) -> Path:
    """A fixture snapshot, and `LIRANK_REVIEW_SNAPSHOT` pointing at it."""
    path = write_review_snapshot(
        tmp_path / "review" / "review.duckdb", MODELS, OFFLINE, REPLAY, PAIRED
    )
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(path))
    return path


@pytest.fixture
def snapshot_without_truth(tmp_path, monkeypatch) -> Path:
    """The fixture snapshot as a run without a ground truth writes it (no paired differences)."""
    path = write_review_snapshot(tmp_path / "review" / "review.duckdb", MODELS, OFFLINE, REPLAY)
    monkeypatch.setenv("LIRANK_REVIEW_SNAPSHOT", str(path))
    return path

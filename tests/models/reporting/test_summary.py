"""Tests for models.reporting.summary: pooling over days, the verdict against production and
popularity (ground truth decides when present, replay otherwise), the printed report."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from models.evaluation.intervals import pooled_paired_interval, rate_difference_interval
from models.reporting.summary import format_summary, summarize, verdict

DAYS = [dt.date(2026, 1, 4), dt.date(2026, 1, 5)]
RANKERS = ("model", "popularity_baseline", "production", "random")


def _offline() -> pd.DataFrame:
    rows = []
    for date in DAYS:
        for head, model_auc, base_auc in (("click", 0.8, 0.6), ("like", 0.7, 0.7)):
            rows.append({"date": date, "head": head, "scorer": "model", "auc": model_auc})
            rows.append(
                {"date": date, "head": head, "scorer": "popularity_baseline", "auc": base_auc}
            )
    return pd.DataFrame(rows)


def _replay(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """Two days; (contributions, matched) per day for each ranker."""
    rows = []
    for date in DAYS:
        for ranker, (contributions, matched) in counts.items():
            rows.append(
                {
                    "date": date,
                    "model_id": f"feed-{date - dt.timedelta(days=1)}",
                    "ranker": ranker,
                    "sessions": 500,
                    "matched": matched,
                    "contributions": contributions,
                    "expected_contributions": 0.3,
                }
            )
    return pd.DataFrame(rows)


def _paired(production: float, popularity: float, variance: float = 0.01) -> pd.DataFrame:
    rows = []
    for date in DAYS:
        for reference, mean in (("production", production), ("popularity_baseline", popularity)):
            rows.append(
                {
                    "date": date,
                    "model_id": f"feed-{date - dt.timedelta(days=1)}",
                    "reference": reference,
                    "sessions": 500,
                    "mean_difference": mean,
                    "variance": variance,
                }
            )
    return pd.DataFrame(rows)


REPLAY = {"model": (30, 100), "popularity_baseline": (20, 100), "production": (32, 100)}


def test_summary_pools_days_and_compares_with_production_first():
    summary = summarize(_offline(), _replay(REPLAY), _paired(-0.02, 0.05))
    model = summary.replay.set_index("ranker").loc["model"]
    assert (model["matched"], model["contributions"], model["days"]) == (200, 60, 2)
    assert model["rate"] == pytest.approx(0.3) and model["ci_low"] < 0.3 < model["ci_high"]
    heads = summary.heads.set_index("head")
    assert heads.loc["click", "auc_difference"] == pytest.approx(0.2)
    assert list(summary.overview["reference"]) == ["production", "popularity_baseline"]
    production = summary.against("production")
    assert (production["replay_difference"], production["replay_ci_low"]) == pytest.approx(
        rate_difference_interval(60, 200, 64, 200)[:2]
    )
    truth = pooled_paired_interval([500, 500], [-0.02, -0.02], [0.01, 0.01])
    assert production["truth_difference"] == pytest.approx(truth[0])
    assert production["truth_ci_high"] == pytest.approx(truth[2]) and truth[2] < 0


def test_the_truth_says_plainly_when_the_model_loses_to_production():
    summary = summarize(_offline(), _replay(REPLAY), _paired(-0.02, 0.05))
    lines = verdict(summary).splitlines()
    assert lines[0].startswith("vs production: model LOSES to production: ground truth -2.0 points")
    assert "paired over 1,000 sessions" in lines[0] and "replay -2.0 points" in lines[0]
    assert lines[1].startswith("vs popularity: model beats popularity: ground truth +5.0 points")
    report = format_summary(summary)
    assert "day D ranked by the model promoted as of day D−1" in report
    assert report.index("vs production") < report.index("Per-head AUC")


def test_without_a_ground_truth_replay_decides_and_says_so():
    summary = summarize(_offline(), _replay(REPLAY))
    lines = verdict(summary).splitlines()
    assert lines[0] == (
        "vs production: no significant difference from production: replay -2.0 points, 95% CI "
        f"[{rate_difference_interval(60, 200, 64, 200)[1] * 100:+.1f}, "
        f"{rate_difference_interval(60, 200, 64, 200)[2] * 100:+.1f}] (2 days); no ground truth"
    )
    clear = summarize(_offline(), _replay({"model": (300, 1000), "production": (200, 1000)}))
    assert verdict(clear).startswith("vs production: model beats production: replay +10.0 points")

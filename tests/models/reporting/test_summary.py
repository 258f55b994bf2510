"""Tests for models.reporting.summary: pooling over days, the difference interval, the verdict."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from models.evaluation.intervals import rate_difference_interval
from models.reporting.summary import format_summary, summarize, verdict

DAYS = [dt.date(2026, 1, 3), dt.date(2026, 1, 4)]


def _offline() -> pd.DataFrame:
    rows = []
    for date in DAYS:
        for head, model_auc, base_auc in (("click", 0.8, 0.6), ("like", 0.7, 0.7)):
            rows.append({"date": date, "head": head, "scorer": "model", "auc": model_auc})
            rows.append(
                {"date": date, "head": head, "scorer": "popularity_baseline", "auc": base_auc}
            )
    return pd.DataFrame(rows)


def _replay(model: tuple[int, int], baseline: tuple[int, int]) -> pd.DataFrame:
    """Two days; (contributions, matched) per day for the model and the baseline."""
    rows = []
    for date in DAYS:
        for ranker, (contributions, matched), expected in (
            ("model", model, 0.40),
            ("popularity_baseline", baseline, 0.30),
        ):
            rows.append(
                {
                    "date": date,
                    "ranker": ranker,
                    "matched": matched,
                    "contributions": contributions,
                    "expected_contributions": expected,
                }
            )
    return pd.DataFrame(rows)


def test_summary_pools_days_before_forming_rates():
    summary = summarize(_offline(), _replay(model=(30, 100), baseline=(20, 100)))
    model = summary.replay.set_index("ranker").loc["model"]
    assert (model["matched"], model["contributions"], model["days"]) == (200, 60, 2)
    assert model["rate"] == pytest.approx(0.3)
    assert model["ci_low"] < 0.3 < model["ci_high"]
    heads = summary.heads.set_index("head")
    assert heads.loc["click", "auc_lift"] == pytest.approx(0.8 / 0.6 - 1)
    assert summary.replay_difference == pytest.approx(rate_difference_interval(60, 200, 40, 200))
    assert summary.expected_difference == pytest.approx(0.10)


def test_verdict_separates_significant_leads_from_noise():
    clear = summarize(_offline(), _replay(model=(300, 1000), baseline=(200, 1000)))
    assert clear.beats_significantly and verdict(clear).startswith(
        "model beats the popularity baseline on replay: +10.0 points"
    )
    noisy = summarize(_offline(), _replay(model=(11, 40), baseline=(10, 40)))
    assert noisy.model_beats_baseline and not noisy.beats_significantly
    assert "the interval includes 0" in verdict(noisy)
    worse = summarize(_offline(), _replay(model=(10, 40), baseline=(11, 40)))
    assert not worse.model_beats_baseline
    assert "does NOT beat" in verdict(worse)
    assert "+10.0 points more expected contributions" in format_summary(worse)

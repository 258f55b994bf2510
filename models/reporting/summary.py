"""The end-of-demo summary: per-head AUC against the baseline, and replay rates pooled over days."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from models.evaluation.intervals import rate_difference_interval, wilson_interval
from models.reporting.review import BASELINE_SCORER, MODEL_SCORER


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """The demo's verdict material.

    Args:
        heads: head, model_auc, baseline_auc, auc_lift.
        replay: ranker, days, matched, contributions, rate, ci_low, ci_high, expected.
        replay_difference: model − baseline replay rate and its 95% Newcombe interval
            (`models.evaluation.intervals.rate_difference_interval`) as (d, lower, upper).
        expected_difference: model − baseline ground-truth expected contributions per session
            (NaN without a ground truth): the noise-free answer replay estimates.
    """

    heads: pd.DataFrame
    replay: pd.DataFrame
    replay_difference: tuple[float, float, float]
    expected_difference: float

    @property
    def model_beats_baseline(self) -> bool:
        """The model's pooled replay rate is above the baseline's (point estimates)."""
        return bool(self.replay_difference[0] > 0)

    @property
    def beats_significantly(self) -> bool:
        """The 95% interval of the replay-rate difference lies above zero."""
        return bool(self.replay_difference[1] > 0)


def summarize(offline_metrics: pd.DataFrame, replay_metrics: pd.DataFrame) -> DemoSummary:
    """Average per-head AUC over evaluated days; pool replay counts over days.

    Pooling sums matched impressions and contributions across days before forming the rate and
    its Wilson interval, which is the replay estimate over the whole evaluation period.
    """
    auc = offline_metrics.pivot_table(index="head", columns="scorer", values="auc", aggfunc="mean")
    heads = pd.DataFrame(
        {
            "model_auc": auc[MODEL_SCORER],
            "baseline_auc": auc[BASELINE_SCORER],
        }
    )
    heads["auc_lift"] = heads["model_auc"] / heads["baseline_auc"] - 1.0
    pooled = (
        replay_metrics.groupby("ranker")
        .agg(
            days=("date", "nunique"),
            matched=("matched", "sum"),
            contributions=("contributions", "sum"),
            expected=("expected_contributions", "mean"),
        )
        .reset_index()
    )
    counts = zip(pooled["contributions"], pooled["matched"], strict=True)
    intervals = [wilson_interval(int(c), int(m)) for c, m in counts]
    pooled["rate"] = pooled["contributions"] / pooled["matched"].where(pooled["matched"] > 0)
    pooled["ci_low"] = [low for low, _ in intervals]
    pooled["ci_high"] = [high for _, high in intervals]
    by_ranker = pooled.set_index("ranker")
    nan = float("nan")
    difference, expected = (nan, nan, nan), nan
    if {MODEL_SCORER, BASELINE_SCORER} <= set(by_ranker.index):
        model, baseline = by_ranker.loc[MODEL_SCORER], by_ranker.loc[BASELINE_SCORER]
        difference = rate_difference_interval(
            int(model["contributions"]),
            int(model["matched"]),
            int(baseline["contributions"]),
            int(baseline["matched"]),
        )
        expected = float(model["expected"] - baseline["expected"])
    return DemoSummary(
        heads=heads.reset_index(),
        replay=pooled,
        replay_difference=difference,
        expected_difference=expected,
    )


def verdict(summary: DemoSummary) -> str:
    """One sentence: does the model beat the popularity baseline on replay, and how surely."""
    d, low, high = summary.replay_difference
    if math.isnan(d):
        return (
            "no replay comparison (the model or the popularity baseline has no matched impressions)"
        )
    gap = f"{d * 100:+.1f} points, 95% CI [{low * 100:+.1f}, {high * 100:+.1f}]"
    if summary.beats_significantly:
        sentence = f"model beats the popularity baseline on replay: {gap}"
    elif summary.model_beats_baseline:
        sentence = (
            f"model beats the popularity baseline on replay by {gap}; the interval includes 0 at "
            "this many matched impressions (a bigger world or more days narrows it)"
        )
    else:
        sentence = f"model does NOT beat the popularity baseline on replay: {gap}"
    if not math.isnan(summary.expected_difference):
        sentence += (
            f". Ground truth: the model's picks earn {summary.expected_difference * 100:+.1f} "
            "points more expected contributions than the baseline's"
        )
    return sentence


def format_summary(summary: DemoSummary) -> str:
    """A plain-text report: the head table, the replay table and the verdict."""
    heads = summary.heads.copy()
    heads["auc_lift"] = heads["auc_lift"].map(lambda v: f"{v:+.1%}")
    replay = summary.replay.copy()
    replay["rate ± 95% CI"] = [
        f"{r:.4f} [{lo:.4f}, {hi:.4f}]"
        for r, lo, hi in zip(replay["rate"], replay["ci_low"], replay["ci_high"], strict=True)
    ]
    replay = replay[["ranker", "days", "matched", "contributions", "rate ± 95% CI", "expected"]]
    return "\n".join(
        [
            "\nPer-head AUC on held-out sessions (mean over evaluated days)",
            heads.round(4).to_string(index=False),
            "\nReplay contribution rate @1 on the random bucket (pooled over days; "
            "expected = ground-truth expected contributions of the ranker's picks)",
            replay.round(4).to_string(index=False),
            f"\nVerdict: {verdict(summary)}",
        ]
    )

"""The end-of-demo summary: per-head AUC against the baseline, and replay rates pooled over days."""

from __future__ import annotations

import dataclasses

import pandas as pd

from models.replay import wilson_interval


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    heads: pd.DataFrame  # head, model_auc, baseline_auc, auc_lift
    replay: pd.DataFrame  # ranker, days, matched, contributions, rate, ci_low, ci_high, expected
    model_beats_baseline: bool


def summarize(offline_metrics: pd.DataFrame, replay_metrics: pd.DataFrame) -> DemoSummary:
    """Average per-head AUC over evaluated days; pool replay counts over days.

    Pooling sums matched impressions and contributions across days before forming the rate and
    its Wilson interval, which is the replay estimate over the whole evaluation period.
    """
    auc = offline_metrics.pivot_table(index="head", columns="scorer", values="auc", aggfunc="mean")
    heads = pd.DataFrame(
        {
            "model_auc": auc["model"],
            "baseline_auc": auc["popularity_baseline"],
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
    beats = bool(
        "model" in by_ranker.index
        and "popularity_baseline" in by_ranker.index
        and by_ranker.loc["model", "rate"] > by_ranker.loc["popularity_baseline", "rate"]
    )
    return DemoSummary(heads=heads.reset_index(), replay=pooled, model_beats_baseline=beats)


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
    verdict = (
        "model beats the popularity baseline on replay"
        if summary.model_beats_baseline
        else "model does NOT beat the popularity baseline on replay"
    )
    return "\n".join(
        [
            "\nPer-head AUC on held-out sessions (mean over evaluated days)",
            heads.round(4).to_string(index=False),
            "\nReplay contribution rate @1 on the random bucket (pooled over days; "
            "expected = ground-truth expected contributions of the ranker's picks)",
            replay.round(4).to_string(index=False),
            f"\nVerdict: {verdict}",
        ]
    )

"""The end-of-demo summary: the pooled verdict of the model against the production ranker and the
popularity baseline (differences with intervals, `leaderboard.build_overview`), then the per-head
AUC and the replay rates pooled over the evaluated days."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from models.evaluation.intervals import wilson_interval
from models.evaluation.protocol import DEFAULT_PROTOCOL
from models.evaluation.replay_eval import PAIRED_COLUMNS
from models.reporting.leaderboard import REFERENCES, TRUTH, build_overview
from models.reporting.review import BASELINE_SCORER, MODEL_SCORER


@dataclasses.dataclass(frozen=True)
class DemoSummary:
    """The demo's verdict material.

    Args:
        heads: head, model_auc, baseline_auc, auc_difference (mean over evaluated days).
        replay: ranker, days, matched, contributions, rate, ci_low, ci_high, expected.
        overview: one row per reference (production first): the pooled replay difference and the
            pooled paired ground-truth difference with their 95% intervals, and the verdict
            (`models.reporting.leaderboard.build_overview`).
        protocol: the evaluation protocol the metrics were computed under.
    """

    heads: pd.DataFrame
    replay: pd.DataFrame
    overview: pd.DataFrame
    protocol: str = DEFAULT_PROTOCOL

    def against(self, reference: str) -> pd.Series:
        """The overview row of `reference` ("production" or "popularity_baseline")."""
        rows = self.overview.set_index("reference")
        if reference not in rows.index:
            raise KeyError(f"no comparison with {reference!r}; have {list(rows.index)}")
        return rows.loc[reference]


def summarize(
    offline_metrics: pd.DataFrame,
    replay_metrics: pd.DataFrame,
    paired_differences: pd.DataFrame | None = None,
    protocol: str = DEFAULT_PROTOCOL,
) -> DemoSummary:
    """Average per-head AUC over evaluated days; pool replay counts over days; compare the model
    with every reference (`build_overview`).

    Pooling sums matched impressions and contributions across days before forming the rate and
    its Wilson interval, which is the replay estimate over the whole evaluation period.
    """
    auc = offline_metrics.pivot_table(index="head", columns="scorer", values="auc", aggfunc="mean")
    heads = pd.DataFrame({"model_auc": auc[MODEL_SCORER], "baseline_auc": auc[BASELINE_SCORER]})
    heads["auc_difference"] = heads["model_auc"] - heads["baseline_auc"]
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
    if paired_differences is None or paired_differences.empty:
        paired_differences = pd.DataFrame(columns=list(PAIRED_COLUMNS))
    return DemoSummary(
        heads=heads.reset_index(),
        replay=pooled,
        overview=build_overview(replay_metrics, paired_differences),
        protocol=protocol,
    )


def _points(value: float) -> str:
    return f"{value * 100:+.1f}"


def _interval(difference: float, low: float, high: float) -> str:
    return f"{_points(difference)} points, 95% CI [{_points(low)}, {_points(high)}]"


def comparison_sentence(row: pd.Series) -> str:
    """One line: the verdict against one reference, the figure that decided it, and the other."""
    replay_gap = _interval(row["replay_difference"], row["replay_ci_low"], row["replay_ci_high"])
    replay = f"replay {replay_gap} ({row['replay_days']} days)"
    if math.isnan(row["truth_difference"]):
        return f"{row['verdict']}: {replay}; no ground truth"
    truth_gap = _interval(row["truth_difference"], row["truth_ci_low"], row["truth_ci_high"])
    truth = (
        f"ground truth {truth_gap} of expected contributions per session (paired over "
        f"{row['truth_sessions']:,} sessions)"
    )
    decided = truth if row["decided_by"] == TRUTH else replay
    other = replay if row["decided_by"] == TRUTH else truth
    return f"{row['verdict']}: {decided}; {other}"


def verdict(summary: DemoSummary) -> str:
    """The verdict lines, production (the bar a new model must clear) first."""
    if summary.overview.empty:
        return "no comparison: the model has neither replay nor ground-truth rows"
    lines = []
    for reference, name in REFERENCES.items():
        if reference in set(summary.overview["reference"]):
            lines.append(f"vs {name}: {comparison_sentence(summary.against(reference))}")
    return "\n".join(lines)


def format_summary(summary: DemoSummary) -> str:
    """A plain-text report: the verdict, then the head table and the replay table."""
    protocol = (
        "day D ranked by the model promoted as of day D−1"
        if summary.protocol == "next_day"
        else "day D ranked by its own model (same-day)"
    )
    replay = summary.replay.copy()
    replay["rate ± 95% CI"] = [
        f"{r:.4f} [{lo:.4f}, {hi:.4f}]"
        for r, lo, hi in zip(replay["rate"], replay["ci_low"], replay["ci_high"], strict=True)
    ]
    replay = replay[["ranker", "days", "matched", "contributions", "rate ± 95% CI", "expected"]]
    return "\n".join(
        [
            f"\nVerdict (pooled over the evaluated days; {protocol}):",
            verdict(summary),
            "\nPer-head AUC on the evaluated days' traffic (mean over days)",
            summary.heads.round(4).to_string(index=False),
            "\nReplay contribution rate @1 on the random bucket (pooled over days; "
            "expected = ground-truth expected contributions of the ranker's picks)",
            replay.round(4).to_string(index=False),
        ]
    )


PRODUCT_NAMES = {"ads": "Ads CTR", "jobs": "Jobs"}
_Z95 = 1.959963984540054


def pool_product_verdicts(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One row per (product, metric): the per-day model − production differences of
    `product_verdicts` pooled over the evaluated days, with a 95% interval, and its verdict.

    Days are independent samples of traffic, so the pooled difference is the mean of the daily
    differences d̄ = (1/n) Σ_d δ_d with standard error √(Σ_d se_d²) / n, each day's se_d read
    back from its 95% interval as (high − low) / (2 · 1.96). The verdict follows the metric's
    direction (higher is better except for log loss and ECE): "wins" when the whole interval is
    on the better side of 0, "loses" when it is on the worse side, else "no significant
    difference".
    """
    columns = [
        "product", "metric", "days", "model_value", "production_value",
        "delta", "delta_lo", "delta_hi", "verdict",
    ]  # fmt: skip
    if verdicts is None or verdicts.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (product, metric), group in verdicts.groupby(["product", "metric"], sort=False):
        group = group.dropna(subset=["delta", "delta_lo", "delta_hi"])
        if group.empty:
            continue
        se = ((group["delta_hi"] - group["delta_lo"]) / (2 * _Z95)).to_numpy()
        n = len(group)
        delta = float(group["delta"].mean())
        half = _Z95 * math.sqrt(float((se**2).sum())) / n
        lower_is_better = metric in ("log_loss", "ece")
        better = -1.0 if lower_is_better else 1.0
        low, high = delta - half, delta + half
        if better * low > 0 and better * high > 0:
            outcome = "wins"
        elif better * low < 0 and better * high < 0:
            outcome = "loses"
        else:
            outcome = "no significant difference"
        rows.append(
            [
                product, metric, n, float(group["model_value"].mean()),
                float(group["production_value"].mean()), delta, low, high, outcome,
            ]
        )  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def format_product_verdicts(pooled: pd.DataFrame) -> str:
    """The Ads and Jobs verdicts against each product's production ranker, one line per metric."""
    if pooled.empty:
        return "\nAds CTR and Jobs: no evaluated day yet (materialize `evaluation_job`)."
    lines = []
    for product, group in pooled.groupby("product", sort=False):
        name = PRODUCT_NAMES.get(product, product)
        lines.append(f"\n{name} vs its production ranker (pooled over {group['days'].max()} days):")
        for row in group.itertuples():
            lines.append(
                f"  {row.metric}: model {row.model_value:.4f} vs production "
                f"{row.production_value:.4f}, difference {row.delta:+.4f} "
                f"[{row.delta_lo:+.4f}, {row.delta_hi:+.4f}]: the model {row.verdict.upper()}"
                if row.verdict != "no significant difference"
                else f"  {row.metric}: model {row.model_value:.4f} vs production "
                f"{row.production_value:.4f}, difference {row.delta:+.4f} "
                f"[{row.delta_lo:+.4f}, {row.delta_hi:+.4f}]: no significant difference"
            )
    return "\n".join(lines)

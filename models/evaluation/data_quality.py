"""Data-quality measurements on model-ready examples, used by the asset checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from spark.schemas import LABELS

DENSE_FEATURES: tuple[str, ...] = (
    "member_log_connections",
    "length",
    "post_age_hours",
    "author_log_followers",
    "dwell_seconds",
)

# Plausible positive-rate bounds per label; outside them a logging or labelling bug is likelier
# than a real shift. long_dwell is a 90th-percentile label, so its rate should be near 10%.
LABEL_RATE_BOUNDS: dict[str, tuple[float, float]] = {
    "click": (0.01, 0.60),
    "like": (0.005, 0.60),
    "comment": (0.0005, 0.30),
    "share": (0.0005, 0.30),
    "vote": (0.0, 0.30),
    "long_dwell": (0.05, 0.20),
}


@dataclasses.dataclass(frozen=True)
class ExampleQuality:
    rows: int
    label_rates: dict[str, float]
    nonfinite_counts: dict[str, int]
    out_of_bounds: dict[str, float]
    non_binary_labels: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return (
            self.rows > 0
            and not self.out_of_bounds
            and not any(self.nonfinite_counts.values())
            and not any(self.non_binary_labels.values())
        )

    def describe(self) -> str:
        if self.rows == 0:
            return "no examples in this partition: an empty day must not be trained on"
        problems = [
            f"{label} rate {rate:.4f} outside {LABEL_RATE_BOUNDS[label]}"
            for label, rate in self.out_of_bounds.items()
        ]
        problems += [
            f"{col} has {n} NaN or infinite values (training would fail or learn from them)"
            for col, n in self.nonfinite_counts.items()
            if n
        ]
        problems += [
            f"label {label} has {n} values other than 0 and 1 (a count, not whether it happened)"
            for label, n in self.non_binary_labels.items()
            if n
        ]
        if problems:
            problems.append(
                "fix the upstream logs (user logs: see the value rules of spark/log_rules.py) "
                "and re-materialize the day"
            )
        return "; ".join(problems) or "label rates within bounds, all dense features finite"


def measure_example_quality(examples: pd.DataFrame) -> ExampleQuality:
    """Label positive rates and their bounds, labels outside {0, 1}, and the NaN or ±inf values
    of the dense features (both fail the check: ±inf would pass a NaN test and fail training)."""
    rows = len(examples)
    rates = {label: float(examples[label].mean()) if rows else float("nan") for label in LABELS}
    nonfinite = {
        col: int((~np.isfinite(examples[col].to_numpy(dtype=np.float64))).sum())
        for col in DENSE_FEATURES
    }
    non_binary = {label: int((~examples[label].isin([0, 1])).sum()) for label in LABELS}
    out = {
        label: rate
        for label, rate in rates.items()
        if rows and not (LABEL_RATE_BOUNDS[label][0] <= rate <= LABEL_RATE_BOUNDS[label][1])
    }
    return ExampleQuality(
        rows=rows,
        label_rates=rates,
        nonfinite_counts=nonfinite,
        out_of_bounds=out,
        non_binary_labels=non_binary,
    )


def mean_auc(metrics: pd.DataFrame, scorer: str = "model") -> float:
    """Mean AUC over heads with both classes present."""
    values = metrics.loc[metrics["scorer"] == scorer, "auc"].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else float("nan")

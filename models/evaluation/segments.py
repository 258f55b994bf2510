"""Offline metrics by segment and reliability diagrams, from scored rows (pure numpy / pandas).

A head's single AUC hides where a model is weak. `segment_metrics` splits the scored rows by
content type, platform, served position and new vs known members and gives, per segment and
head, AUC with DeLong's 95% interval and observed / expected (Σy / Σp). `calibration_curve`
bins the predictions into equal-count bins (the heads' positives are rare, so equal-width bins
would put nearly every row in the first one) and gives each bin's mean prediction against its
observed rate with a Wilson interval: the reliability diagram.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from models.evaluation.intervals import wilson_interval
from models.evaluation.metrics import auc as rank_auc
from models.evaluation.metrics import calibration_ratio

ALL = "all"
NEW_MEMBER, KNOWN_MEMBER = "new", "known"
POSITION_BUCKETS: tuple[tuple[int, int, str], ...] = (
    (0, 0, "0"),
    (1, 1, "1"),
    (2, 2, "2"),
    (3, 4, "3-4"),
    (5, 9, "5-9"),
    (10, 10**9, "10+"),
)
"""0-based served position → bucket (as the long-dwell clusters, `spark.dwell.position_bucket`)."""

SEGMENT_METRIC_COLUMNS: tuple[str, ...] = (
    "segment",
    "value",
    "head",
    "rows",
    "positives",
    "predicted",
    "auc",
    "auc_ci_low",
    "auc_ci_high",
    "calibration",
)
CALIBRATION_CURVE_COLUMNS: tuple[str, ...] = (
    "head",
    "bin",
    "rows",
    "mean_predicted",
    "observed_rate",
    "observed_ci_low",
    "observed_ci_high",
)


def position_bucket(position: np.ndarray) -> np.ndarray:
    """0-based served positions → bucket labels '0', '1', '2', '3-4', '5-9', '10+'."""
    position = np.asarray(position)
    if (position < 0).any():
        raise ValueError(f"positions must be >= 0. Received a minimum of {position.min()}")
    out = np.empty(position.shape, dtype=object)
    for low, high, label in POSITION_BUCKETS:
        out[(position >= low) & (position <= high)] = label
    return out


def member_kind(history_authors: pd.Series) -> np.ndarray:
    """'new' for a member with no history (no author in `hist_author_ids`), else 'known'."""
    lengths = history_authors.map(lambda ids: 0 if ids is None else len(ids)).to_numpy()
    return np.where(lengths > 0, KNOWN_MEMBER, NEW_MEMBER).astype(object)


SEGMENTS: dict[str, Callable[[pd.DataFrame], np.ndarray]] = {
    ALL: lambda rows: np.full(len(rows), ALL, dtype=object),
    "content_type": lambda rows: rows["content_type"].astype(str).to_numpy(dtype=object),
    "platform": lambda rows: rows["platform"].astype(str).to_numpy(dtype=object),
    "position": lambda rows: position_bucket(rows["position"].to_numpy()),
    "member": lambda rows: member_kind(rows["hist_author_ids"]),
}
"""Segment name → the segment value of each row; 'all' is the head's overall figure."""


def auc_interval(
    labels: np.ndarray, scores: np.ndarray, confidence: float = 0.95
) -> tuple[float, float, float]:
    """AUC with DeLong's interval (DeLong et al. 1988, midrank form of Sun & Xu 2014).

    With m positives and n negatives, per positive i V10_i = (R_i − R⁺_i) / n and per negative j
    V01_j = 1 − (R_j − R⁻_j) / m, where R is the midrank among all rows and R⁺ / R⁻ the midrank
    among the positives / negatives. AUC = mean(V10) and

        Var(AUC) = s²(V10) / m + s²(V01) / n,

    the interval AUC ± z·√Var clipped to [0, 1] (z the two-sided normal quantile).

    Returns:
        (auc, low, high); the interval is (NaN, NaN) with fewer than 2 rows of a class, and
        everything is NaN when a class is absent.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Received: confidence={confidence}")
    y = np.asarray(labels, dtype=np.float64).ravel() > 0.5
    s = np.asarray(scores, dtype=np.float64).ravel()
    m, n = int(y.sum()), int((~y).sum())
    value = rank_auc(y.astype(np.float64), s)
    if m < 2 or n < 2:
        return value, math.nan, math.nan
    positives, negatives = s[y], s[~y]
    ranks = rankdata(np.concatenate([positives, negatives]))
    v10 = (ranks[:m] - rankdata(positives)) / n
    v01 = 1.0 - (ranks[m:] - rankdata(negatives)) / m
    error = math.sqrt(v10.var(ddof=1) / m + v01.var(ddof=1) / n)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return value, max(value - z * error, 0.0), min(value + z * error, 1.0)


def segment_metrics(
    rows: pd.DataFrame,
    labels: Mapping[str, np.ndarray],
    probs: Mapping[str, np.ndarray],
    segments: Mapping[str, Callable[[pd.DataFrame], np.ndarray]] = SEGMENTS,
) -> pd.DataFrame:
    """Per segment value and head: rows, positives, Σp, AUC with its 95% DeLong interval and
    observed / expected.

    Args:
        rows: the scored rows, with the columns the `segments` read (`content_type`,
            `platform`, `position`, `hist_author_ids` for the default segments).
        labels: head → 0/1 labels, one per row.
        probs: head → predicted probabilities, one per row (the heads reported, in order).
        segments: segment name → function giving each row's segment value.

    Returns:
        DataFrame with columns `SEGMENT_METRIC_COLUMNS`, segments in the order given and their
        values sorted; AUC is NaN where a segment lacks a class.

    Raises:
        ValueError: a head has no labels, or labels / probabilities do not have one per row.
    """
    for head, head_probs in probs.items():
        if head not in labels:
            raise ValueError(f"No labels for head {head!r}. Heads with labels: {sorted(labels)}")
        if len(head_probs) != len(rows) or len(labels[head]) != len(rows):
            raise ValueError(
                f"head {head!r} has {len(labels[head])} labels and {len(head_probs)} "
                f"probabilities for {len(rows)} rows; need one of each per row"
            )
    out = []
    for segment, of_rows in segments.items():
        values = of_rows(rows)
        for value in sorted(set(values)):
            mask = values == value
            for head, head_probs in probs.items():
                y = np.asarray(labels[head], dtype=np.float64)[mask]
                p = np.asarray(head_probs, dtype=np.float64)[mask]
                auc, low, high = auc_interval(y, p)
                out.append(
                    (
                        segment,
                        str(value),
                        head,
                        int(y.size),
                        int((y > 0.5).sum()),
                        float(p.sum()),
                        auc,
                        low,
                        high,
                        calibration_ratio(y, p),
                    )
                )
    return pd.DataFrame(out, columns=list(SEGMENT_METRIC_COLUMNS))


def calibration_curve(labels: np.ndarray, probs: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Reliability diagram of one head: the rows sorted by prediction and cut into `bins`
    equal-count bins (fewer when there are fewer rows); per bin the rows, mean prediction, and
    observed positive rate with its 95% Wilson interval. A calibrated head lies on the diagonal.

    Returns:
        DataFrame(bin, rows, mean_predicted, observed_rate, observed_ci_low, observed_ci_high),
        bins numbered from 0 (lowest predictions).
    """
    if bins < 1:
        raise ValueError(f"`bins` must be >= 1. Received: bins={bins}")
    y = np.asarray(labels, dtype=np.float64).ravel()
    p = np.asarray(probs, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and probs {p.shape} must have the same shape")
    order = np.argsort(p, kind="stable")
    out = []
    for number, index in enumerate(np.array_split(order, min(bins, y.size))):
        positives = int((y[index] > 0.5).sum())
        low, high = wilson_interval(positives, index.size)
        out.append(
            (number, int(index.size), float(p[index].mean()), positives / index.size, low, high)
        )
    return pd.DataFrame(out, columns=list(CALIBRATION_CURVE_COLUMNS[1:]))


def calibration_curves(
    labels: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray], bins: int = 10
) -> pd.DataFrame:
    """`calibration_curve` of every head of `probs`: DataFrame `CALIBRATION_CURVE_COLUMNS`."""
    frames = [
        calibration_curve(labels[head], p, bins).assign(head=head) for head, p in probs.items()
    ]
    if not frames:
        return pd.DataFrame(columns=list(CALIBRATION_CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(CALIBRATION_CURVE_COLUMNS)]

"""Offline ranking metrics per head: AUC, log loss and calibration (observed / expected).

Pure numpy (paper §5.2, notes §15: for Ads and Jobs offline AUC tracks online results; for Feed
the replay metric in `models.evaluation.replay` is the headline, these are the per-head
diagnostics).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import rankdata

HEAD_METRIC_COLUMNS: tuple[str, ...] = (
    "head",
    "rows",
    "positives",
    "auc",
    "log_loss",
    "calibration",
)


def _as_pair(
    labels: np.ndarray, scores: np.ndarray, name: str = "scores"
) -> tuple[np.ndarray, ...]:
    y = np.asarray(labels, dtype=np.float64).ravel()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if np.shape(labels) != np.shape(scores):
        raise ValueError(
            f"labels and {name} must have the same shape. "
            f"Received: labels.shape={np.shape(labels)}, {name}.shape={np.shape(scores)}"
        )
    return y, s


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve by the rank-sum (Mann–Whitney U) formula.

    With n₊ positives, n₋ negatives and R_i the rank of score i among all scores (ties get the
    average of the ranks they span, so a tied positive/negative pair counts 1/2):

        AUC = (Σ_{i: y_i=1} R_i − n₊(n₊+1)/2) / (n₊ · n₋)

    Args:
        labels: 0/1 labels, shape (n,).
        scores: any real scores (higher = more likely positive), same shape.

    Returns:
        The AUC in [0, 1], or NaN when one class is absent (AUC is undefined).
    """
    y, s = _as_pair(labels, scores)
    positives = y > 0.5
    n_pos = int(positives.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s, method="average")
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def log_loss(labels: np.ndarray, probs: np.ndarray, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, probabilities clipped to [eps, 1 − eps]:

        LL = −(1/n) Σ_i [y_i log p_i + (1 − y_i) log(1 − p_i)]

    Returns NaN for empty input.
    """
    if not 0.0 < eps < 0.5:
        raise ValueError(f"`eps` must be in (0, 0.5). Received: eps={eps}")
    y, p = _as_pair(labels, probs, "probs")
    if y.size == 0:
        return float("nan")
    p = np.clip(p, eps, 1.0 - eps)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def calibration_ratio(labels: np.ndarray, probs: np.ndarray) -> float:
    """Observed / expected (O/E) = Σ y_i / Σ p_i; 1.0 is perfectly calibrated on average, > 1 means
    the model under-predicts. NaN when Σ p_i = 0."""
    y, p = _as_pair(labels, probs, "probs")
    expected = float(p.sum())
    if expected <= 0.0:
        return float("nan")
    return float(y.sum()) / expected


def head_metrics(labels: Mapping[str, np.ndarray], probs: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per head (in the order of `probs`): rows, positives, AUC, log loss, calibration.

    Args:
        labels: head name → 0/1 labels.
        probs: head name → predicted probabilities, same shape as that head's labels. Every head in
            `probs` needs labels.

    Returns:
        DataFrame with columns `HEAD_METRIC_COLUMNS`.

    Raises:
        ValueError: a head has no labels, shapes differ, or a head has NaN predictions (naming the
            head and how many).
    """
    rows = []
    for head, head_probs in probs.items():
        if head not in labels:
            raise ValueError(f"No labels for head {head!r}. Heads with labels: {sorted(labels)}")
        y, p = _as_pair(labels[head], head_probs, f"probs[{head!r}]")
        n_nan = int(np.isnan(p).sum())
        if n_nan:
            raise ValueError(
                f"Head {head!r} has {n_nan} NaN predictions out of {p.size}; "
                "check the model output before computing metrics."
            )
        rows.append(
            {
                "head": head,
                "rows": int(y.size),
                "positives": int((y > 0.5).sum()),
                "auc": auc(y, p),
                "log_loss": log_loss(y, p),
                "calibration": calibration_ratio(y, p),
            }
        )
    return pd.DataFrame(rows, columns=list(HEAD_METRIC_COLUMNS))

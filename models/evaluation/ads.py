"""Offline metrics of Ads CTR scorers per chargeability head, calibration curves and the verdict
against the production ranker (paper §1, §17: calibration prices ads).

Every scorer gives each row its served probability p (the pCTR that prices the ad: the head of
the ad's own chargeability group, `models.ads_examples.served_probability`), and every row's
label y is its `chargeable_click`. A "head" is the set of rows its model head prices: the ads of
one chargeability group, plus "all" (every row). Per (scorer, head):

    AUC with its 95% DeLong interval (`segments.auc_interval`),
    log loss = −mean[y log p + (1 − y) log(1 − p)]       (p clipped to [1e−7, 1 − 1e−7]),
    ECE = Σ_b (n_b / n) |ȳ_b − p̄_b|                     (10 equal-width bins of p),
    observed / expected = Σ y / Σ p                      (1 = calibrated; > 1 under-predicts).

`ads_verdict` compares a model with the production ranker on the same rows, three paired
differences (model − production) with their intervals:

- "auc": DeLong's paired difference (`gate.paired_auc_difference`): the normal interval
  Δ ± z·SE with the paired variance, so the rows' shared difficulty cancels.
- "log_loss": the per-row difference d_i = ℓ_model,i − ℓ_prod,i, its mean over the N rows and a
  cluster-robust interval by session (rows of one session share a member and context):

      Δ = Σ_s D_s / N,   SE² = S/(S − 1) · Σ_s (D_s − n_s Δ)² / N²

  with D_s the sum of d_i over session s, n_s its rows, S the number of sessions.
- "ece": a bootstrap over sessions (200 resamples of the S sessions with replacement, seed 0;
  both scorers' ECE on the same resample), the percentile interval of the ECE difference. The
  point estimate is the difference on the rows as they are.

The verdict reads the interval: "wins" when it lies on the better side of 0 (above for AUC,
below for log loss and ECE), "loses" when it lies on the worse side, otherwise "no significant
difference".

NOT CONFIRMED by the paper (our decisions): the heads as rows of each group, the bins, the
cluster-robust log-loss interval and the bootstrap for ECE (the paper reports AUC and the O/E
ratio, no intervals).

Example:

    probs = {"model": served, "production": frame["ranker_pctr"].to_numpy()}
    ads_metrics(frame, probs)                               # one row per (scorer, head)
    ads_verdict(frame, served, frame["ranker_pctr"].to_numpy())
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm

from models.evaluation.gate import expected_calibration_error, paired_auc_difference
from models.evaluation.metrics import auc, calibration_ratio, log_loss
from models.evaluation.segments import auc_interval, calibration_curve
from spark.schemas import CHARGEABILITY_GROUPS

ALL_ROWS = "all"
ADS_HEADS_EVALUATED: tuple[str, ...] = (*CHARGEABILITY_GROUPS, ALL_ROWS)
ADS_METRIC_COLUMNS: tuple[str, ...] = (
    "scorer", "head", "rows", "positives", "auc", "auc_lo", "auc_hi", "log_loss", "ece",
    "observed_expected",
)  # fmt: skip
ADS_CALIBRATION_COLUMNS: tuple[str, ...] = (
    "scorer", "head", "bin", "mean_predicted", "observed_rate", "rows",
)  # fmt: skip
ADS_VERDICT_COLUMNS: tuple[str, ...] = (
    "product", "metric", "model_value", "production_value", "delta", "delta_lo", "delta_hi",
    "verdict",
)  # fmt: skip
HIGHER_IS_BETTER: dict[str, bool] = {"auc": True, "log_loss": False, "ece": False}
ECE_BINS = 10
BOOTSTRAP_RESAMPLES = 200
BOOTSTRAP_SEED = 0
EPS = 1e-7
WINS, LOSES, NO_DIFFERENCE = "wins", "loses", "no significant difference"


def ads_metrics(frame: pd.DataFrame, scorers: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """One row per (scorer, head) with `ADS_METRIC_COLUMNS` (module docstring: the formulas).

    Args:
        frame: `ads_examples` rows (`chargeability_group`, `chargeable_click`).
        scorers: name → served probability per row of `frame`, in [0, 1].

    Returns:
        scorers in the order given, heads in `ADS_HEADS_EVALUATED` order; AUC and its interval
        are NaN where a head lacks a class (or has too few rows of one), every metric NaN on a
        head without rows.

    Raises:
        ValueError: a missing column, bad labels, or a scorer not one finite probability a row.
    """
    labels, groups = _labels_and_groups(frame)
    out = []
    for name, probs in scorers.items():
        p = _checked_probs(name, probs, len(frame))
        for head, mask in _head_masks(groups):
            y, q = labels[mask], p[mask]
            value, low, high = auc_interval(y, q) if y.size else (math.nan,) * 3
            out.append(
                (
                    name,
                    head,
                    int(y.size),
                    int(y.sum()),
                    value,
                    low,
                    high,
                    log_loss(y, q, EPS),
                    expected_calibration_error(y, q, ECE_BINS),
                    calibration_ratio(y, q),
                )  # fmt: skip
            )
    return pd.DataFrame(out, columns=list(ADS_METRIC_COLUMNS))


def ads_calibration(
    frame: pd.DataFrame, scorers: Mapping[str, np.ndarray], bins: int = 10
) -> pd.DataFrame:
    """Reliability curves per (scorer, head): the head's rows sorted by p and cut into `bins`
    equal-count bins (`segments.calibration_curve`), `ADS_CALIBRATION_COLUMNS`; a head without
    rows has no bins."""
    labels, groups = _labels_and_groups(frame)
    frames = []
    for name, probs in scorers.items():
        p = _checked_probs(name, probs, len(frame))
        for head, mask in _head_masks(groups):
            if not mask.any():
                continue
            curve = calibration_curve(labels[mask], p[mask], bins)
            frames.append(curve.assign(scorer=name, head=head))
    if not frames:
        return pd.DataFrame(columns=list(ADS_CALIBRATION_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(ADS_CALIBRATION_COLUMNS)]


def ads_verdict(
    frame: pd.DataFrame, model: np.ndarray, production: np.ndarray, confidence: float = 0.95
) -> pd.DataFrame:
    """The model against the production ranker on every row: AUC, log loss and ECE, each with
    the paired difference's interval and a verdict (module docstring), `ADS_VERDICT_COLUMNS`.

    Raises:
        ValueError: `confidence` outside (0, 1), a missing column (`session_id` too), bad labels
            or probabilities.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1). Received: confidence={confidence}")
    labels, _ = _labels_and_groups(frame)
    if "session_id" not in frame.columns:
        raise ValueError(
            f"ads_verdict needs `session_id` to cluster rows by session. Received columns "
            f"{list(frame.columns)}"
        )
    sessions = pd.factorize(frame["session_id"])[0]
    p_model = _checked_probs("model", model, len(frame))
    p_prod = _checked_probs("production", production, len(frame))
    z = float(norm.ppf(0.5 + confidence / 2.0))

    rows = []
    delta, error = paired_auc_difference(labels, p_model, p_prod)
    rows.append(
        ("auc", auc(labels, p_model), auc(labels, p_prod), delta, delta - z * error,
         delta + z * error)
    )  # fmt: skip
    loss_delta, loss_error = clustered_mean_difference(
        _row_log_loss(labels, p_model) - _row_log_loss(labels, p_prod), sessions
    )
    rows.append(
        ("log_loss", log_loss(labels, p_model, EPS), log_loss(labels, p_prod, EPS), loss_delta,
         loss_delta - z * loss_error, loss_delta + z * loss_error)
    )  # fmt: skip
    ece_model = expected_calibration_error(labels, p_model, ECE_BINS)
    ece_prod = expected_calibration_error(labels, p_prod, ECE_BINS)
    low, high = bootstrap_ece_difference(labels, p_model, p_prod, sessions, confidence)
    rows.append(("ece", ece_model, ece_prod, ece_model - ece_prod, low, high))

    out = pd.DataFrame(rows, columns=list(ADS_VERDICT_COLUMNS[1:7]))
    out.insert(0, "product", "ads")
    out["verdict"] = [
        verdict(low, high, HIGHER_IS_BETTER[metric])
        for metric, low, high in zip(out["metric"], out["delta_lo"], out["delta_hi"], strict=True)
    ]
    return out[list(ADS_VERDICT_COLUMNS)]


def verdict(delta_lo: float, delta_hi: float, higher_is_better: bool) -> str:
    """The verdict: "wins" when the interval of model − production lies on the better side of 0,
    "loses" on the worse side, else "no significant difference" (also when it is NaN)."""
    if delta_lo > 0:
        return WINS if higher_is_better else LOSES
    if delta_hi < 0:
        return LOSES if higher_is_better else WINS
    return NO_DIFFERENCE


def clustered_mean_difference(differences: np.ndarray, clusters: np.ndarray) -> tuple[float, float]:
    """(mean of per-row differences, its cluster-robust standard error): module docstring.
    NaN error with fewer than two clusters."""
    d = np.asarray(differences, dtype=np.float64)
    if d.size == 0:
        return math.nan, math.nan
    codes = pd.factorize(np.asarray(clusters))[0]
    sums = np.bincount(codes, weights=d)
    counts = np.bincount(codes)
    mean = float(d.sum() / d.size)
    s = sums.size
    if s < 2:
        return mean, math.nan
    variance = s / (s - 1) * float(((sums - counts * mean) ** 2).sum()) / d.size**2
    return mean, math.sqrt(variance)


def bootstrap_ece_difference(
    labels: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    clusters: np.ndarray,
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile interval of ECE(a) − ECE(b) over `resamples` bootstrap resamples of the
    clusters (sessions) with replacement; a resample weights each row by how often its session
    was drawn. (NaN, NaN) with fewer than two clusters."""
    y = np.asarray(labels, dtype=np.float64)
    codes = pd.factorize(np.asarray(clusters))[0]
    s = int(codes.max()) + 1 if codes.size else 0
    if s < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    bins_a, bins_b = _ece_bins(probs_a), _ece_bins(probs_b)
    pa, pb = np.asarray(probs_a, np.float64), np.asarray(probs_b, np.float64)
    deltas = np.empty(resamples)
    for r in range(resamples):
        weights = np.bincount(rng.integers(0, s, s), minlength=s)[codes].astype(np.float64)
        deltas[r] = _weighted_ece(y, pa, bins_a, weights) - _weighted_ece(y, pb, bins_b, weights)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(deltas, [tail, 1.0 - tail])
    return float(low), float(high)


def _ece_bins(probs: np.ndarray) -> np.ndarray:
    """The equal-width bin of each probability, as `gate.expected_calibration_error` bins."""
    p = np.asarray(probs, dtype=np.float64)
    return np.clip((p * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)


def _weighted_ece(y: np.ndarray, p: np.ndarray, bins: np.ndarray, weights: np.ndarray) -> float:
    observed = np.bincount(bins, weights=weights * y, minlength=ECE_BINS)
    expected = np.bincount(bins, weights=weights * p, minlength=ECE_BINS)
    return float(np.abs(observed - expected).sum() / weights.sum())


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    q = np.clip(p, EPS, 1.0 - EPS)
    return -(y * np.log(q) + (1.0 - y) * np.log1p(-q))


def _head_masks(groups: np.ndarray):
    for head in CHARGEABILITY_GROUPS:
        yield head, groups == head
    yield ALL_ROWS, np.ones(groups.size, dtype=bool)


def _labels_and_groups(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("chargeability_group", "chargeable_click") if c not in frame.columns]
    if missing:
        raise ValueError(
            f"Ads evaluation rows are missing columns {missing}; pass `ads_examples` rows"
        )
    y = pd.to_numeric(frame["chargeable_click"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isin(y, (0.0, 1.0))
    if bad.any():
        raise ValueError(
            f"ads_examples.chargeable_click: {int(bad.sum())} rows are not 0/1 (e.g. "
            f"{sorted(set(frame['chargeable_click'][bad].astype(str)))[:5]}); pass "
            "ads_examples rows"
        )
    groups = frame["chargeability_group"].astype(str).to_numpy()
    unknown = ~np.isin(groups, CHARGEABILITY_GROUPS)
    if unknown.any():
        raise ValueError(
            f"ads_examples.chargeability_group: {int(unknown.sum())} rows outside "
            f"{CHARGEABILITY_GROUPS} (e.g. {sorted(set(groups[unknown]))[:5]})"
        )
    return y, groups


def _checked_probs(name: str, probs: np.ndarray, n: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.size != n:
        raise ValueError(
            f"scorer {name!r} gives {p.size} probabilities for {n} rows; need one a row"
        )
    bad = ~(np.isfinite(p) & (p >= 0.0) & (p <= 1.0))
    if bad.any():
        raise ValueError(
            f"scorer {name!r}: {int(bad.sum())} probabilities are not finite values in [0, 1] "
            f"(e.g. {p[bad][:5].tolist()}); pass sigmoid outputs, not logits"
        )
    return p

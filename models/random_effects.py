"""Per-ID random-effect (popularity / Root Object "RO Wide") model on the global model's residual.

Paper §8 (notes §8): a global model is combined with a random-effect model that gives each item its
own value reflecting its popularity; for volatile IDs the RO model learns the *residual* between
the main model's prediction and the labels and is retrained often. Combination:

    y_final = σ(logit(y_global) + b_id)

Reading [interp]: a GLMix-style per-ID logistic model with the global logit as a fixed offset
o_i = logit(y_global,i) and one scalar bias per ID under a Gaussian prior b ~ N(0, 1/λ):

    b_id = argmax_b  Σ_{i ∈ id} [y_i log σ(o_i + b) + (1 − y_i) log(1 − σ(o_i + b))] − (λ/2) b²

The objective is strictly concave for λ > 0, so each ID has a unique optimum. Newton's method on
all IDs at once (sums per ID by `np.bincount`):

    g_id = Σ_i (y_i − σ(o_i + b_id)) − λ b_id,   h_id = Σ_i σ(o_i + b_id)(1 − σ(o_i + b_id)) + λ
    b_id ← b_id + g_id / h_id

IDs with few rows have small Σσ(1−σ) relative to λ, so their effect shrinks toward 0 (the global
model's prediction stands); IDs with many rows get close to their unregularised residual.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

RANDOM_EFFECT_COLUMNS: tuple[str, ...] = ("id", "effect", "count")
# The paper's RO model uses the like and click labels, which have the best coverage (§8).
RANDOM_EFFECT_HEADS: tuple[str, ...] = ("click", "like")
_MAX_STEP = 4.0  # Newton steps are clipped so a far-off start cannot overshoot; still converges.


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def logits_from(probabilities: np.ndarray) -> np.ndarray:
    """logit(p) = log p − log(1 − p), p clipped to [1e-7, 1 − 1e-7]: the offsets of the effects."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def fit_random_effects(
    ids: np.ndarray,
    offsets: np.ndarray,
    labels: np.ndarray,
    l2: float = 1.0,
    iterations: int = 20,
    tol: float = 1e-8,
) -> pd.DataFrame:
    """Fit one scalar effect per ID on top of fixed offsets (the global model's logits).

    Args:
        ids: shape (n,), any hashable ID values (ints or strings).
        offsets: shape (n,), the global model's logit for each row.
        labels: shape (n,), 0/1 labels (the paper's RO model uses like and click labels).
        l2: λ > 0, the prior precision; larger shrinks effects harder toward 0.
        iterations: maximum Newton steps (each step is vectorised over all IDs).
        tol: stop when every ID's step is below this.

    Returns:
        DataFrame(id, effect, count), one row per distinct ID in order of first appearance.

    Example:
        >>> fx = fit_random_effects(np.array([7, 7, 8]), np.zeros(3), np.array([1, 1, 0]))
        >>> apply_random_effects(np.array([7, 9]), np.zeros(2), fx)  # 9 is unknown → 0
    """
    if not l2 > 0:
        raise ValueError(f"`l2` must be positive. Received: l2={l2}")
    if iterations < 1:
        raise ValueError(f"`iterations` must be at least 1. Received: iterations={iterations}")
    ids = np.asarray(ids).ravel()
    o = np.asarray(offsets, dtype=np.float64).ravel()
    y = np.asarray(labels, dtype=np.float64).ravel()
    if not ids.shape == o.shape == y.shape:
        raise ValueError(
            "ids, offsets and labels must have the same length. Received: "
            f"ids.shape={ids.shape}, offsets.shape={o.shape}, labels.shape={y.shape}"
        )
    if not np.all(np.isfinite(o)):
        raise ValueError(f"offsets has {int((~np.isfinite(o)).sum())} non-finite values")
    codes, uniques = pd.factorize(ids, sort=False)
    k = len(uniques)
    counts = np.bincount(codes, minlength=k)
    b = np.zeros(k)
    y_sum = np.bincount(codes, weights=y, minlength=k)
    for _ in range(iterations):
        p = _sigmoid(o + b[codes])
        grad = y_sum - np.bincount(codes, weights=p, minlength=k) - l2 * b
        hess = np.bincount(codes, weights=p * (1.0 - p), minlength=k) + l2
        step = np.clip(grad / hess, -_MAX_STEP, _MAX_STEP)
        b += step
        if k == 0 or np.max(np.abs(step)) < tol:
            break
    return pd.DataFrame({"id": uniques, "effect": b, "count": counts.astype(np.int64)})


def apply_random_effects(ids: np.ndarray, logits: np.ndarray, effects: pd.DataFrame) -> np.ndarray:
    """Add each row's ID effect to the global logit: logit + b_id (b = 0 for unknown IDs).

    Apply σ to the result for y_final = σ(logit(y_global) + b_id).
    """
    missing = [c for c in RANDOM_EFFECT_COLUMNS[:2] if c not in effects.columns]
    if missing:
        raise ValueError(
            f"effects is missing column(s) {missing}; expected {RANDOM_EFFECT_COLUMNS}"
        )
    ids = np.asarray(ids).ravel()
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ravel().shape != ids.shape:
        raise ValueError(
            f"ids and logits must have the same length. Received: ids.shape={ids.shape}, "
            f"logits.shape={logits.shape}"
        )
    lookup = pd.Series(effects["effect"].to_numpy(dtype=np.float64), index=effects["id"])
    lookup = lookup[~lookup.index.duplicated(keep="last")]
    b = lookup.reindex(ids).fillna(0.0).to_numpy()
    return logits + b.reshape(logits.shape)

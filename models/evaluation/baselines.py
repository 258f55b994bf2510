"""Non-personalised baseline scorer: the smoothed per-ID positive rate (item popularity).

The bar every personalised ranker must clear in the offline metrics and the replay metric (§15).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def popularity_scores(
    train_ids: np.ndarray,
    train_labels: np.ndarray,
    eval_ids: np.ndarray,
    prior_strength: float = 20.0,
) -> np.ndarray:
    """Beta-smoothed positive rate per ID, looked up for `eval_ids`:

        score(id) = (pos_id + α · ȳ) / (n_id + α)

    where ȳ is the overall training rate and α = `prior_strength` (a Beta prior worth α pseudo-rows
    at the mean). Unseen IDs score ȳ.

    Args:
        train_ids: shape (n,), IDs of training rows.
        train_labels: shape (n,), 0/1 labels.
        eval_ids: shape (m,), IDs to score.
        prior_strength: α ≥ 0.

    Returns:
        float64 array of shape (m,), probabilities in [0, 1].
    """
    if not prior_strength >= 0:
        raise ValueError(
            f"`prior_strength` must be >= 0. Received: prior_strength={prior_strength}"
        )
    ids = np.asarray(train_ids).ravel()
    y = np.asarray(train_labels, dtype=np.float64).ravel()
    if ids.shape != y.shape:
        raise ValueError(
            "train_ids and train_labels must have the same length. "
            f"Received: train_ids.shape={ids.shape}, train_labels.shape={y.shape}"
        )
    eval_ids = np.asarray(eval_ids).ravel()
    if y.size == 0:
        raise ValueError("popularity_scores needs at least one training row")
    mean = float(y.mean())
    grouped = pd.DataFrame({"id": ids, "y": y}).groupby("id", sort=False)["y"].agg(["sum", "count"])
    smoothed = (grouped["sum"] + prior_strength * mean) / (grouped["count"] + prior_strength)
    return smoothed.reindex(eval_ids).fillna(mean).to_numpy(dtype=np.float64)

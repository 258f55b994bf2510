"""The day's model scores: feed-model probabilities per head plus the per-post random effects."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from models.feed import feed_inputs, predict_probabilities
from models.inputs.spec import with_position
from models.random_effects import RANDOM_EFFECT_HEADS, apply_random_effects, logits_from


def read_partition(path: Path) -> pd.DataFrame:
    """An upstream Parquet partition as pandas.

    Raises:
        FileNotFoundError: `path` does not exist (named, with what to do).
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"missing upstream partition {path}; materialize it first")
    return pd.read_parquet(path)


def model_probabilities(
    model: keras.Model, effects_dir: Path | None, rows: pd.DataFrame, rank_at_top: bool
) -> dict[str, np.ndarray]:
    """Per-head probabilities of the global model with the per-post random effects added to the
    logits of `RANDOM_EFFECT_HEADS`: y = σ(logit(y_global) + b_post) (paper §8).

    Args:
        model: the day's feed model.
        effects_dir: the day's `popularity_random_effects` partition (post_id, head, effect);
            None scores the global model alone.
        rows: the examples to score.
        rank_at_top: score every row at position 0 (position debiasing, for ranking).

    Returns:
        head → float32 probabilities, one per row of `rows`.
    """
    inputs = feed_inputs(rows, model.config)
    if rank_at_top:
        inputs = with_position(inputs, 0)
    probabilities = predict_probabilities(model, inputs)
    if effects_dir is None:
        return probabilities
    effects = read_partition(effects_dir)
    post_ids = rows["post_id"].to_numpy()
    for head in RANDOM_EFFECT_HEADS:
        head_effects = effects[effects["head"] == head].rename(columns={"post_id": "id"})
        logits = apply_random_effects(post_ids, logits_from(probabilities[head]), head_effects)
        probabilities[head] = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return probabilities

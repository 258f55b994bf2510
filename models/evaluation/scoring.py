"""The day's model scores: feed-model probabilities per head plus the windowed post and author
random effects (`models.popularity`)."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from models.feed import feed_inputs, predict_probabilities
from models.inputs.spec import with_position
from models.popularity import apply_day_effects


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
    """Per-head probabilities of the global model with the windowed random effects added to the
    logits of `RANDOM_EFFECT_HEADS`: y = σ(logit(y_global) + b_post + b_author) (paper §8), each
    row by the effects of the window before its `hour` (`models.popularity`).

    Args:
        model: the feed model that ranks the day.
        effects_dir: the scored day's `windowed_random_effects` partition
            (`models.popularity.EFFECT_COLUMNS`), fit for `model`; None scores the global model
            alone.
        rows: the scored day's examples (with `hour`, `post_id`, `author_id`).
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
    return apply_day_effects(read_partition(effects_dir), rows, probabilities)

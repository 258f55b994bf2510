"""Z(x) for the last-layer posterior: the input of the final score's heads' last layer, plus 1.

The feed model's final score ranks by its contribution heads (`FeedModelConfig.final_score`);
their logits are the last (linear) layer of the towers that hold them, so Z(x) is those towers'
last hidden outputs h_L, concatenated (`FeedModel.last_layer_inputs`), with a constant 1 appended
for the intercept. Paper §7: the ranker itself provides Z, no separate representation network.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from keras import ops

from models.feed import feed_inputs
from models.inputs.spec import INPUT_KEYS, with_position


def score_heads(model) -> tuple[str, ...]:
    """The heads the model's final score weights (non-zero weights)."""
    return tuple(head for head, weight in model.config.final_score.weights if weight != 0)


def last_layer_features(
    model, rows: pd.DataFrame, *, rank_at_top: bool, batch_size: int = 4096
) -> np.ndarray:
    """[h_L(x), 1] of every row (n, d + 1), float64.

    Args:
        model: a `FeedModel`.
        rows: `TRAINING_EXAMPLE` rows (training examples, replay candidates or a slate).
        rank_at_top: every row at position 0 (ranking); False keeps the logged positions (the
            posterior's update, whose labels were earned at those positions).
    """
    inputs = feed_inputs(rows, model.config)
    if rank_at_top:
        inputs = with_position(inputs, 0)
    heads = score_heads(model)
    n = len(inputs["dense"])
    parts = []
    for start in range(0, n, batch_size):
        batch = {key: np.asarray(inputs[key])[start : start + batch_size] for key in INPUT_KEYS}
        parts.append(ops.convert_to_numpy(model.last_layer_inputs(batch, heads)))
    z = np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 1))
    return np.column_stack([z, np.ones(len(z))])

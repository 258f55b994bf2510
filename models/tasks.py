"""The multi-task ranking task shared by the Feed, Ads and Jobs models: losses, weights, metrics.

TF Recommenders' model/task split: a model maps inputs to ``{head: logit}`` and imports no losses
or metrics; its task object says how those logits are trained and judged. Every family here is a
set of binary heads, trained on the weighted sum of the per-head mean cross-entropies:

    L = Σ_h w_h · mean_i BCE(y_ih, z_ih),   BCE(y, z) = max(z, 0) - z·y + log(1 + e^{-|z|})

computed from the logits z (numerically stable for any z). The paper combines the head losses
without giving weights (NOT CONFIRMED): 1.0 each by default (paper §1, §9: equal-weighted sum).

Example:

    tasks = RankingTasks(("click", "like"))
    loss = tasks.loss(model(inputs), labels)               # a scalar tensor
    model.compile(optimizer="adam", **tasks.compile_arguments())
    tasks.metrics(probabilities, labels)                   # one row per head: AUC, log loss, ...
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import keras
import numpy as np
import pandas as pd
from keras import ops


@keras.saving.register_keras_serializable(package="lirank")
def binary_cross_entropy_from_logits(labels, logits):
    """Per-example BCE(y, z) = max(z, 0) - z·y + log(1 + e^{-|z|}), stable for any logit z."""
    z = ops.cast(logits, "float32")
    y = ops.cast(labels, "float32")
    return ops.maximum(z, 0.0) - z * y + ops.log1p(ops.exp(-ops.abs(z)))


@dataclasses.dataclass(frozen=True)
class RankingTasks:
    """Multi-task binary cross-entropy on logits: L = Σ_h w_h · mean_i BCE(y_ih, z_ih).

    Args:
        heads: the model's output keys, each once.
        weights: one finite non-negative weight per head (default 1.0 each).
    """

    heads: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        heads = tuple(self.heads)
        if not heads or len(set(heads)) != len(heads):
            raise ValueError(f"`heads` must be distinct names, at least one. Received: {heads}")
        weights = self.weights if self.weights is not None else (1.0,) * len(heads)
        weights = tuple(float(w) for w in weights)
        if len(weights) != len(heads) or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(
                f"`weights` must be one finite non-negative weight per head {heads}. "
                f"Received: weights={self.weights}"
            )
        object.__setattr__(self, "heads", heads)
        object.__setattr__(self, "weights", weights)

    def loss(self, logits: Mapping, labels: Mapping):
        """Σ_h w_h · mean_i BCE(labels[h], logits[h]) (a scalar tensor)."""
        total = 0.0
        for head, weight in zip(self.heads, self.weights, strict=True):
            total = total + weight * ops.mean(
                binary_cross_entropy_from_logits(labels[head], logits[head])
            )
        return total

    def compile_arguments(self) -> dict:
        """`loss` and `loss_weights` for `model.compile`, keyed by head (the loss of `loss`)."""
        return {
            "loss": {head: binary_cross_entropy_from_logits for head in self.heads},
            "loss_weights": dict(zip(self.heads, self.weights, strict=True)),
        }

    def metrics(
        self, probabilities: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]
    ) -> pd.DataFrame:
        """One row per head: rows, positives, AUC, log loss, calibration (`head_metrics`)."""
        from models.evaluation.metrics import head_metrics

        missing = [head for head in self.heads if head not in probabilities]
        if missing:
            raise ValueError(f"probabilities are missing the heads {missing}")
        return head_metrics(labels, {head: probabilities[head] for head in self.heads})

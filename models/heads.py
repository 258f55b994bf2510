"""Per-task heads and the multi-task binary task shared by the Ads and Jobs models.

`CrossMLPHead` is the task-specific top of both models (paper §1): an optional low-rank DCNv2
cross stack over the shared features, an MLP, and one logit. `BinaryTasks` holds what training
needs (losses, head weights) so the model classes import no losses or metrics (TF Recommenders
model/task split).
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import ops

from models.layers.cross import LowRankCross, check_projection_dim


@keras.saving.register_keras_serializable(package="lirank")
class CrossMLPHead(keras.layers.Layer):
    """One task's head: [batch, d] -> logit [batch].

        x_{l+1} = x₀ ⊙ (U_l V_lᵀ x_l + b_l) + x_l     (l < cross_layers; DCNv2, paper §2)
        h = MLP_relu(x_L),   logit = wᵀh + b

    Args:
        units: hidden units of the MLP (may be empty: the logit reads x_L directly).
        cross_layers: DCNv2 layers before the MLP; 0 gives a plain MLP head.
        projection_dim: rank r of the cross layers.
        **kwargs: standard `keras.layers.Layer` arguments.
    """

    def __init__(
        self, units: tuple[int, ...], cross_layers: int, projection_dim: int, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if any(int(u) <= 0 for u in units):
            raise ValueError(f"`units` must be positive integers. Received: units={units}")
        if cross_layers < 0:
            raise ValueError(f"`cross_layers` must be >= 0. Received: cross_layers={cross_layers}")
        check_projection_dim(projection_dim, allow_none=False)
        self.units = tuple(int(u) for u in units)
        self.cross_layers = int(cross_layers)
        self.projection_dim = int(projection_dim)
        self.crosses = [
            LowRankCross(projection_dim=self.projection_dim, name=f"cross_{i}")
            for i in range(self.cross_layers)
        ]
        self.hidden = [
            keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
            for i, u in enumerate(self.units)
        ]
        self.logit = keras.layers.Dense(1, name="logit")

    def build(self, input_shape) -> None:
        width = input_shape[-1]
        for layer in self.crosses:
            layer.build((None, width), (None, width))
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.units
        self.logit.build((None, width))

    def call(self, x0):
        x = x0
        for layer in self.crosses:
            x = layer(x0, x)
        for layer in self.hidden:
            x = layer(x)
        return ops.squeeze(self.logit(x), axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": list(self.units),
            "cross_layers": self.cross_layers,
            "projection_dim": self.projection_dim,
        }


@dataclasses.dataclass(frozen=True)
class BinaryTasks:
    """Multi-task binary cross-entropy on logits: L = Σ_h w_h · BCE(y_h, σ(logit_h)).

    The paper combines the head losses without giving weights (NOT CONFIRMED); 1.0 each by
    default. `compile_arguments()` plugs into `model.compile`.

    Args:
        heads: the model's output keys.
        weights: one weight per head (default 1.0 each).
    """

    heads: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not self.heads:
            raise ValueError("`heads` must name at least one head. Received: heads=()")
        weights = self.weights if self.weights is not None else (1.0,) * len(self.heads)
        weights = tuple(float(w) for w in weights)
        if len(weights) != len(self.heads) or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(
                f"`weights` must be one finite non-negative weight per head {self.heads}. "
                f"Received: weights={self.weights}"
            )
        object.__setattr__(self, "heads", tuple(self.heads))
        object.__setattr__(self, "weights", weights)

    def compile_arguments(self) -> dict:
        """`loss` and `loss_weights` for `model.compile`, keyed by head."""
        return {
            "loss": {h: keras.losses.BinaryCrossentropy(from_logits=True) for h in self.heads},
            "loss_weights": dict(zip(self.heads, self.weights, strict=True)),
        }

    def loss(self, logits, labels):
        """Σ_h w_h · mean BCE of head h (a scalar tensor)."""
        total = 0.0
        for head, weight in zip(self.heads, self.weights, strict=True):
            per_example = keras.losses.binary_crossentropy(
                ops.cast(ops.expand_dims(labels[head], -1), "float32"),
                ops.expand_dims(logits[head], -1),
                from_logits=True,
            )
            total = total + weight * ops.mean(per_example)
        return total

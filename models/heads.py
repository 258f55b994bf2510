"""The per-task head of the Ads and Jobs models.

`CrossMLPHead` is the task-specific top of both models (paper §1): an optional low-rank DCNv2
cross stack over the shared features, an MLP, and one logit. How the heads are trained (losses,
head weights, metrics) is the task object's business, `models.tasks.RankingTasks`.
"""

from __future__ import annotations

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

"""Task towers of the feed model: an MLP with one logit per head (paper §1, §4, §9).

    h_0 = x,  h_{l+1} = g_l(ReLU(W_l h_l + b_l)),  logit_h = w_hᵀ h_L + b_h

with g_l the identity, or with `gated=True` the Dense Gating of paper §4 (`GatedMLP`):
g_l(h) = h ⊙ σ(W_g h + b_g). Production splits the heads over a click tower and a contribution
tower (paper §1); `FeedModelConfig.task_grouping` picks the split (`TASK_GROUPINGS`). For the
paper's large MLP ("LMLP", §3.5) use `units=LARGE_TOWER_UNITS`.

Example:

    tower = Tower(units=(100, 100), heads=("click", "long_dwell"), gated=True, name="click_tower")
    logits = tower(features)                                 # {"click": [b], "long_dwell": [b]}
"""

from __future__ import annotations

import keras

from models.layers.dense_gating import GatedMLP

# paper §3.5 "LMLP": the largest offline Feed MLP, 4 layers × 3500 units (`--tower-units large`)
LARGE_TOWER_UNITS: tuple[int, ...] = (3500, 3500, 3500, 3500)


@keras.saving.register_keras_serializable(package="lirank")
class Tower(keras.layers.Layer):
    """MLP with one logit per head: [batch, d] -> {head: [batch]}.

    Args:
        units: hidden units per layer (paper §1 base: 4 × 100).
        heads: the heads this tower predicts, in the order of its logits.
        gated: Dense Gating on every hidden layer (paper §4).
    """

    def __init__(
        self, units: tuple[int, ...], heads: tuple[str, ...], gated: bool = False, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not units or any(int(u) <= 0 for u in units):
            raise ValueError(f"`units` must be positive integers. Received: units={units}")
        if not heads:
            raise ValueError("`heads` must name at least one head. Received: heads=()")
        self.units = tuple(int(u) for u in units)
        self.heads = tuple(heads)
        self.gated = bool(gated)
        if self.gated:
            self.hidden = [GatedMLP(units=self.units, gated=True, name="hidden")]
        else:
            self.hidden = [
                keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
                for i, u in enumerate(self.units)
            ]
        self.logits = keras.layers.Dense(len(self.heads), name="logits")

    def build(self, input_shape) -> None:
        width = input_shape[-1]
        for layer in self.hidden:
            layer.build((None, width))
            width = layer.compute_output_shape((None, width))[-1]
        self.logits.build((None, width))

    def call(self, x):
        logits = self.logits(self.hidden_output(x))
        return {head: logits[:, i] for i, head in enumerate(self.heads)}

    def hidden_output(self, x):
        """h_L: the last hidden layer's output, the input of the logits layer."""
        for layer in self.hidden:
            x = layer(x)
        return x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": list(self.units),
            "heads": list(self.heads),
            "gated": self.gated,
        }


# tower -> whether the hidden layers of every tower are gated
TOWERS: dict[str, bool] = {
    "mlp": False,
    "gated": True,
}

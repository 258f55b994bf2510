"""Dense side of the feed model: frozen z-normalization and the history-affinity columns (paper §1).

    x̂ = (x - μ) / sqrt(σ² + ε)

μ and σ² are constants computed from the training examples (`dense_moments`) and frozen in the
config (paper §1 uses distribution-normalized dense features; frozen constants rather than
batch-norm moving statistics, which would differ between Horovod ranks). The affinity block
(`AFFINITY_ARCHS`) adds the candidate-in-history counts of `models.inputs.spec`, unnormalized.

Option (`DENSE_NORMALIZATIONS`, paper §16: "batch norm on numeric input features", following
TransAct): normalization="batch_norm" follows the frozen z-normalization with batch
normalization,

    y = γ · (x̂ − μ_B) / sqrt(σ²_B + ε) + β

with the batch's moments μ_B, σ²_B in training and moving averages at inference, and learned γ, β.
Decision: it comes after (not instead of) the frozen step, so its inputs are already near zero
mean and unit variance and its moving averages start close to the truth (a model scored early,
or a rank with few steps, is not thrown off by the raw scales). Under Horovod the moving
averages are per rank (not synchronized batch norm): rank 0's are saved; γ and β are averaged
like every trainable weight.

Example:

    dense_arch = DenseArch(mean=(1.0, 0.0), variance=(4.0, 0.25))
    normalized = dense_arch(dense)                           # [b, 2]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from models.inputs.spec import AFFINITY_FEATURES

_EPSILON = 1e-6
DENSE_NORMALIZATIONS: tuple[str, ...] = ("frozen", "batch_norm")


@keras.saving.register_keras_serializable(package="lirank")
class DenseArch(keras.layers.Layer):
    """Frozen z-normalization of the dense features: [batch, k] -> [batch, k].

        x̂ = (x - μ) / sqrt(σ² + ε)

    μ and σ² are config constants, so every replica and every serving host normalizes alike.

    Args:
        mean: μ, one per column.
        variance: σ², one per column (non-negative).
        epsilon: ε.
        normalization: "frozen" (the z-normalization alone) or "batch_norm" (then batch
            normalization; see the module docstring).
    """

    def __init__(
        self,
        mean: tuple[float, ...],
        variance: tuple[float, ...],
        epsilon: float = _EPSILON,
        normalization: str = "frozen",
        **kw,
    ) -> None:
        super().__init__(**kw)
        if normalization not in DENSE_NORMALIZATIONS:
            raise ValueError(
                f"`normalization` must be one of {DENSE_NORMALIZATIONS}. Received: "
                f"normalization={normalization!r}"
            )
        self.normalization = normalization
        self.batch_norm = (
            keras.layers.BatchNormalization(name="batch_norm")
            if normalization == "batch_norm"
            else None
        )
        if len(mean) != len(variance):
            raise ValueError(
                f"`mean` and `variance` must have the same length. Received: {mean}, {variance}"
            )
        self.mean = tuple(float(m) for m in mean)
        self.variance = tuple(float(v) for v in variance)
        self.epsilon = float(epsilon)

    def build(self, input_shape) -> None:
        if self.batch_norm is not None:
            self.batch_norm.build(input_shape)

    def call(self, dense, training=None):
        mean = ops.convert_to_tensor(np.asarray(self.mean, dtype="float32"))
        scale = ops.convert_to_tensor(
            1.0 / np.sqrt(np.asarray(self.variance, dtype="float64") + self.epsilon)
        )
        normalized = (ops.cast(dense, "float32") - mean) * ops.cast(scale, "float32")
        if self.batch_norm is not None:
            normalized = self.batch_norm(normalized, training=training)
        return normalized

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "mean": list(self.mean),
            "variance": list(self.variance),
            "epsilon": self.epsilon,
            "normalization": self.normalization,
        }


def _no_affinity(affinity) -> list:
    return []


def _log_counts(affinity) -> list:
    return [ops.cast(affinity, "float32")]


# affinity -> (dense columns added to the tower input, function of the `affinity` input array)
AFFINITY_ARCHS = {
    "none": (0, _no_affinity),
    "log_counts": (len(AFFINITY_FEATURES), _log_counts),
}

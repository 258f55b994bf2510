"""Low-rank DCNv2 cross layer (the building block of LiRank's Residual DCN, paper-notes §2)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.layers.initializers import fresh_initializer


def check_projection_dim(projection_dim: int | None, *, allow_none: bool) -> None:
    """Raises `ValueError` unless `projection_dim` is a positive int (or None when allowed)."""
    if projection_dim is None and allow_none:
        return
    if (
        isinstance(projection_dim, bool)
        or not isinstance(projection_dim, int)
        or projection_dim <= 0
    ):
        raise ValueError(
            "`projection_dim` must be a positive integer. "
            f"Received: projection_dim={projection_dim}"
        )


@keras.saving.register_keras_serializable(package="lirank")
class LowRankCross(keras.layers.Layer):
    """DCNv2 cross layer with a low-rank kernel (DCNv2 Eq. 1 with W = U Vᵀ; LiRank §3.3).

    For the base input x₀ and the previous layer's output x_l (x_l = x₀ for the first layer):

        x_{l+1} = x₀ ⊙ (U (Vᵀ x_l) + b) + x_l

    with V ∈ ℝ^{d×r} (`down_kernel`), U ∈ ℝ^{r×d} (`up_kernel`) and b ∈ ℝ^d. With
    `projection_dim=None` the full-rank kernel W ∈ ℝ^{d×d} is used instead (x₀ ⊙ (W x_l + b) + x_l),
    for comparison. A low-rank layer has 2·d·r + d parameters against d² + d for full rank.

    Args:
        projection_dim: rank r of the factorization, a positive int, or None for full rank.
        use_bias: whether to add the bias b.
        kernel_initializer: initializer for U and V (or W).
        bias_initializer: initializer for b.
        kernel_regularizer: optional regularizer for U and V (or W).
        bias_regularizer: optional regularizer for b.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Input shape:
        `x0`: [batch, d]; optional `x`: [batch, d] (defaults to `x0`).

    Output shape:
        [batch, d].

    Example:

    ```python
    x0 = keras.Input((16,))
    x1 = LowRankCross(projection_dim=4)(x0)
    x2 = LowRankCross(projection_dim=4)(x0, x1)
    ```
    """

    def __init__(
        self,
        projection_dim: int | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_projection_dim(projection_dim, allow_none=True)
        self.projection_dim = projection_dim
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.supports_masking = False

    def build(self, x0_shape: tuple, x_shape: tuple | None = None) -> None:
        dim = x0_shape[-1]
        if dim is None:
            raise ValueError(f"The last axis of `x0` must be known. Received: x0_shape={x0_shape}")
        if x_shape is not None and x_shape[-1] != dim:
            raise ValueError(
                f"`x0` and `x` must have the same last axis. Received: x0_shape={x0_shape}, "
                f"x_shape={x_shape}"
            )
        kernel_args = {"regularizer": self.kernel_regularizer}
        if self.projection_dim is None:
            self.kernel = self.add_weight(
                name="kernel",
                shape=(dim, dim),
                initializer=fresh_initializer(self.kernel_initializer, 0),
                **kernel_args,
            )
        else:
            self.down_kernel = self.add_weight(
                name="down_kernel",
                shape=(dim, self.projection_dim),
                initializer=fresh_initializer(self.kernel_initializer, 0),
                **kernel_args,
            )
            self.up_kernel = self.add_weight(
                name="up_kernel",
                shape=(self.projection_dim, dim),
                initializer=fresh_initializer(self.kernel_initializer, 1),
                **kernel_args,
            )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(dim,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )

    def call(self, x0: Any, x: Any = None) -> Any:
        if x is None:
            x = x0
        if self.projection_dim is None:
            prod = ops.matmul(x, self.kernel)
        else:
            prod = ops.matmul(ops.matmul(x, self.down_kernel), self.up_kernel)
        if self.use_bias:
            prod = prod + self.bias
        return x0 * prod + x

    def compute_output_shape(self, x0_shape: tuple, x_shape: tuple | None = None) -> tuple:
        return tuple(x0_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config

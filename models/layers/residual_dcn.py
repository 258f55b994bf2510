"""Residual DCN: a low-rank cross net in parallel with an attention low-rank cross net (§2)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.layers.cross import LowRankCross, check_projection_dim
from models.layers.initializers import fresh_initializer

SKIP_CONNECTIONS = ("value", "none")
SOFTMAX_AXES = ("row", "column")
SCORE_OVERRIDES = (None, "identity")
MERGES = ("sum", "concat")


def attention_scores(q: Any, k: Any, temperature: float, softmax_axis: str = "row") -> Any:
    """A = softmax(q kᵀ / (τ·√r)) for q, k ∈ ℝ^{batch×r}; returns [batch, r, r].

    `softmax_axis="row"` normalizes each row (over keys j: Σ_j A_ij = 1, the usual
    self-attention choice); `"column"` normalizes each column (over queries i).
    """
    rank = q.shape[-1]
    logits = q[:, :, None] * k[:, None, :] / (temperature * float(rank) ** 0.5)
    return ops.softmax(logits, axis=-1 if softmax_axis == "row" else -2)


def identity_scores(q: Any) -> Any:
    """The identity score matrix [batch, r, r], under which the branch is a plain low-rank cross."""
    rank = q.shape[-1]
    return ops.zeros_like(q)[:, :, None] + ops.eye(rank, dtype=q.dtype)[None, :, :]


def mix_values(scores: Any, v: Any) -> Any:
    """(A v)_i = Σ_j A_ij v_j for A [batch, r, r] and v [batch, r]."""
    return ops.sum(scores * v[:, None, :], axis=-1)


@keras.saving.register_keras_serializable(package="lirank")
class AttentionLowRankCross(keras.layers.Layer):
    """Low-rank cross layer with an attention score matrix between Vᵀ and U (LiRank §3.3).

    The low-rank down-projection is triplicated (separate kernels V_Q, V_K, V_V):

        q = V_Qᵀ x_l,  k = V_Kᵀ x_l,  v = V_Vᵀ x_l            (each in ℝ^r)
        A = softmax_row(q kᵀ / (τ·√r))                         (r × r)
        x_{l+1} = x₀ ⊙ (U (A v + v·skip) + b) + x_l

    With A = I and `skip_connection="none"` this is exactly `LowRankCross` with V = V_V
    (`score_override="identity"` forces A = I; the tests prove the reduction bit for bit).
    With the value skip, A = I gives U(2v): a `LowRankCross` whose U is doubled.

    Design choices the paper leaves open (paper-notes §2, all NOT CONFIRMED):
        * skip location: `skip_connection="value"` (default) adds v after the attention mix,
          so the branch always keeps the plain low-rank path; `"none"` drops it.
        * softmax axis: `softmax_axis="row"` (default, Σ_j A_ij = 1) or `"column"`.
        * temperature: a fixed `temperature` τ > 0 (default 1.0) dividing the scores on top of √r;
          large τ flattens A towards uniform mixing, small τ sharpens it.
        * x is one flat vector (not tokenized into feature fields), hence an r×r outer-product
          score matrix.

    Args:
        projection_dim: rank r, a positive int.
        temperature: τ > 0.
        skip_connection: "value" or "none".
        softmax_axis: "row" or "column".
        score_override: None (learned attention) or "identity".
        use_bias: whether to add b.
        kernel_initializer: initializer for V_Q, V_K, V_V and U.
        bias_initializer: initializer for b.
        kernel_regularizer: optional regularizer for the kernels.
        bias_regularizer: optional regularizer for b.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `x0`: [batch, d]; optional `x`: [batch, d] (defaults to `x0`).

    Output shape:
        [batch, d].

    Example:

    ```python
    x0 = keras.Input((16,))
    y = AttentionLowRankCross(projection_dim=4, temperature=2.0)(x0)
    ```
    """

    def __init__(
        self,
        projection_dim: int,
        temperature: float = 1.0,
        skip_connection: str = "value",
        softmax_axis: str = "row",
        score_override: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_projection_dim(projection_dim, allow_none=False)
        if not temperature > 0:
            raise ValueError(f"`temperature` must be positive. Received: temperature={temperature}")
        _check_choice("skip_connection", skip_connection, SKIP_CONNECTIONS)
        _check_choice("softmax_axis", softmax_axis, SOFTMAX_AXES)
        _check_choice("score_override", score_override, SCORE_OVERRIDES)
        self.projection_dim = projection_dim
        self.temperature = float(temperature)
        self.skip_connection = skip_connection
        self.softmax_axis = softmax_axis
        self.score_override = score_override
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def build(self, x0_shape: tuple, x_shape: tuple | None = None) -> None:
        dim, rank = x0_shape[-1], self.projection_dim
        self.query_kernel = self._kernel("query_kernel", (dim, rank), 0)
        self.key_kernel = self._kernel("key_kernel", (dim, rank), 1)
        self.value_kernel = self._kernel("value_kernel", (dim, rank), 2)
        self.up_kernel = self._kernel("up_kernel", (rank, dim), 3)
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(dim,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
            )

    def _kernel(self, name: str, shape: tuple, offset: int) -> keras.Variable:
        return self.add_weight(
            name=name,
            shape=shape,
            initializer=fresh_initializer(self.kernel_initializer, offset),
            regularizer=self.kernel_regularizer,
        )

    def call(self, x0: Any, x: Any = None) -> Any:
        if x is None:
            x = x0
        v = ops.matmul(x, self.value_kernel)
        if self.score_override == "identity":
            scores = identity_scores(v)
        else:
            q = ops.matmul(x, self.query_kernel)
            k = ops.matmul(x, self.key_kernel)
            scores = attention_scores(q, k, self.temperature, self.softmax_axis)
        mixed = mix_values(scores, v)
        if self.skip_connection == "value":
            mixed = mixed + v
        prod = ops.matmul(mixed, self.up_kernel)
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
                "temperature": self.temperature,
                "skip_connection": self.skip_connection,
                "softmax_axis": self.softmax_axis,
                "score_override": self.score_override,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="lirank")
class ResidualDCN(keras.layers.Layer):
    """Residual DCN (LiRank §3.3, Table 6 "RDCN"): two cross stacks in parallel on x₀.

        low-rank branch:   x^c_{l+1} = LowRankCross(x₀, x^c_l)
        attention branch:  x^a_{l+1} = AttentionLowRankCross(x₀, x^a_l)
        output = x^c_L + x^a_L      (merge="sum")   or   [x^c_L ; x^a_L]   (merge="concat")

    How the branches merge is NOT CONFIRMED by the paper; "sum" (default) keeps the width d,
    "concat" doubles it. Each branch has `num_layers` layers (the paper found 2 enough).

    Args:
        projection_dim: rank r shared by both branches, a positive int.
        num_layers: layers per branch, a positive int (default 2).
        merge: "sum" or "concat".
        temperature, skip_connection, softmax_axis, score_override: passed to every
            `AttentionLowRankCross` (see there).
        use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer:
            passed to every cross layer of both branches.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        [batch, d].

    Output shape:
        [batch, d] for "sum", [batch, 2·d] for "concat".

    Example:

    ```python
    x0 = keras.Input((64,))
    crossed = ResidualDCN(projection_dim=16, num_layers=2)(x0)
    logits = keras.layers.Dense(1)(crossed)
    ```
    """

    def __init__(
        self,
        projection_dim: int,
        num_layers: int = 2,
        merge: str = "sum",
        temperature: float = 1.0,
        skip_connection: str = "value",
        softmax_axis: str = "row",
        score_override: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers <= 0:
            raise ValueError(
                f"`num_layers` must be a positive integer. Received: num_layers={num_layers}"
            )
        _check_choice("merge", merge, MERGES)
        self.projection_dim = projection_dim
        self.num_layers = num_layers
        self.merge = merge
        self.temperature = temperature
        self.skip_connection = skip_connection
        self.softmax_axis = softmax_axis
        self.score_override = score_override
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        shared = {
            "projection_dim": projection_dim,
            "use_bias": use_bias,
            "bias_initializer": bias_initializer,
            "kernel_regularizer": kernel_regularizer,
            "bias_regularizer": bias_regularizer,
        }
        self.cross_layers = [
            LowRankCross(
                name=f"cross_{i}",
                kernel_initializer=fresh_initializer(self.kernel_initializer, 10 * i),
                **shared,
            )
            for i in range(num_layers)
        ]
        self.attention_layers = [
            AttentionLowRankCross(
                temperature=temperature,
                skip_connection=skip_connection,
                softmax_axis=softmax_axis,
                score_override=score_override,
                name=f"attention_cross_{i}",
                kernel_initializer=fresh_initializer(self.kernel_initializer, 10 * i + 5),
                **shared,
            )
            for i in range(num_layers)
        ]

    def build(self, x0_shape: tuple) -> None:
        for layer in (*self.cross_layers, *self.attention_layers):
            layer.build(x0_shape, x0_shape)

    def call(self, x0: Any) -> Any:
        cross, attention = x0, x0
        for cross_layer, attention_layer in zip(
            self.cross_layers, self.attention_layers, strict=True
        ):
            cross = cross_layer(x0, cross)
            attention = attention_layer(x0, attention)
        if self.merge == "concat":
            return ops.concatenate([cross, attention], axis=-1)
        return cross + attention

    def compute_output_shape(self, x0_shape: tuple) -> tuple:
        width = x0_shape[-1] * 2 if self.merge == "concat" and x0_shape[-1] else x0_shape[-1]
        return (*x0_shape[:-1], width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "projection_dim": self.projection_dim,
                "num_layers": self.num_layers,
                "merge": self.merge,
                "temperature": self.temperature,
                "skip_connection": self.skip_connection,
                "softmax_axis": self.softmax_axis,
                "score_override": self.score_override,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")

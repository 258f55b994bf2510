"""Member-history Transformer encoder with early candidate fusion (LiRank §3.6, "TransAct")."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

_NEG_LARGE = -1e9


def last_valid_steps(sequence: Any, valid: Any, num_steps: int) -> Any:
    """The last `num_steps` valid steps, most recent first: [B, T, D] → [B, num_steps, D].

    Works for any padding layout (left, right or holes): step t is the k-th most recent valid
    step when it is valid and k valid steps lie at positions ≥ t. Missing steps are zeros.
    """
    valid_int = ops.cast(valid, "int32")
    from_end = ops.flip(ops.cumsum(ops.flip(valid_int, axis=1), axis=1), axis=1)
    picks = [
        ops.cast(ops.logical_and(valid, ops.equal(from_end, k)), sequence.dtype)
        for k in range(1, num_steps + 1)
    ]
    selector = ops.stack(picks, axis=1)  # [B, num_steps, T]
    return ops.einsum("bkt,btd->bkd", selector, sequence)


def masked_max_pool(sequence: Any, valid: Any) -> Any:
    """Max over valid steps: [B, T, D] → [B, D]; zeros for a sequence with no valid step."""
    expanded = ops.expand_dims(valid, -1)
    pooled = ops.max(ops.where(expanded, sequence, _NEG_LARGE), axis=1)
    return ops.where(ops.any(expanded, axis=1), pooled, ops.zeros_like(pooled))


@keras.saving.register_keras_serializable(package="lirank")
class HistoryTransformerEncoder(keras.layers.Layer):
    """Encodes a member's interaction history against the candidate item (LiRank §3.6):

        s_t = W_in [item_t ; action_t ; candidate] + p_t              (early fusion, t < T)
        s ← LN(s + MHA(s, s, mask))  ;  s ← LN(s + FFN(s))           (× num_layers)
        out = [maxpool_{valid t} s_t ; s_{last} ; s_{last−1} ; … ; s_{last−4}]

    FFN(s) = W_2 relu(W_1 s), with width `ffn_dim` = model_dim // 2 by default (the paper: half
    the input size captures most of the gain). Padded steps are masked as attention keys and
    excluded from both outputs, so their contents never change the result.

    NOT CONFIRMED by the paper (choices here): learned positional embedding p_t indexed from the
    sequence start, post-norm layers, `num_heads`=2, `model_dim`, last steps ordered most recent
    first with zeros for histories shorter than `num_last_steps`.

    Args:
        max_length: longest history T, a positive int ≥ `num_last_steps`.
        model_dim: width D after the input projection (divisible by `num_heads`).
        num_heads: attention heads.
        num_layers: encoder layers (default 2).
        ffn_dim: FFN width; None means model_dim // 2.
        num_last_steps: how many last valid steps to output (default 5; 0 for max-pool only).
        dropout: dropout rate in attention and FFN.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `item_embeddings` [B, T, d_i], `action_embeddings` [B, T, d_a],
        `candidate_embedding` [B, d_c], optional `padding_mask` [B, T] (True/1 = real step).

    Output shape:
        [B, model_dim · (1 + num_last_steps)].

    Example:

    ```python
    encoder = HistoryTransformerEncoder(max_length=50, model_dim=32)
    features = encoder(items, actions, candidate, padding_mask=mask)   # [B, 192]
    ```
    """

    def __init__(
        self,
        max_length: int,
        model_dim: int,
        num_heads: int = 2,
        num_layers: int = 2,
        ffn_dim: int | None = None,
        num_last_steps: int = 5,
        dropout: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("max_length", max_length),
            ("model_dim", model_dim),
            ("num_heads", num_heads),
            ("num_layers", num_layers),
        ):
            _check_int(name, value, minimum=1)
        _check_int("num_last_steps", num_last_steps, minimum=0)
        if ffn_dim is not None:
            _check_int("ffn_dim", ffn_dim, minimum=1)
        if max_length < num_last_steps:
            raise ValueError(
                f"`max_length` must be at least `num_last_steps`={num_last_steps} to output the "
                f"last {num_last_steps} steps. Received: max_length={max_length}"
            )
        if model_dim % num_heads:
            raise ValueError(
                "`model_dim` must be divisible by `num_heads`. Received: "
                f"model_dim={model_dim}, num_heads={num_heads}"
            )
        if model_dim < 2 and ffn_dim is None:
            raise ValueError(
                f"`model_dim` must be at least 2 when ffn_dim=None. Received: {model_dim}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"`dropout` must be in [0, 1). Received: dropout={dropout}")
        self.max_length = max_length
        self.model_dim = model_dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.ffn_dim = ffn_dim
        self.num_last_steps = num_last_steps
        self.dropout = dropout
        width = ffn_dim if ffn_dim is not None else model_dim // 2
        self.input_projection = keras.layers.Dense(model_dim, name="input_projection")
        self.attention = [
            keras.layers.MultiHeadAttention(
                num_heads, model_dim // num_heads, dropout=dropout, name=f"attention_{i}"
            )
            for i in range(num_layers)
        ]
        self.ffn_in = [
            keras.layers.Dense(width, activation="relu", name=f"ffn_in_{i}")
            for i in range(num_layers)
        ]
        self.ffn_out = [
            keras.layers.Dense(model_dim, name=f"ffn_out_{i}") for i in range(num_layers)
        ]
        self.attention_norm = [
            keras.layers.LayerNormalization(name=f"attention_norm_{i}") for i in range(num_layers)
        ]
        self.ffn_norm = [
            keras.layers.LayerNormalization(name=f"ffn_norm_{i}") for i in range(num_layers)
        ]
        self.ffn_dropout = keras.layers.Dropout(dropout)

    def build(
        self,
        item_embeddings_shape: tuple,
        action_embeddings_shape: tuple,
        candidate_embedding_shape: tuple,
        padding_mask_shape: tuple | None = None,
    ) -> None:
        batch, steps = item_embeddings_shape[0], item_embeddings_shape[1]
        if steps is not None and steps > self.max_length:
            raise ValueError(
                f"History length {steps} exceeds `max_length`={self.max_length}. "
                f"Received: item_embeddings_shape={item_embeddings_shape}"
            )
        fused = (
            item_embeddings_shape[-1] + action_embeddings_shape[-1] + candidate_embedding_shape[-1]
        )
        self.input_projection.build((batch, steps, fused))
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_length, self.model_dim),
            initializer=keras.initializers.RandomNormal(stddev=0.02),
        )
        shape = (batch, steps, self.model_dim)
        for i in range(self.num_layers):
            self.attention[i].build(shape, shape)
            self.attention_norm[i].build(shape)
            self.ffn_in[i].build(shape)
            self.ffn_out[i].build((*shape[:-1], self.ffn_in[i].units))
            self.ffn_norm[i].build(shape)

    def call(
        self,
        item_embeddings: Any,
        action_embeddings: Any,
        candidate_embedding: Any,
        padding_mask: Any = None,
        training: bool | None = None,
    ) -> Any:
        steps = ops.shape(item_embeddings)[1]
        if isinstance(steps, int) and steps > self.max_length:
            raise ValueError(
                f"History length {steps} exceeds `max_length`={self.max_length}; raise "
                f"`max_length` or keep fewer steps. Received: item_embeddings shape "
                f"{tuple(item_embeddings.shape)}"
            )
        if padding_mask is None:
            valid = ops.ones_like(item_embeddings[..., 0], dtype="bool")
        else:
            valid = ops.cast(padding_mask, "bool")
        candidate = ops.zeros_like(item_embeddings[..., :1]) + ops.expand_dims(
            candidate_embedding, 1
        )
        fused = ops.concatenate([item_embeddings, action_embeddings, candidate], axis=-1)
        x = self.input_projection(fused) + self.position_embeddings[:steps]
        attention_mask = ops.logical_and(ops.expand_dims(valid, 1), ops.expand_dims(valid, 2))
        for i in range(self.num_layers):
            attended = self.attention[i](x, x, attention_mask=attention_mask, training=training)
            x = self.attention_norm[i](x + attended)
            ffn = self.ffn_dropout(self.ffn_out[i](self.ffn_in[i](x)), training=training)
            x = self.ffn_norm[i](x + ffn)
        outputs = [masked_max_pool(x, valid)]
        if self.num_last_steps:
            last = last_valid_steps(x, valid, self.num_last_steps)
            outputs.append(ops.reshape(last, (-1, self.num_last_steps * self.model_dim)))
        return ops.concatenate(outputs, axis=-1)

    def compute_output_shape(
        self, item_embeddings_shape: tuple, *args: Any, **kwargs: Any
    ) -> tuple:
        return (item_embeddings_shape[0], self.model_dim * (1 + self.num_last_steps))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "max_length": self.max_length,
                "model_dim": self.model_dim,
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "ffn_dim": self.ffn_dim,
                "num_last_steps": self.num_last_steps,
                "dropout": self.dropout,
            }
        )
        return config


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer ≥ {minimum}. Received: {name}={value}")

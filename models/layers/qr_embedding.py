"""Quotient-remainder embedding (Shi et al. 2019; LiRank §3.12 / paper-notes §11)."""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from models.layers.initializers import fresh_initializer
from models.layers.lookup import gather_rows

COMBINERS = ("sum", "concat", "multiply")


def quotient_remainder(ids: Any, num_collisions: int, num_quotient_rows: int) -> tuple[Any, Any]:
    """(q, r) = ((id // m) mod Q, id mod m), with floor division and floor modulo.

    For 0 ≤ id < Q·m the pair is unique to the id (no collision); larger or negative ids wrap.
    When Q·m = 2^32 and m divides 2^32, an id in [0, 2^32) gives the same pair as its int32
    two's-complement wrap, so uint32-range ids also work where integers are 32-bit (JAX).
    """
    ids = ops.convert_to_tensor(ids)
    remainder = ops.mod(ids, num_collisions)
    quotient = ops.mod(ops.floor_divide(ids, num_collisions), num_quotient_rows)
    return quotient, remainder


@keras.saving.register_keras_serializable(package="lirank")
class QREmbedding(keras.layers.Layer):
    """Embedding with two small tables instead of one big one (quotient-remainder trick):

        q = ⌊id / m⌋,  r = id mod m
        emb(id) = E_Q[q] ∘ E_R[r],   ∘ ∈ {sum (default), concat, multiply}

    E_Q has Q = ⌈num_buckets / m⌉ rows and E_R has m rows, so the parameters drop from
    num_buckets·D to (Q + m)·D; ids below num_buckets never share both rows. LiRank found
    sum best; multiply converged badly (embeddings start near 0). With "concat" each table is
    D/2 wide, so every combiner returns `output_dim` (a drop-in for `keras.layers.Embedding`).

    Args:
        num_buckets: vocabulary size N (ids in [0, N) are collision-free), a positive int.
        num_collisions: m, rows of the remainder table, a positive int ≤ num_buckets.
        output_dim: embedding width D, a positive int (even for "concat").
        combiner: "sum", "concat" or "multiply".
        embeddings_initializer: initializer for both tables.
        embeddings_regularizer: optional regularizer for both tables.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        integer ids of any shape [...].

    Output shape:
        [..., output_dim].

    Example:

    ```python
    ids = keras.Input((), dtype="int64")
    emb = QREmbedding(num_buckets=4_000_000_000, num_collisions=1000, output_dim=30)(ids)
    ```
    """

    def __init__(
        self,
        num_buckets: int,
        num_collisions: int,
        output_dim: int,
        combiner: str = "sum",
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        for name, value in (
            ("num_buckets", num_buckets),
            ("num_collisions", num_collisions),
            ("output_dim", output_dim),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value}")
        if num_collisions > num_buckets:
            raise ValueError(
                "`num_collisions` must not exceed `num_buckets`. Received: "
                f"num_collisions={num_collisions}, num_buckets={num_buckets}"
            )
        if combiner not in COMBINERS:
            raise ValueError(
                f"`combiner` must be one of {COMBINERS}. Received: combiner={combiner!r}"
            )
        if combiner == "concat" and output_dim % 2:
            raise ValueError(
                '`output_dim` must be even with combiner="concat". '
                f"Received: output_dim={output_dim}"
            )
        self.num_buckets = num_buckets
        self.num_collisions = num_collisions
        self.output_dim = output_dim
        self.combiner = combiner
        self.num_quotient_rows = math.ceil(num_buckets / num_collisions)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)

    def build(self, input_shape: tuple) -> None:
        width = self.output_dim // 2 if self.combiner == "concat" else self.output_dim
        self.quotient_embeddings = self.add_weight(
            name="quotient_embeddings",
            shape=(self.num_quotient_rows, width),
            initializer=fresh_initializer(self.embeddings_initializer, 0),
            regularizer=self.embeddings_regularizer,
        )
        self.remainder_embeddings = self.add_weight(
            name="remainder_embeddings",
            shape=(self.num_collisions, width),
            initializer=fresh_initializer(self.embeddings_initializer, 1),
            regularizer=self.embeddings_regularizer,
        )

    def call(self, inputs: Any) -> Any:
        if "int" not in str(inputs.dtype):
            inputs = ops.cast(inputs, "int32")
        quotient, remainder = quotient_remainder(
            inputs, self.num_collisions, self.num_quotient_rows
        )
        q_emb, r_emb = self.rows(quotient, remainder)
        if self.combiner == "concat":
            return ops.concatenate([q_emb, r_emb], axis=-1)
        if self.combiner == "multiply":
            return q_emb * r_emb
        return q_emb + r_emb

    def rows(self, quotient: Any, remainder: Any) -> tuple[Any, Any]:
        """The rows E_Q[q] and E_R[r] (a quantized twin overrides where they come from)."""
        q_emb = gather_rows(self.quotient_embeddings, quotient)
        r_emb = gather_rows(self.remainder_embeddings, remainder)
        return q_emb, r_emb

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape, self.output_dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "num_collisions": self.num_collisions,
                "output_dim": self.output_dim,
                "combiner": self.combiner,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            }
        )
        return config

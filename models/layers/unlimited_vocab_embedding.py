"""Static-vocabulary-free ID embedding over MurmurHash halves (LiRank A.7, paper-notes §11)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.layers.initializers import fresh_initializer
from models.layers.qr_embedding import COMBINERS, QREmbedding

HALF_RANGE = 2**32
MERGES = ("sum", "concat")


@keras.saving.register_keras_serializable(package="lirank")
class UnlimitedVocabEmbedding(keras.layers.Layer):
    """Embeds a 64-bit string hash given as its two uint32-range halves (B, C):

        emb(id) = QR_B(B) ⊕ QR_C(C),   ⊕ = sum (default) or concat

    where each QR_* is a `QREmbedding` over [0, 2^32) with m = `num_collisions` remainder rows
    and 2^32 / m quotient rows. The string → int64 → (B, C) step is preprocessing
    (`models.inputs.murmur.hash_to_halves`, mmh3 in the input pipeline), never in the layer.
    How LiRank merges the two halves is NOT CONFIRMED; sum follows its QR finding. With
    "concat" each half is output_dim/2 wide so the output stays `output_dim`.

    `num_collisions` must be a power of two in [4, 2^30], so that 2^32 / m is exact and both m
    and 2^32 / m fit in int32; then a half ≥ 2^31 that a 32-bit backend (JAX without x64) wraps
    to a negative int32 still hits the same rows.

    Args:
        num_collisions: m per half, a power of two in [4, 2^30] (default 2^16).
        output_dim: embedding width, a positive int (even for "concat").
        merge: "sum" or "concat" (how the two halves merge).
        qr_combiner: combiner inside each `QREmbedding`.
        embeddings_initializer: initializer for all four tables.
        embeddings_regularizer: optional regularizer for all four tables.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        integer [..., 2] holding (hi, lo), each in [0, 2^32).

    Output shape:
        [..., output_dim].

    Example:

    ```python
    halves = hash_to_halves(["member:1234", "member:42"])        # preprocessing, int64 [2, 2]
    emb = UnlimitedVocabEmbedding(num_collisions=2**16, output_dim=30)(halves)
    ```
    """

    def __init__(
        self,
        output_dim: int,
        num_collisions: int = 2**16,
        merge: str = "sum",
        qr_combiner: str = "sum",
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(num_collisions, bool)
            or not isinstance(num_collisions, int)
            or not 4 <= num_collisions <= 2**30
            or num_collisions & (num_collisions - 1)
        ):
            raise ValueError(
                "`num_collisions` must be a power of two in [4, 2**30]. "
                f"Received: num_collisions={num_collisions}"
            )
        if merge not in MERGES:
            raise ValueError(f"`merge` must be one of {MERGES}. Received: merge={merge!r}")
        if qr_combiner not in COMBINERS:
            raise ValueError(
                f"`qr_combiner` must be one of {COMBINERS}. Received: qr_combiner={qr_combiner!r}"
            )
        if isinstance(output_dim, bool) or not isinstance(output_dim, int) or output_dim <= 0:
            raise ValueError(
                f"`output_dim` must be a positive integer. Received: output_dim={output_dim}"
            )
        if merge == "concat" and output_dim % 2:
            raise ValueError(
                f'`output_dim` must be even with merge="concat". Received: output_dim={output_dim}'
            )
        self.output_dim = output_dim
        self.num_collisions = num_collisions
        self.merge = merge
        self.qr_combiner = qr_combiner
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        half_dim = output_dim // 2 if merge == "concat" else output_dim
        self.halves = [
            self.half_embedding(half_dim, i, name)
            for i, name in enumerate(("high_half", "low_half"))
        ]

    def half_embedding(self, dim: int, index: int, name: str) -> keras.layers.Layer:
        """The QR tables of half `index` (a quantized twin overrides what they store)."""
        return QREmbedding(
            num_buckets=HALF_RANGE,
            num_collisions=self.num_collisions,
            output_dim=dim,
            combiner=self.qr_combiner,
            embeddings_initializer=fresh_initializer(self.embeddings_initializer, 10 * index),
            embeddings_regularizer=self.embeddings_regularizer,
            name=name,
        )

    def build(self, input_shape: tuple) -> None:
        if input_shape[-1] != 2:
            raise ValueError(f"The last axis must hold the 2 hash halves. Received: {input_shape}")
        for half in self.halves:
            half.build(tuple(input_shape[:-1]))

    def call(self, inputs: Any) -> Any:
        high = self.halves[0](inputs[..., 0])
        low = self.halves[1](inputs[..., 1])
        if self.merge == "concat":
            return ops.concatenate([high, low], axis=-1)
        return high + low

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.output_dim)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "output_dim": self.output_dim,
                "num_collisions": self.num_collisions,
                "merge": self.merge,
                "qr_combiner": self.qr_combiner,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            }
        )
        return config

"""Static-vocabulary-free ID embedding over MurmurHash halves (LiRank A.7, paper-notes §11)."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from models.layers.initializers import fresh_initializer
from models.layers.qr_embedding import COMBINERS, QREmbedding, quotient_remainder

HALF_RANGE = 2**32
MERGES = ("sum", "concat")


def _is_power_of_two(value: object, low: int, high: int) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and low <= value <= high
        and not value & (value - 1)
    )


def unlimited_rows(halves: Any, num_collisions: int, half_buckets: int = HALF_RANGE) -> Any:
    """int [..., 4]: the rows an `UnlimitedVocabEmbedding` reads for each [..., 2] (hi, lo):

        (⌊hi / m⌋ mod Q, hi mod m, ⌊lo / m⌋ mod Q, lo mod m),   Q = half_buckets / m

    (quotient and remainder row of the high half, then of the low half). Two IDs share all four
    rows exactly when hi ≡ hi' and lo ≡ lo' (mod half_buckets): with half_buckets = 2^32 never
    for distinct 64-bit hashes, else with probability 1 / half_buckets^2 per pair of IDs.
    """
    rows = []
    for index in (0, 1):
        rows.extend(
            quotient_remainder(halves[..., index], num_collisions, half_buckets // num_collisions)
        )
    return ops.stack(rows, axis=-1)


@keras.saving.register_keras_serializable(package="lirank")
class UnlimitedVocabEmbedding(keras.layers.Layer):
    """Embeds a 64-bit string hash given as its two uint32-range halves (B, C):

        emb(id) = QR_B(B) ⊕ QR_C(C),   ⊕ = sum (default) or concat

    where each QR_* is a `QREmbedding` over [0, H) with m = `num_collisions` remainder rows and
    Q = H / m quotient rows, H = `half_buckets` (2^32 by default: the whole half, no modulo; a
    smaller H takes each half mod H, so the four tables have 2(Q + m) rows and two IDs share
    all of them with probability 1/H² per pair, `unlimited_rows`). The string → int64 → (B, C)
    step is preprocessing (`models.inputs.murmur.hash_to_halves`, or `id_halves` in the feed
    transform), never in the layer. How LiRank merges the two halves is NOT CONFIRMED; sum
    follows its QR finding. With "concat" each half is output_dim/2 wide so the output stays
    `output_dim`.

    `num_collisions` must be a power of two in [4, 2^30] and `half_buckets` a power of two in
    [num_collisions, 2^32], so that H / m is exact and H divides 2^32; then a half ≥ 2^31 that a
    32-bit backend (JAX without x64) wraps to a negative int32 (or that is given as its int32
    reading) still hits the same rows.

    Args:
        num_collisions: m per half, a power of two in [4, 2^30] (default 2^16).
        output_dim: embedding width, a positive int (even for "concat").
        merge: "sum" or "concat" (how the two halves merge).
        qr_combiner: combiner inside each `QREmbedding`.
        embeddings_initializer: initializer for all four tables.
        embeddings_regularizer: optional regularizer for all four tables.
        half_buckets: H, the range each half is taken in (a power of two in [m, 2^32]).
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        integer [..., 2] holding (hi, lo), each in [0, 2^32) or its int32 reading.

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
        half_buckets: int = HALF_RANGE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not _is_power_of_two(num_collisions, 4, 2**30):
            raise ValueError(
                "`num_collisions` must be a power of two in [4, 2**30]. "
                f"Received: num_collisions={num_collisions}"
            )
        if not _is_power_of_two(half_buckets, num_collisions, HALF_RANGE):
            raise ValueError(
                "`half_buckets` must be a power of two in [num_collisions, 2**32]. "
                f"Received: half_buckets={half_buckets}, num_collisions={num_collisions}"
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
        self.half_buckets = half_buckets
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
            num_buckets=self.half_buckets,
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
                "half_buckets": self.half_buckets,
                "merge": self.merge,
                "qr_combiner": self.qr_combiner,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            }
        )
        return config

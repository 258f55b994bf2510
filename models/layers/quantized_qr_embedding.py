"""Quotient-remainder embedding served from quantized tables (LiRank §3.12 + §3.13)."""

from __future__ import annotations

from typing import Any

import keras

from models.layers.qr_embedding import QREmbedding
from models.layers.quantized_embedding import QuantizedEmbedding


@keras.saving.register_keras_serializable(package="lirank")
class QuantizedQREmbedding(QREmbedding):
    """`QREmbedding` whose quotient and remainder tables are each a `QuantizedEmbedding`:

        emb(id) = deq(E_Q)[⌊id / m⌋ mod Q] ∘ deq(E_R)[id mod m]

    Both tables are quantized row by row on their own (each has its own rows' ranges), so the
    combined vector's error is at most the sum of the two rows' errors (sum combiner).

    Args:
        num_buckets, num_collisions, output_dim, combiner: as `QREmbedding`.
        bits: 8 or 4.
        signed: True for middle-max codes, False for min-max codes.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    layer = QuantizedQREmbedding(10_000, 100, 30, bits=8)
    layer.build(None)
    layer.quotient.load(...); layer.remainder.load(...)      # see models.compression.feed
    ```
    """

    def __init__(
        self,
        num_buckets: int,
        num_collisions: int,
        output_dim: int,
        combiner: str = "sum",
        bits: int = 8,
        signed: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("embeddings_initializer", None)
        kwargs.pop("embeddings_regularizer", None)
        super().__init__(num_buckets, num_collisions, output_dim, combiner, **kwargs)
        width = output_dim // 2 if combiner == "concat" else output_dim
        self.bits = bits
        self.signed = signed
        self.quotient = QuantizedEmbedding(
            self.num_quotient_rows, width, bits, signed, name="quotient_embeddings"
        )
        self.remainder = QuantizedEmbedding(
            num_collisions, width, bits, signed, name="remainder_embeddings"
        )

    def build(self, input_shape: Any = None) -> None:
        self.quotient.build(None)
        self.remainder.build(None)

    def rows(self, quotient: Any, remainder: Any) -> tuple[Any, Any]:
        return self.quotient(quotient), self.remainder(remainder)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("embeddings_initializer", None)
        config.pop("embeddings_regularizer", None)
        return {**config, "bits": self.bits, "signed": self.signed}

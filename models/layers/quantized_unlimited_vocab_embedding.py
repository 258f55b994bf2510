"""Unlimited-vocabulary embedding served from quantized QR tables (LiRank A.7 + §3.13)."""

from __future__ import annotations

from typing import Any

import keras

from models.layers.quantized_qr_embedding import QuantizedQREmbedding
from models.layers.unlimited_vocab_embedding import HALF_RANGE, UnlimitedVocabEmbedding


@keras.saving.register_keras_serializable(package="lirank")
class QuantizedUnlimitedVocabEmbedding(UnlimitedVocabEmbedding):
    """`UnlimitedVocabEmbedding` whose two hash halves are `QuantizedQREmbedding`s (four
    quantized tables: each half's quotient and remainder):

        emb(id) = QR_B^q(B) ⊕ QR_C^q(C)

    Args:
        output_dim, num_collisions, merge, qr_combiner, half_buckets: as
            `UnlimitedVocabEmbedding`.
        bits: 8 or 4.
        signed: True for middle-max codes, False for min-max codes.
        **kwargs: standard `keras.layers.Layer` arguments.

    Example:

    ```python
    layer = QuantizedUnlimitedVocabEmbedding(30, num_collisions=2**16, bits=8)
    layer.build((None, 2))
    layer.halves[0].quotient.load(...)                   # see models.compression.feed
    ```
    """

    def __init__(
        self,
        output_dim: int,
        num_collisions: int = 2**16,
        merge: str = "sum",
        qr_combiner: str = "sum",
        bits: int = 8,
        signed: bool = True,
        half_buckets: int = HALF_RANGE,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("embeddings_initializer", None)
        kwargs.pop("embeddings_regularizer", None)
        self.bits = bits  # read by `half_embedding` inside the parent's __init__
        self.signed = signed
        super().__init__(
            output_dim, num_collisions, merge, qr_combiner, half_buckets=half_buckets, **kwargs
        )

    def half_embedding(self, dim: int, index: int, name: str) -> keras.layers.Layer:
        return QuantizedQREmbedding(
            self.half_buckets, self.num_collisions, dim, self.qr_combiner, self.bits, self.signed,
            name=name,
        )  # fmt: skip

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.pop("embeddings_initializer", None)
        config.pop("embeddings_regularizer", None)
        return {**config, "bits": self.bits, "signed": self.signed}

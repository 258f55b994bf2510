"""History poolings of the feed model: extra vectors from the member's recent actions (paper §6).

Every block maps the candidate's author embedding a [b, d], the history author embeddings
H [b, L, d] with their padding mask m [b, L] and the history action embeddings A [b, L, d] to a
list of `num_vectors` vectors [b, d], appended to the pooled ID vectors of `SparseArch` (which
already hold the masked means of H and A):

    "mean":             []                                                  (nothing more)
    "target_attention": [Σ_j softmax_j(aᵀH_j / √d) H_j]                     (DIN, 1 vector)
    "transformer":      TransAct encoder of [H ; A ; a]: max-pool + last 5 steps (6 vectors)

Example:

    history = TargetAttentionHistory(name="history_arch")
    vectors = history(author, items, mask, actions)          # [[b, d]]
"""

from __future__ import annotations

import keras

from models.layers.history_encoder import HistoryTransformerEncoder
from models.layers.pooling import masked_softmax_pool

# heads of the history Transformer (NOT CONFIRMED by the paper); `embedding_dim` must divide
TRANSFORMER_HEADS = 2
# history steps the Transformer returns besides its max-pooled token (paper §6: the last 5)
TRANSFORMER_LAST_STEPS = 5


@keras.saving.register_keras_serializable(package="lirank")
class MeanHistory(keras.layers.Layer):
    """No history vectors beyond the masked means of `SparseArch`."""

    num_vectors = 0

    def build(self, embedding_dim: int) -> None:
        self.built = True

    def call(self, author, items, mask, actions):
        return []


@keras.saving.register_keras_serializable(package="lirank")
class TargetAttentionHistory(MeanHistory):
    """The history authors pooled by attention to the candidate's author (one vector):

        Σ_j softmax_j(e_authorᵀ e_j / √d) e_j

    a one-head, parameter-free version of the candidate-aware history encoding of paper §6 / DIN.
    """

    num_vectors = 1

    def call(self, author, items, mask, actions):
        return [masked_softmax_pool(author, items, mask)]


@keras.saving.register_keras_serializable(package="lirank")
class TransformerHistory(MeanHistory):
    """History Transformer (paper §6, "TransAct"): 1 + `num_last_steps` vectors of `embedding_dim`.

    Each step is [history author ; action ; candidate author] (early fusion), projected to
    `embedding_dim`, through `num_layers` encoder layers with FFN width embedding_dim / 2; the
    outputs are the max-pooled token and the last valid steps (`HistoryTransformerEncoder`), each
    split into its own vector so that the "dot" interaction crosses them with every other feature.
    Positions count from the start of the (front-padded) sequence; 2 heads (NOT CONFIRMED).

    Args:
        embedding_dim: width d of the ID embeddings (divisible by `num_heads`).
        max_length: longest history accepted (≥ `num_last_steps`).
        num_heads: attention heads.
        num_layers: encoder layers (paper §6: 2).
        num_last_steps: last valid steps output besides the max-pooled token (paper §6: 5).
    """

    def __init__(
        self,
        embedding_dim: int,
        max_length: int,
        num_heads: int = TRANSFORMER_HEADS,
        num_layers: int = 2,
        num_last_steps: int = TRANSFORMER_LAST_STEPS,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if embedding_dim <= 0 or embedding_dim % num_heads:
            raise ValueError(
                f"`embedding_dim` must be a positive multiple of num_heads={num_heads}. "
                f"Received: embedding_dim={embedding_dim}"
            )
        self.embedding_dim = int(embedding_dim)
        self.max_length = int(max_length)
        self.num_heads = int(num_heads)
        self.num_layers = int(num_layers)
        self.num_last_steps = int(num_last_steps)
        self.num_vectors = 1 + self.num_last_steps
        self.encoder = HistoryTransformerEncoder(
            max_length=self.max_length,
            model_dim=self.embedding_dim,
            num_heads=self.num_heads,
            num_layers=self.num_layers,
            num_last_steps=self.num_last_steps,
            name="encoder",
        )

    def build(self, embedding_dim: int) -> None:
        sequence = (None, None, embedding_dim)
        self.encoder.build(sequence, sequence, (None, embedding_dim), (None, None))
        self.built = True

    def call(self, author, items, mask, actions):
        encoded = self.encoder(items, actions, author, padding_mask=mask)
        dim = self.embedding_dim
        return [encoded[:, i * dim : (i + 1) * dim] for i in range(self.num_vectors)]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "embedding_dim": self.embedding_dim,
            "max_length": self.max_length,
            "num_heads": self.num_heads,
            "num_layers": self.num_layers,
            "num_last_steps": self.num_last_steps,
        }


# history_pooling -> the block adding history vectors
HISTORY_POOLINGS: dict[str, type[MeanHistory]] = {
    "mean": MeanHistory,
    "target_attention": TargetAttentionHistory,
    "transformer": TransformerHistory,
}

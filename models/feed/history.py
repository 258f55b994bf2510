"""History poolings of the feed model: extra vectors from the member's recent actions (paper §6).

Every block maps the candidate's item embedding c [b, d_i], the history item embeddings
H [b, L, d_i] with their padding mask m [b, L] and the history action embeddings A [b, L, d] to a
list of `num_vectors` vectors [b, d], appended to the pooled ID vectors of `SparseArch` (which
already hold the masked means of the history authors and actions):

    "mean":             []                                                  (nothing more)
    "target_attention": [Σ_j softmax_j(cᵀH_j / √d) H_j]                     (DIN, 1 vector)
    "transformer":      TransAct encoder of [H ; A ; c]: max-pool + last 5 steps (6 vectors)

What an "item" is, `history_items` (`HISTORY_ITEMS`: pairs of candidate feature and aligned
history feature, their embeddings concatenated, so d_i = d · pairs):

    "authors":           c = e(author_id),   H_j = e(hist_author_ids_j)
    "posts":             c = e(post_id),     H_j = e(hist_post_ids_j)
    "posts_and_authors": c = [e(post_id) ; e(author_id)],
                         H_j = [e(hist_post_ids_j) ; e(hist_author_ids_j)]

With the Transformer every step is then [H_j ; A_j ; c] (TransAct early fusion: the item and the
action embeddings of the step, concatenated, and the candidate's item embedding appended to every
step). The post ID embeddings are end-to-end learned (paper §6: "learned end-to-end or taken
from a separate model"); posts and history posts share one table, as authors and history authors
share the actor table. A post first seen on the day it is ranked keeps its initial embedding row
(next-day protocol), so the post items pay off as far as posts recur across days; "authors"
stays the default (measured in `bench/ablation.py`).

Example:

    history = TargetAttentionHistory(name="history_arch")
    vectors = history(author, items, mask, actions)          # [[b, d]]
"""

from __future__ import annotations

import keras
from keras import ops

from models.layers.history_encoder import HistoryTransformerEncoder
from models.layers.pooling import masked_softmax_pool

# history_items -> ((candidate feature, aligned history feature), ...): what one history step's
# item is (see the module docstring); every history feature is padded like `hist_actions`
HISTORY_ITEMS: dict[str, tuple[tuple[str, str], ...]] = {
    "authors": (("author_id", "hist_author_ids"),),
    "posts": (("post_id", "hist_post_ids"),),
    "posts_and_authors": (("post_id", "hist_post_ids"), ("author_id", "hist_author_ids")),
}


def history_items(choice: str, pooled, sequences) -> tuple:
    """(candidate [b, d_i], items [b, L, d_i], mask [b, L]) of the `HISTORY_ITEMS` `choice`, from
    `SparseArch`'s outputs: embeddings concatenated in the declared order, the mask the product
    of the features' masks (a step counts when every one of its IDs is present)."""
    pairs = HISTORY_ITEMS[choice]
    candidate = ops.concatenate([pooled[c] for c, _ in pairs], axis=-1)
    items = ops.concatenate([sequences[h][0] for _, h in pairs], axis=-1)
    mask = sequences[pairs[0][1]][1]
    for _, history in pairs[1:]:
        mask = mask * sequences[history][1]
    return candidate, items, mask


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

    Each step is [history item ; action ; candidate item] (early fusion; an item is the author,
    the post or both, `HISTORY_ITEMS`), projected to `embedding_dim`, through `num_layers`
    encoder layers with FFN width embedding_dim / 2; the outputs are the max-pooled token and the
    last valid steps (`HistoryTransformerEncoder`), each split into its own vector so that the
    "dot" interaction crosses them with every other feature.
    Positions count from the start of the (front-padded) sequence; 2 heads (NOT CONFIRMED).

    Args:
        embedding_dim: width d of the ID embeddings (divisible by `num_heads`).
        max_length: longest history accepted (≥ `num_last_steps`).
        num_heads: attention heads.
        num_layers: encoder layers (paper §6: 2).
        num_last_steps: last valid steps output besides the max-pooled token (paper §6: 5).
        item_dim: width d_i of an item (and of the candidate) embedding; None: `embedding_dim`
            (one ID per item).
    """

    def __init__(
        self,
        embedding_dim: int,
        max_length: int,
        num_heads: int = TRANSFORMER_HEADS,
        num_layers: int = 2,
        num_last_steps: int = TRANSFORMER_LAST_STEPS,
        item_dim: int | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if item_dim is not None and (type(item_dim) is not int or item_dim <= 0):
            raise ValueError(
                f"`item_dim` must be a positive integer. Received: item_dim={item_dim!r}"
            )
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
        self.item_dim = item_dim
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
        item_dim = self.item_dim or embedding_dim
        self.encoder.build(
            (None, None, item_dim), (None, None, embedding_dim), (None, item_dim), (None, None)
        )
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
            "item_dim": self.item_dim,
        }


# history_pooling -> the block adding history vectors
HISTORY_POOLINGS: dict[str, type[MeanHistory]] = {
    "mean": MeanHistory,
    "target_attention": TargetAttentionHistory,
    "transformer": TransformerHistory,
}

"""ID bucketing and masked pooling of embedded ID lists, shared by the Feed, Ads and Jobs models.

Pure `keras.ops` functions (any backend). IDs are non-negative integers; `-1` (any negative ID) is
padding and is masked out, so a list pools to the same vector whatever its padded length:

    bucket_j = ids_j mod N,   m_j = [ids_j ≥ 0]       (unlimited vocabulary: `id_halves_index`)
    mean     = Σ_j m_j e_j / max(1, Σ_j m_j)
    attend   = Σ_j α_j e_j,   α = softmax_j(qᵀe_j / √d) over the j with m_j = 1   (DIN, paper §6)

Example:

    index, mask = hash_ids(ids, num_buckets=1000)           # ids: int [b, l], -1 padded
    pooled = masked_mean(table(index), mask)                # [b, d]
"""

from __future__ import annotations

from keras import ops

# score of a padded step before the softmax: exp(-1e9 - max) underflows to exactly 0
_MASKED_SCORE = -1e9


def hash_ids(ids, num_buckets: int):
    """(bucket index, mask) of an ID tensor: ``id mod num_buckets``; padding -> bucket 0, mask 0.

    Args:
        ids: integer tensor of any shape; negative values are padding.
        num_buckets: rows of the table the buckets index (positive).

    Returns:
        (int32 buckets, float32 mask), both of the shape of `ids`.
    """
    if num_buckets <= 0:
        raise ValueError(f"`num_buckets` must be positive. Received: num_buckets={num_buckets}")
    mask = ops.greater_equal(ids, 0)
    buckets = ops.where(mask, ops.mod(ids, num_buckets), ops.zeros_like(ids))
    return ops.cast(buckets, "int32"), ops.cast(mask, "float32")


def id_halves_index(halves):
    """(halves, mask) of unlimited-vocabulary IDs: [..., 2] 32-bit halves (their int32 reading, or
    [0, 2^32) values, which the int32 cast wraps to the same rows) -> int32 [..., 2] with padding
    (-1, -1) replaced by (0, 0), and float32 mask [...] (0 for padding). No modulo: the
    `UnlimitedVocabEmbedding` tables take the halves as they are."""
    halves = ops.cast(halves, "int32")
    present = ops.logical_not(ops.all(ops.equal(halves, -1), axis=-1))
    halves = ops.where(ops.expand_dims(present, -1), halves, ops.zeros_like(halves))
    return halves, ops.cast(present, "float32")


def masked_mean(embeddings, mask):
    """Σ_j m_j e_j / max(1, Σ_j m_j) over axis 1: [b, l, d], [b, l] -> [b, d].

    An all-padding row pools to zeros.
    """
    mask = ops.expand_dims(mask, -1)
    total = ops.sum(embeddings * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), 1.0)
    return total / count


def masked_softmax_pool(query, keys, mask):
    """Target attention: Σ_j α_j k_j with α = softmax_j(qᵀk_j / √d) over the unmasked j.

    [b, d], [b, l, d], [b, l] -> [b, d]; an all-padding row pools to zeros.
    """
    dim = ops.cast(ops.shape(keys)[-1], "float32")
    scores = ops.sum(keys * ops.expand_dims(query, 1), axis=-1) / ops.sqrt(dim)
    scores = ops.where(mask > 0, scores, ops.full_like(scores, _MASKED_SCORE))
    weights = ops.softmax(scores, axis=-1) * mask
    return ops.sum(keys * ops.expand_dims(weights, -1), axis=1)

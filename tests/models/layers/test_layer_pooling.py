"""hash_ids, masked_mean, masked_softmax_pool: hand-computed values, padding invariance."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from models.layers.pooling import hash_ids, masked_mean, masked_softmax_pool


def test_hash_ids_takes_the_id_modulo_the_buckets_and_masks_padding():
    index, mask = hash_ids(np.array([[3, 13, -1], [0, 9, 10]], np.int64), num_buckets=10)
    np.testing.assert_array_equal(ops.convert_to_numpy(index), [[3, 3, 0], [0, 9, 0]])
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[1, 1, 0], [1, 1, 1]])
    assert ops.convert_to_numpy(index).dtype == np.int32
    with pytest.raises(ValueError, match="num_buckets=0"):
        hash_ids(np.array([1]), num_buckets=0)


def test_masked_mean_ignores_padding_and_pools_empty_rows_to_zero():
    embeddings = np.array([[[1.0, 2.0], [3.0, 4.0], [9.0, 9.0]], [[5.0, 5.0]] * 3], np.float32)
    mask = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    out = ops.convert_to_numpy(masked_mean(embeddings, mask))
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])


def test_masked_softmax_pool_attends_by_scaled_dot_products():
    query = np.array([[2.0, 0.0], [1.0, 1.0]], np.float32)
    keys = np.array([[[1.0, 0.0], [0.0, 1.0], [9.0, 9.0]], [[4.0, 4.0]] * 3], np.float32)
    mask = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]], np.float32)
    out = ops.convert_to_numpy(masked_softmax_pool(query, keys, mask))
    # row 0: scores 2/√2 and 0 over the two unmasked keys; row 1: all padding -> zeros
    w = np.exp(np.sqrt(2.0)) / (np.exp(np.sqrt(2.0)) + 1.0)
    np.testing.assert_allclose(out, [[w, 1.0 - w], [0.0, 0.0]], rtol=1e-5)


def test_more_padding_changes_no_pooled_vector():
    rng = np.random.default_rng(0)
    query, keys = rng.normal(size=(3, 4)), rng.normal(size=(3, 5, 4))
    mask = (rng.random((3, 5)) < 0.6).astype("float32")
    padded_keys = np.concatenate([rng.normal(size=(3, 2, 4)), keys], axis=1)
    padded_mask = np.concatenate([np.zeros((3, 2), "float32"), mask], axis=1)
    for pool in (
        lambda k, m: masked_mean(k, m),
        lambda k, m: masked_softmax_pool(query.astype("float32"), k, m),
    ):
        np.testing.assert_allclose(
            ops.convert_to_numpy(pool(padded_keys.astype("float32"), padded_mask)),
            ops.convert_to_numpy(pool(keys.astype("float32"), mask)),
            atol=1e-6,
        )

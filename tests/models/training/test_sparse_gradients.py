"""Embedding gradients as sparse rows: the rank average equals the dense average, which tables go
sparse, and the bytes per step both ways (`gradient_bytes`), on hand-checkable inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models.training.distributed import sparse_rows_average, travels_sparse, unique_rows
from models.training.gradient_bytes import embedding_gradient_bytes


def _slices(rows: list[list[float]], indices: list[int], table_rows: int) -> tf.IndexedSlices:
    return tf.IndexedSlices(
        tf.constant(rows, tf.float32),
        tf.constant(indices, tf.int64),
        tf.constant([table_rows, len(rows[0])], tf.int64),
    )


def test_two_ranks_sparse_average_equals_the_dense_average_with_distinct_rows():
    # rank 0 looked row 3 up twice and row 1 once; rank 1 looked rows 3 and 7 up
    rank0 = _slices([[1.0, 2.0], [10.0, 20.0], [4.0, 0.0]], [3, 1, 3], table_rows=2000)
    rank1 = _slices([[2.0, 2.0], [0.0, 6.0]], [3, 7], table_rows=2000)
    other = unique_rows(rank1)
    sent = []

    def allgather(tensor, part):  # what rank 0 gets back from a 2-rank all-gather
        sent.append((part, int(tensor.shape[0])))
        return tf.concat([tensor, other.values if part == "values" else other.indices], axis=0)

    averaged = sparse_rows_average(rank0, allgather, ranks=2)

    expected = (tf.convert_to_tensor(rank0) + tf.convert_to_tensor(rank1)) / 2.0
    np.testing.assert_allclose(tf.convert_to_tensor(averaged).numpy(), expected.numpy())
    # row 3: (1 + 4 + 2) / 2 = 3.5 and (2 + 0 + 2) / 2 = 2
    np.testing.assert_allclose(tf.convert_to_tensor(averaged).numpy()[3], [3.5, 2.0])
    indices = averaged.indices.numpy()
    assert sorted(indices) == [1, 3, 7] and len(set(indices)) == len(indices)
    # rank 0 sent its 2 distinct rows (not its 3 lookups) and their indices
    assert sent == [("values", 2), ("indices", 2)]


def test_only_embedding_gradients_travel_sparse():
    assert not travels_sparse(tf.ones((3, 2)))
    assert travels_sparse(_slices([[1.0]], [0], table_rows=5))


def _two_table_model() -> keras.Model:
    ids = keras.Input((), dtype="int32", name="ids")
    tags = keras.Input((3,), dtype="int32", name="tags")
    big = keras.layers.Embedding(2000, 4, name="big")(ids)
    small = keras.layers.Embedding(10, 4, name="small")(tags)
    out = keras.layers.Dense(1)(keras.ops.concatenate([big, keras.ops.sum(small, axis=1)], -1))
    return keras.Model({"ids": ids, "tags": tags}, out)


def test_gradient_bytes_by_hand():
    batch = {
        "ids": np.array([1, 1, 5, 7], np.int32),  # 3 distinct rows of 2000
        "tags": np.array([[0, 1, 1]] * 4, np.int32),  # 2 distinct rows of 10
    }
    got = embedding_gradient_bytes(_two_table_model(), batch, ranks=2)
    tables = {t["variable"].split("/")[0]: t for t in got["tables"]}
    big, small = tables["big"], tables["small"]
    index_bytes = 4  # int32 ids give int32 indices
    assert (big["rows"], big["dim"], big["touched_rows"], big["lookups"]) == (2000, 4, 3, 4)
    assert big["dense_bytes"] == 2000 * 4 * 4
    assert big["sparse_bytes"] == 3 * (4 * 4 + index_bytes) * 2
    # 12 lookups of 2 distinct rows of the 10-row table: 2 rows travel
    assert (small["touched_rows"], small["lookups"]) == (2, 12)
    assert small["dense_bytes"] == 10 * 4 * 4
    assert small["sparse_bytes"] == 2 * (4 * 4 + index_bytes) * 2
    assert got["dense_bytes"] == 32000 + 160
    assert got["sparse_bytes"] == 120 + 80
    assert got["ratio"] == pytest.approx(32160 / 200)
    assert got["batch_rows"] == 4
    more = embedding_gradient_bytes(_two_table_model(), batch, ranks=4)
    assert more["sparse_bytes"] == 2 * 200 and more["dense_bytes"] == got["dense_bytes"]


def test_gradient_bytes_rejects_a_model_without_tables():
    inputs = keras.Input((2,), name="x")
    model = keras.Model({"x": inputs}, keras.layers.Dense(1)(inputs))
    with pytest.raises(ValueError, match="no embedding-table gradient"):
        embedding_gradient_bytes(model, {"x": np.ones((2, 2), np.float32)})
    with pytest.raises(ValueError, match="ranks=0"):
        embedding_gradient_bytes(model, {"x": np.ones((2, 2), np.float32)}, ranks=0)

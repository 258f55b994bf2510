"""QREmbedding: quotient/remainder mapping, collisions, combiners, validation, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.layers.qr_embedding import QREmbedding, quotient_remainder


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _indexed_layer(combiner, output_dim=1):
    """num_buckets 10, m 3 → 4 quotient rows; E_Q[q] = 10·q, E_R[r] = r (both columns)."""
    layer = QREmbedding(num_buckets=10, num_collisions=3, output_dim=output_dim, combiner=combiner)
    layer.build((None,))
    width = layer.quotient_embeddings.shape[-1]
    layer.quotient_embeddings.assign(np.repeat(10.0 * np.arange(4)[:, None], width, 1))
    layer.remainder_embeddings.assign(np.repeat(np.arange(3.0)[:, None], width, 1))
    return layer


def test_quotient_remainder_by_hand():
    q, r = quotient_remainder(np.array([0, 7, 9, 2]), 3, 4)
    np.testing.assert_array_equal(_np(q), [0, 2, 3, 0])
    np.testing.assert_array_equal(_np(r), [0, 1, 0, 2])


@pytest.mark.parametrize(
    ("combiner", "output_dim", "expected"),
    [("sum", 1, [[21.0]]), ("multiply", 1, [[20.0]]), ("concat", 2, [[20.0, 1.0]])],
)
def test_combiners_by_hand(combiner, output_dim, expected):
    layer = _indexed_layer(combiner, output_dim)
    np.testing.assert_allclose(_np(layer(np.array([7]))), expected)


def test_collision_free_within_capacity():
    num_buckets, m = 1000, 32
    q, r = quotient_remainder(np.arange(num_buckets), m, int(np.ceil(num_buckets / m)))
    pairs = set(zip(_np(q).tolist(), _np(r).tolist(), strict=True))
    assert len(pairs) == num_buckets
    layer = QREmbedding(num_buckets, m, 4, embeddings_initializer="random_normal")
    table = _np(layer(np.arange(num_buckets)))
    assert len(np.unique(table.round(6), axis=0)) == num_buckets


def test_wrapped_int32_ids_hit_the_same_rows():
    ids = np.array([0, 5, 2**31 - 1, 2**31, 3_000_000_000, 2**32 - 1], dtype=np.int64)
    wrapped = ids.astype(np.int32)  # two's-complement wrap, as on 32-bit backends
    m, rows = 2**16, 2**16
    q64, r64 = (_np(t) for t in quotient_remainder(ids, m, rows))
    q32, r32 = (_np(t) for t in quotient_remainder(wrapped, m, rows))
    np.testing.assert_array_equal(q32, q64)
    np.testing.assert_array_equal(r32, r64)
    np.testing.assert_array_equal(q64, ids // m)


def test_shapes_and_parameter_count():
    layer = QREmbedding(num_buckets=1_000_000, num_collisions=1000, output_dim=8)
    assert layer(np.array([[1, 2, 3], [999_999, 0, 5]])).shape == (2, 3, 8)
    assert [tuple(w.shape) for w in layer.weights] == [(1000, 8), (1000, 8)]
    assert layer.count_params() / (1_000_000 * 8) == pytest.approx(0.002)
    concat = QREmbedding(100, 10, 6, combiner="concat")
    concat.build((None,))
    assert [tuple(w.shape) for w in concat.weights] == [(10, 3), (10, 3)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_buckets": 0}, "`num_buckets` must be a positive integer. Received: num_buckets=0"),
        ({"num_collisions": -2}, "Received: num_collisions=-2"),
        ({"num_collisions": 101}, "must not exceed `num_buckets`"),
        ({"combiner": "mean"}, "`combiner` must be one of .* Received: combiner='mean'"),
        ({"combiner": "concat", "output_dim": 5}, "even .* Received: output_dim=5"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        QREmbedding(**{"num_buckets": 100, "num_collisions": 10, "output_dim": 4, **kwargs})


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(QREmbedding(500, 7, 6, combiner="concat", embeddings_regularizer="l2"))
    ids = keras.Input((3,), dtype="int32")
    out = QREmbedding(500, 7, 4, combiner="multiply", embeddings_initializer="random_normal")(ids)
    save_load_round_trip(keras.Model(ids, out), np.array([[0, 6, 499], [7, 8, 13]], "int32"))


@pytest.mark.parametrize("initializer", ["random_normal", keras.initializers.RandomUniform(seed=3)])
def test_tables_get_distinct_initial_values(initializer):
    layer = QREmbedding(64, 8, 4, embeddings_initializer=initializer)
    layer.build((None,))
    assert not np.array_equal(_np(layer.quotient_embeddings), _np(layer.remainder_embeddings))

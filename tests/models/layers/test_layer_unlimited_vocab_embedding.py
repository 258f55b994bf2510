"""UnlimitedVocabEmbedding: two QR-embedded hash halves, 32-bit wrap safety, validation, saving."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from models.inputs.murmur import hash_to_halves, int32_halves, murmur_int64
from models.layers.pooling import id_halves_index
from models.layers.unlimited_vocab_embedding import UnlimitedVocabEmbedding, unlimited_rows

KEYS = ["member:1234", "member:42", "actor:7", "member:1234"]


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_sum_of_the_two_halves_by_hand():
    m = 2**16
    layer = UnlimitedVocabEmbedding(output_dim=1, num_collisions=m)
    layer.build((None, 2))
    for half, scale in zip(layer.halves, (1.0, 1e-3), strict=True):
        half.quotient_embeddings.assign(scale * 1000 * np.arange(m, dtype="float32")[:, None])
        half.remainder_embeddings.assign(scale * np.arange(m, dtype="float32")[:, None])
    # hi = 3·2^16 + 5 → (q, r) = (3, 5) → 3005;  lo = 2^16 + 2 → (1, 2) → 1002·1e-3.
    out = _np(layer(np.array([[3 * m + 5, m + 2]])))
    np.testing.assert_allclose(out, [[3005.0 + 1.002]], rtol=1e-6)


def test_string_ids_to_embeddings():
    layer = UnlimitedVocabEmbedding(
        output_dim=6, num_collisions=2**16, embeddings_initializer="random_normal"
    )
    halves = hash_to_halves(KEYS)
    out = _np(layer(halves))
    assert out.shape == (4, 6)
    np.testing.assert_array_equal(out[0], out[3])
    assert len(np.unique(out.round(6), axis=0)) == 3
    assert sorted(tuple(w.shape) for w in layer.weights) == [(2**16, 6)] * 4


def test_wrapped_int32_halves_give_the_same_embeddings():
    halves = hash_to_halves([f"member:{i}" for i in range(64)])
    assert (halves >= 2**31).any()
    layer = UnlimitedVocabEmbedding(
        output_dim=4, num_collisions=2**16, merge="concat", embeddings_initializer="random_normal"
    )
    np.testing.assert_array_equal(_np(layer(halves.astype(np.int32))), _np(layer(halves)))
    assert _np(layer(halves)).shape == (64, 4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_collisions": 3}, "power of two .* Received: num_collisions=3"),
        ({"num_collisions": 2**31}, "Received: num_collisions=2147483648"),
        ({"merge": "mean"}, "`merge` must be one of .* Received: merge='mean'"),
        ({"qr_combiner": "max"}, "Received: qr_combiner='max'"),
        ({"output_dim": 0}, "Received: output_dim=0"),
        ({"merge": "concat", "output_dim": 3}, "even .* Received: output_dim=3"),
        ({"half_buckets": 2**33}, "Received: half_buckets=8589934592"),
        ({"half_buckets": 3 * 2**16}, "power of two .* Received: half_buckets=196608"),
        ({"num_collisions": 2**10, "half_buckets": 2**8}, "half_buckets=256, num_collisions"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UnlimitedVocabEmbedding(**{"output_dim": 4, **kwargs})


def test_rejects_input_without_two_halves():
    with pytest.raises(ValueError, match="2 hash halves"):
        UnlimitedVocabEmbedding(4, num_collisions=2**16)(np.zeros((3, 3), "int64"))


def test_config_and_save_load(config_round_trip, save_load_round_trip):
    config_round_trip(
        UnlimitedVocabEmbedding(8, num_collisions=2**10, merge="concat", qr_combiner="multiply")
    )
    config_round_trip(UnlimitedVocabEmbedding(8, num_collisions=2**6, half_buckets=2**12))
    halves = keras.Input((3, 2), dtype="int64")
    out = UnlimitedVocabEmbedding(4, num_collisions=2**16, embeddings_initializer="random_normal")(
        halves
    )
    ids = hash_to_halves(np.array([KEYS[:3], KEYS[1:]]))
    save_load_round_trip(keras.Model(halves, out), ids)


def test_the_layer_reads_the_rows_of_unlimited_rows():
    """Each table row holds its own index (concat of 4 one-wide tables), so the output is the four
    rows looked up: they are `unlimited_rows`, for uint32-range and int32 halves alike."""
    m, buckets = 2**6, 2**12
    layer = UnlimitedVocabEmbedding(
        4, num_collisions=m, half_buckets=buckets, merge="concat", qr_combiner="concat"
    )
    layer.build((None, 2))
    for half in layer.halves:
        half.quotient_embeddings.assign(np.arange(buckets // m, dtype="float32")[:, None])
        half.remainder_embeddings.assign(np.arange(m, dtype="float32")[:, None])
    hashes = murmur_int64([f"member:{i}" for i in range(500)])
    for halves in (int32_halves(hashes), hash_to_halves([f"member:{i}" for i in range(500)])):
        rows = _np(unlimited_rows(halves, m, buckets))
        np.testing.assert_array_equal(_np(layer(halves)), rows)
    assert rows.min() == 0 and rows[:, 0].max() == buckets // m - 1 and rows[:, 1].max() == m - 1
    # by hand: hi = 3·2^12 + 2·64 + 5 → (q, r) = (2, 5) in a 4096 range; lo = -1 → (63, 63)
    np.testing.assert_array_equal(_np(unlimited_rows(np.array([[3 * 4096 + 133, -1]]), m, buckets)),
                                  [[2, 5, 63, 63]])  # fmt: skip


def test_id_halves_index_masks_the_padding_pair_only():
    ids = np.array([[[-1, -1], [5, -1], [-1, 7], [2**32 - 1, 2**32 - 2]]], dtype=np.int64)
    halves, mask = id_halves_index(ids)
    np.testing.assert_array_equal(_np(mask), [[0.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(_np(halves), [[[0, 0], [5, -1], [-1, 7], [-1, -2]]])

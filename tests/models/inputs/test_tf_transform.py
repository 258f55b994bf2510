"""Tests for models.inputs.tf_transform: the one feature transform's pieces, by hand."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.inputs.spec import OOV_INDEX, RECENCY_DECAY
from models.inputs.tf_transform import (
    as_ragged,
    history_affinity,
    keep_first,
    keep_last,
    pad_front,
    vocabulary_index,
)
from spark.schemas import ACTIONS

CLICK, LIKE = ACTIONS.index("click"), ACTIONS.index("like")


def test_history_affinity_by_hand():
    # author 7 seen twice (a click 2 steps ago, a like just now) in a 3-entry history
    authors = np.array([7, 9])
    history = np.array([[-1, 7, 3, 7], [-1, -1, -1, -1]])
    actions = np.array([[-1, CLICK, LIKE, LIKE], [-1, -1, -1, -1]], dtype=np.int32)
    got = history_affinity(tf.constant(authors), tf.constant(history), tf.constant(actions))
    expected = [
        [np.log1p(2), np.log1p(1), RECENCY_DECAY**2 + 1.0, np.log1p(3)],
        [0.0, 0.0, 0.0, 0.0],
    ]
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_history_affinity_ignores_front_padding_and_author_minus_one():
    def affinity(author, hist, actions):
        return history_affinity(tf.constant([author]), tf.constant([hist]), tf.constant([actions]))

    padded = affinity(3, [-1, -1, 3, 3], [-1, -1, 0, 1]).numpy()
    np.testing.assert_allclose(affinity(3, [3, 3], [0, 1]).numpy(), padded)
    # a (malformed) author id of -1 must not match the padding
    np.testing.assert_array_equal(affinity(-1, [-1, -1], [-1, -1]).numpy()[0, :3], 0)


def test_vocabulary_index_is_one_based_with_an_oov_bucket():
    vocabulary = ("text", "video", "job")
    values = tf.constant(["video", "text", "hologram", "job", ""])
    assert vocabulary_index(values, vocabulary).numpy().tolist() == [2, 1, OOV_INDEX, 3, OOV_INDEX]
    assert vocabulary_index(values, ()).numpy().tolist() == [OOV_INDEX] * 5


def test_list_helpers_keep_first_keep_last_and_pad():
    rows = tf.ragged.constant([[1, 2, 3, 4], [5], []], dtype=tf.int64)
    np.testing.assert_array_equal(keep_first(rows, 2), [[1, 2], [5, -1], [-1, -1]])
    np.testing.assert_array_equal(
        pad_front(keep_last(rows, 3), 3), [[2, 3, 4], [-1, -1, 5], [-1] * 3]
    )
    # padded dense input (serving) loses its padding; sparse input (ATDS) is made ragged
    dense = tf.constant([["", "a", "b"], ["", "", "c"]])
    assert as_ragged(dense).to_list() == [[b"a", b"b"], [b"c"]]
    sparse = tf.sparse.from_dense(tf.constant([[7, 0], [0, 0]], tf.int64))
    assert as_ragged(sparse).to_list() == [[7], []]

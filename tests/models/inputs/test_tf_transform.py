"""Tests for models.inputs.tf_transform: the one feature transform's pieces, by hand."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.inputs.spec import OOV_INDEX, RECENCY_DECAY
from models.inputs.tf_transform import (
    compact,
    history_affinity,
    padded,
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


def test_list_columns_compact_to_the_first_or_last_items_whatever_their_form():
    rows = [[1, 2, 3, 4], [5], []]
    forms = {
        "ragged": tf.ragged.constant(rows, dtype=tf.int64),
        "sparse": tf.ragged.constant(rows, dtype=tf.int64).to_sparse(),
        "padded in front": tf.constant([[1, 2, 3, 4], [-1, -1, -1, 5], [-1] * 4], tf.int64),
        "padded at the end": tf.constant([[1, 2, 3, 4], [5, -1, -1, -1], [-1] * 4], tf.int64),
    }
    for form, values in forms.items():
        dense, mask = padded(values)
        first = compact(dense, mask, 2, "first").numpy()
        np.testing.assert_array_equal(first, [[1, 2], [5, -1], [-1, -1]], err_msg=form)
        last = compact(dense, mask, 3, "last").numpy()
        np.testing.assert_array_equal(last, [[2, 3, 4], [-1, -1, 5], [-1] * 3], err_msg=form)
        wide = compact(dense, mask, 6, "last").numpy()
        np.testing.assert_array_equal(wide[0], [-1, -1, 1, 2, 3, 4], err_msg=form)
    strings, mask = padded(tf.constant([["", "a", "b"], ["", "", "c"]]))
    np.testing.assert_array_equal(mask.numpy(), [[False, True, True], [False, False, True]])

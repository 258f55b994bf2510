"""Tests for models.inputs.tf_transform: the TF twins of feature_spec's transforms, by hand and vs numpy."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from models.inputs.spec import RECENCY_DECAY
from models.inputs.spec import history_affinity as numpy_history_affinity
from models.inputs.tf_transform import history_affinity, vocabulary_index
from spark.world_config import ACTIONS, CONTENT_TYPES

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
    np.testing.assert_array_equal(got.numpy(), numpy_history_affinity(authors, history, actions))


def test_history_affinity_equals_numpy_on_random_histories():
    rng = np.random.default_rng(0)
    history = rng.integers(-1, 6, size=(200, 12))
    actions = np.where(history >= 0, rng.integers(0, len(ACTIONS), size=history.shape), -1)
    authors = rng.integers(0, 6, size=200)
    got = history_affinity(
        tf.constant(authors), tf.constant(history), tf.constant(actions.astype(np.int32))
    )
    np.testing.assert_array_equal(got.numpy(), numpy_history_affinity(authors, history, actions))


def test_vocabulary_index_and_unknown_values():
    values = tf.constant(["video", "text", "job"])
    assert vocabulary_index(values, CONTENT_TYPES, "content_type").numpy().tolist() == [
        CONTENT_TYPES.index("video"),
        CONTENT_TYPES.index("text"),
        CONTENT_TYPES.index("job"),
    ]
    with pytest.raises(tf.errors.InvalidArgumentError, match="column `content_type`"):
        vocabulary_index(tf.constant(["text", "hologram"]), CONTENT_TYPES, "content_type")

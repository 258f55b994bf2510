"""`models.inputs.spec`'s transforms in TensorFlow ops, shared by the SavedModel serving signature
(`models.serving.saved_model`) and the ATDS training input (`models.inputs.atds`), so that both compute the
model inputs exactly as the numpy path does (the tests compare all three).
"""

from __future__ import annotations

import tensorflow as tf

from models.inputs.spec import RECENCY_DECAY
from spark.world_config import ACTIONS

_CLICK_ACTION = ACTIONS.index("click")  # history actions other than click are contributions


def history_affinity(
    author_ids: tf.Tensor, hist_author_ids: tf.Tensor, hist_actions: tf.Tensor
) -> tf.Tensor:
    """`feature_spec.history_affinity` in TF ops: float32 [b, 4] (`AFFINITY_FEATURES`), with the
    math in float64 like the numpy path:

        [log1p(#matches), log1p(#contribution matches), Σ_j match_j · decay^{steps ago_j},
         log1p(#history entries)]

    Args:
        author_ids: int [b], the candidate post's author.
        hist_author_ids: int [b, L], most recent last, -1 padded in front.
        hist_actions: int32 [b, L], aligned with `hist_author_ids` (index into `ACTIONS`).
    """
    hist = tf.cast(hist_author_ids, tf.int64)
    author = tf.expand_dims(tf.cast(author_ids, tf.int64), 1)
    match = tf.logical_and(tf.equal(hist, author), hist >= 0)
    contribution = tf.logical_and(match, tf.not_equal(hist_actions, _CLICK_ACTION))
    steps_ago = tf.cast(tf.range(tf.shape(hist)[1] - 1, -1, -1), tf.float64)
    decay = tf.pow(tf.constant(RECENCY_DECAY, tf.float64), steps_ago)

    def count(mask: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.cast(mask, tf.float64), axis=1)

    columns = (
        tf.math.log1p(count(match)),
        tf.math.log1p(count(contribution)),
        tf.reduce_sum(tf.cast(match, tf.float64) * decay, axis=1),
        tf.math.log1p(count(hist >= 0)),
    )
    return tf.cast(tf.stack(columns, axis=1), tf.float32)


def vocabulary_index(values: tf.Tensor, vocabulary: tuple[str, ...], column: str) -> tf.Tensor:
    """int32 index of each string of `values` in `vocabulary`; an unknown string fails the op
    with a message naming `column` and the vocabulary."""
    matches = tf.equal(tf.expand_dims(values, 1), tf.constant(vocabulary)[tf.newaxis, :])
    known = tf.debugging.assert_equal(
        tf.reduce_all(tf.reduce_any(matches, axis=1)),
        True,
        message=f"column `{column}` has values outside {list(vocabulary)}; map them to a known "
        f"{column} upstream",
    )
    with tf.control_dependencies([known]):
        return tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32)

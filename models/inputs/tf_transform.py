"""The one feature transform: raw example columns -> the feed model's inputs, in TensorFlow ops.

Built from the declarations of `models.inputs.spec` and used by every path that feeds a model:
the ATDS training input (`models.inputs.atds`, list columns arrive as `tf.SparseTensor`), the
served SavedModel (`models.serving.saved_model`, list columns arrive padded: "" or -1), and the
pandas path (`spec.examples_to_inputs`, via `raw_from_frame`, list columns as `tf.RaggedTensor`).
Every list column is first made ragged without its padding, so the three give identical inputs.

`raw_to_inputs(raw, spec)`:

* ID columns: string IDs are hashed (`murmur.hash_string_ids`); integer IDs are used as given
  (``id_hash="none"``) or written as ``"<namespace>:<id>"`` and hashed (``"murmur"``). With the
  spec's `id_halves` the whole 64-bit hash is kept and every ID input ends as its two int32
  halves [..., 2] (`murmur.id_halves`), after the affinity features are computed on the hashes.
* categorical columns: 1 + the index of the value in the spec's vocabulary, 0 when it is not in
  it (the out-of-vocabulary bucket; unseen content types or platforms train and serve).
* hashtags: the first `max_hashtags`, -1 padded at the end; history (post IDs, author IDs, hashed
  like the IDs of their namespace, and actions): the last `history_length` steps, -1 padded in
  front.
* dense: each `DenseFeature`'s transform in float64, then float32.
* affinity: `history_affinity` of the candidate author against the kept history.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import tensorflow as tf

from models.inputs.murmur import hash_string_ids, id_halves
from models.inputs.spec import (
    CATEGORICAL,
    DENSE,
    HISTORY_ID_COLUMNS,
    ID_COLUMNS,
    LIST_COLUMNS,
    OOV_INDEX,
    PAD_ID,
    RECENCY_DECAY,
    SCALAR_COLUMNS,
    InputSpec,
)
from spark.schemas import ACTIONS

_CLICK_ACTION = ACTIONS.index("click")  # history actions other than click are contributions
RawColumn = tf.Tensor | tf.RaggedTensor | tf.SparseTensor


def raw_to_inputs(
    raw: Mapping[str, RawColumn], spec: InputSpec, *, validate: bool = False
) -> dict[str, tf.Tensor]:
    """The model inputs of raw columns (see the module docstring), in TensorFlow ops.

    Args:
        raw: the `spec.RAW_COLUMNS`; scalars as [n] tensors, list columns as [n, None]
            ragged, sparse or padded dense tensors (padding "" or -1 is dropped).
        spec: the model's `InputSpec`.
        validate: fail (InvalidArgumentError naming the feature) on NaN or infinite dense values.
    """
    murmur, full = spec.id_hash == "murmur", spec.id_halves
    inputs: dict[str, tf.Tensor] = {}
    for key, (column, namespace) in ID_COLUMNS.items():
        inputs[key] = model_ids(raw[column], namespace, murmur, full)
    for key, column in CATEGORICAL.items():
        inputs[key] = vocabulary_index(raw[column], spec.vocabulary(column))
    for key, column in SCALAR_COLUMNS.items():
        inputs[key] = tf.cast(raw[column], tf.int32)
    hashtags, mask = padded(raw["hashtag_ids"])
    inputs["hashtag_ids"] = compact(tf.cast(hashtags, tf.int64), mask, spec.max_hashtags, "first")
    for column, namespace in HISTORY_ID_COLUMNS.items():
        history, mask = padded(raw[column])
        history = model_ids(history, namespace, murmur, full)
        inputs[column] = compact(history, mask, spec.history_length, "last")
    actions, mask = padded(raw["hist_actions"])
    inputs["hist_actions"] = compact(tf.cast(actions, tf.int32), mask, spec.history_length, "last")
    inputs["dense"] = dense_matrix(raw, validate)
    history = inputs["hist_author_ids"]
    inputs["affinity"] = history_affinity(
        inputs["author_id"],
        history,
        inputs["hist_actions"],
        present=tf.not_equal(history, PAD_ID) if full else None,
    )
    if full:
        for key in (*ID_COLUMNS, *HISTORY_ID_COLUMNS):
            inputs[key] = id_halves(inputs[key])
    return inputs


def model_ids(values: tf.Tensor, namespace: str, murmur: bool, full: bool = False) -> tf.Tensor:
    """int64 model IDs of raw IDs: string IDs hashed; integer IDs as given, or, with `murmur`,
    written as ``"<namespace>:<id>"`` and hashed (each distinct ID once); with `full` the hash
    keeps all 64 bits (`hash_string_ids`). Negative IDs and "" are padding and stay -1."""
    if values.dtype == tf.string:
        if not murmur:
            raise ValueError(
                "string IDs need a model with id_hash='murmur'; this one takes integer IDs"
            )
        return hash_string_ids(values, full)
    ids = tf.cast(values, tf.int64)
    if not murmur:
        return ids
    unique, index = tf.unique(tf.reshape(ids, [-1]))
    strings = tf.where(
        unique >= 0,
        tf.strings.join([tf.constant(f"{namespace}:"), tf.strings.as_string(unique)]),
        tf.constant(""),
    )
    return tf.reshape(tf.gather(hash_string_ids(strings, full), index), tf.shape(ids))


def vocabulary_index(values: tf.Tensor, vocabulary: tuple[str, ...]) -> tf.Tensor:
    """int32 [n]: 1 + the index of each string in `vocabulary`, `OOV_INDEX` (0) if absent."""
    values = tf.convert_to_tensor(values, tf.string)
    if not vocabulary:
        return tf.fill(tf.shape(values), tf.constant(OOV_INDEX, tf.int32))
    matches = tf.equal(tf.expand_dims(values, 1), tf.constant(vocabulary)[tf.newaxis, :])
    index = tf.argmax(tf.cast(matches, tf.int32), axis=1, output_type=tf.int32) + 1
    return tf.where(tf.reduce_any(matches, axis=1), index, OOV_INDEX)


def padded(values: RawColumn) -> tuple[tf.Tensor, tf.Tensor]:
    """A list column as a dense [n, W] tensor and the mask of its real items: a ragged or sparse
    tensor's items (any value), a padded dense tensor's non-padding items ("" or negative)."""
    if isinstance(values, tf.RaggedTensor):
        dense = values.to_tensor(default_value="" if values.dtype == tf.string else PAD_ID)
        return dense, tf.sequence_mask(values.row_lengths(), tf.shape(dense)[1])
    if isinstance(values, tf.SparseTensor):
        fill = "" if values.dtype == tf.string else tf.cast(PAD_ID, values.dtype)
        present = tf.SparseTensor(
            values.indices, tf.ones_like(values.values, tf.bool), values.dense_shape
        )
        return tf.sparse.to_dense(values, fill), tf.sparse.to_dense(present, False)
    values = tf.convert_to_tensor(values)
    return values, tf.not_equal(values, "") if values.dtype == tf.string else values >= 0


def compact(values: tf.Tensor, mask: tf.Tensor, width: int, keep: str) -> tf.Tensor:
    """[n, width]: each row's masked items in order, keeping the first `width` of them padded at
    the end with -1 (``keep="first"``), or the last `width` padded in front (``"last"``)."""
    present = tf.cast(mask, tf.int64)
    order = tf.cumsum(present, axis=1, exclusive=True)  # 0-based rank among the row's items
    if keep == "last":
        order = order + width - tf.reduce_sum(present, axis=1, keepdims=True)
    kept = tf.where(mask & (order >= 0) & (order < width))
    target = tf.stack([kept[:, 0], tf.gather_nd(order, kept)], axis=1)
    empty = tf.fill(tf.stack([tf.shape(values, tf.int64)[0], width]), tf.cast(PAD_ID, values.dtype))
    return tf.tensor_scatter_nd_update(empty, target, tf.gather_nd(values, kept))


def dense_matrix(raw: Mapping[str, tf.Tensor], validate: bool = False) -> tf.Tensor:
    """float32 [n, len(DENSE)]: each declared transform, computed in float64."""
    columns = []
    for feature in DENSE:
        x = tf.cast(raw[feature.column], tf.float64)
        if feature.transform == "log1p":
            x = tf.math.log1p(x)
        elif feature.transform == "per_day":
            x = x / 24.0
        if validate:
            x = tf.debugging.assert_all_finite(
                x,
                f"dense feature `{feature.name}` (column `{feature.column}`) has NaN or infinite "
                "values; fill or drop them upstream",
            )
        columns.append(x)
    return tf.cast(tf.stack(columns, axis=1), tf.float32)


def history_affinity(
    author_ids: tf.Tensor,
    hist_author_ids: tf.Tensor,
    hist_actions: tf.Tensor,
    present: tf.Tensor | None = None,
) -> tf.Tensor:
    """float32 [n, 4] `AFFINITY_FEATURES` (math in float64):

        [log1p(#matches), log1p(#contribution matches), Σ_j match_j · decay^{steps ago_j},
         log1p(#history entries)]

    Args:
        author_ids: int [n], the candidate post's author.
        hist_author_ids: int [n, L], most recent last, -1 padded in front.
        hist_actions: int32 [n, L], aligned with `hist_author_ids` (index into `ACTIONS`).
        present: bool [n, L], the real history entries; None: the non-negative IDs (full 64-bit
            hashes are negative half the time, so their caller passes ``ids != -1``).
    """
    hist = tf.cast(hist_author_ids, tf.int64)
    author = tf.expand_dims(tf.cast(author_ids, tf.int64), 1)
    present = hist >= 0 if present is None else present
    match = tf.logical_and(tf.equal(hist, author), present)
    contribution = tf.logical_and(
        match, tf.not_equal(tf.cast(hist_actions, tf.int32), _CLICK_ACTION)
    )
    steps_ago = tf.cast(tf.range(tf.shape(hist)[1] - 1, -1, -1), tf.float64)
    decay = tf.pow(tf.constant(RECENCY_DECAY, tf.float64), steps_ago)

    def count(mask: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.cast(mask, tf.float64), axis=1)

    columns = (
        tf.math.log1p(count(match)),
        tf.math.log1p(count(contribution)),
        tf.reduce_sum(tf.cast(match, tf.float64) * decay, axis=1),
        tf.math.log1p(count(present)),
    )
    return tf.cast(tf.stack(columns, axis=1), tf.float32)


def raw_from_frame(df: pd.DataFrame) -> dict[str, RawColumn]:
    """The raw columns of TRAINING_EXAMPLE rows as tensors (list columns ragged)."""
    raw: dict[str, RawColumn] = {}
    for column, _ in ID_COLUMNS.values():
        raw[column] = tf.constant(df[column].to_numpy(np.int64))
    for column in CATEGORICAL.values():
        values = df[column].astype(object).where(df[column].notna(), "")
        raw[column] = tf.constant(values.astype(str).to_numpy(dtype=object).astype(bytes))
    for column in SCALAR_COLUMNS.values():
        raw[column] = tf.constant(df[column].to_numpy(np.int64))
    for column in LIST_COLUMNS:
        raw[column] = ragged_from_lists(df[column])
    for feature in DENSE:
        raw[feature.column] = tf.constant(df[feature.column].to_numpy(np.float64))
    return raw


def ragged_from_lists(values: pd.Series) -> tf.RaggedTensor:
    """int64 [n, None] ragged of a column of lists / arrays (None or NaN: an empty row)."""
    rows = [
        np.asarray(v, dtype=np.int64).reshape(-1)
        if isinstance(v, list | tuple | np.ndarray)
        else np.zeros(0, np.int64)
        for v in values.to_numpy()
    ]
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    flat = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    return tf.RaggedTensor.from_row_lengths(flat, lengths)

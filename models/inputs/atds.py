"""tf.data input from the Avro training shards (ATDS) to the feed model's inputs and labels (§13).

The paper's trainer reads Avro through LinkedIn's Avro Tensor Dataset (`ATDSDataset`, 50% less
end-to-end training time, paper-notes §13) and moves last-mile transforms (filling empty rows,
to-dense conversion) into the input pipeline instead of the training step. This module is that
pipeline for the feed model: `atds_feed_dataset` reads the shards of `training_examples`
(`spark.avro_shards`, written by the Spark tasks) and maps every batch, in TensorFlow ops on the
tf.data threads, to exactly what `models.inputs.spec.examples_to_inputs` and `labels_from` build
in numpy from the same rows:

* member_id, author_id (int64); seniority, industry, country, position, hour (int32): the
  dense scalar columns;
* content_type, platform (int32): the index of the string in `CONTENT_TYPES` / `PLATFORMS`;
* hashtag_ids (int64 [b, max_hashtags]): the varlen column's first `max_hashtags` items, -1
  padded at the end;
* hist_author_ids (int64), hist_actions (int32) [b, history_length]: the varlen columns' last
  `history_length` items, -1 padded in front;
* dense (float32 [b, 4]): `DENSE_FEATURES`, computed in float64 then rounded, as in numpy;
* affinity (float32 [b, 4]): `AFFINITY_FEATURES` of the candidate author against the kept history;

and the labels as float32 vectors keyed by `LABELS`. With ``id_hash="murmur"`` (the graph's
model, `FeedModelConfig.id_hash`) member_id, author_id and hist_author_ids are the namespaced
string IDs hashed as `feature_spec.hash_ids` does (``murmur64("member:1234") & (2^31 - 1)``,
padding stays -1), with `models.serving.saved_model.hash_string_ids`, the TensorFlow MurmurHash3 the served
model uses (bit-identical to `mmh3`); the affinity counts then compare hashed IDs, as in numpy. So
``atds_feed_dataset(paths, b, id_hash=config.id_hash)`` yields `feed_model.feed_inputs(rows,
config)`. A string outside the vocabulary or a NaN dense feature fails the iteration with
`InvalidArgumentError` naming the column (the numpy path raises `ValueError` for the same rows).

`read_feed_examples` is what the trainer uses (`models.training.cli --examples-format avro`): ATDS
decodes on the tf.data threads, the same traced transform (`feed_batch_transform`) is applied to
each decoded batch as it arrives, and the batches are concatenated into the numpy arrays
`models.training.loop.train_feed_model` takes, so the training loop stays the one loop both input
formats share. It calls the transform outside `Dataset.map` because on this CPU build the same
traced function ran about 7x slower inside a tf.data map (0.7 s against 0.1 s for a demo day of
~18k rows; the ATDS decode itself takes 0.1 s).

Example:

    dataset = atds_feed_dataset(avro_shard_files([shard_dir]), batch_size=512, id_hash="murmur")
    for inputs, labels in dataset:
        model.train_on_batch(inputs, labels)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from models.inputs.spec import (
    DENSE_FEATURES,
    HISTORY_LENGTH,
    ID_HASHES,
    ID_NAMESPACES,
    MAX_HASHTAGS,
    PAD_ID,
    check_input_arguments,
)
from models.serving.saved_model import hash_string_ids
from models.inputs.tf_transform import history_affinity, vocabulary_index
from spark.avro_shards import atds_dataset, atds_features
from spark.schemas import LABELS
from spark.world_config import CONTENT_TYPES, PLATFORMS

# model input key -> Avro column, for the single-valued integer features (int64 or int32)
_SCALAR_COLUMNS: dict[str, tuple[str, tf.DType]] = {
    "member_id": ("member_id", tf.int64),
    "author_id": ("author_id", tf.int64),
    "seniority": ("member_seniority", tf.int32),
    "industry": ("member_industry", tf.int32),
    "country": ("member_country", tf.int32),
    "position": ("position", tf.int32),
    "hour": ("hour", tf.int32),
}


def atds_feed_dataset(
    paths: Sequence[Path | str],
    batch_size: int,
    *,
    history_length: int = HISTORY_LENGTH,
    max_hashtags: int = MAX_HASHTAGS,
    split: str | None = None,
    id_hash: str = "none",
    shuffle_buffer_size: int = 0,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of (feed model inputs, labels) read from Avro shards by `ATDSDataset`.

    Args:
        paths: shard files of `training_examples` (schema version checked on read).
        batch_size: examples per ATDS batch.
        history_length: history steps kept, as in `examples_to_inputs`.
        max_hashtags: hashtags kept per post, as in `examples_to_inputs`.
        split: keep only rows whose `split` equals this ("train", "holdout", "random_bucket"),
            masked per batch, so batches can be smaller than `batch_size`; None keeps every row.
        id_hash: "none" (integer IDs as given) or "murmur" (namespaced string IDs hashed with
            MurmurHash3, `feature_spec.hash_ids`); pass the model's `FeedModelConfig.id_hash`.
        shuffle_buffer_size: ATDS block-level shuffle buffer in examples (0: file order).
        num_parallel_calls: threads for decoding and for the transform (None: sequential).
        drop_remainder: drop the last, smaller ATDS batch.

    Returns:
        A dataset of `(inputs, labels)`: `inputs` keyed by `feature_spec.INPUT_KEYS`, `labels`
        keyed by `LABELS` (float32 [b]), prefetched.

    Raises:
        ValueError: `batch_size`, `history_length` or `max_hashtags` not positive, an unknown
            `id_hash`, no paths, or a shard written with another Avro schema version.
    """
    transform = feed_batch_transform(history_length, max_hashtags, split, id_hash)
    batches = atds_dataset(
        paths,
        batch_size,
        shuffle_buffer_size=shuffle_buffer_size,
        num_parallel_calls=num_parallel_calls,
        drop_remainder=drop_remainder,
    )
    return batches.map(transform, num_parallel_calls=num_parallel_calls).prefetch(tf.data.AUTOTUNE)


def feed_batch_transform(
    history_length: int = HISTORY_LENGTH,
    max_hashtags: int = MAX_HASHTAGS,
    split: str | None = None,
    id_hash: str = "none",
) -> tf.types.experimental.PolymorphicFunction:
    """`batch_to_model_inputs` with these arguments as one `tf.function` over an ATDS batch.

    Traced once per process and argument set (for any batch size: its signature is the element
    spec of `atds_dataset`, batch dimension unknown), not once per dataset as a plain Python
    function given to `Dataset.map` would be (about 1 s with the Murmur hash on 2 cores).

    Raises:
        ValueError: `history_length` or `max_hashtags` not positive, or an unknown `id_hash`.
    """
    check_input_arguments(history_length, max_hashtags, id_hash)
    return _traced_transform(history_length, max_hashtags, split, id_hash)


@functools.cache
def _traced_transform(
    history_length: int, max_hashtags: int, split: str | None, id_hash: str
) -> tf.types.experimental.PolymorphicFunction:
    transform = functools.partial(
        batch_to_model_inputs,
        history_length=history_length,
        max_hashtags=max_hashtags,
        split=split,
        id_hash=id_hash,
    )
    return tf.function(transform, input_signature=[_atds_batch_spec()])


def _atds_batch_spec() -> dict[str, tf.TypeSpec]:
    """The element spec of `atds_dataset`: dense [batch] scalars, sparse [batch, None] varlens."""
    from tensorflow_io.python.experimental.atds.features import DenseFeature, VarlenFeature

    spec: dict[str, tf.TypeSpec] = {}
    for name, feature in atds_features().items():
        if isinstance(feature, VarlenFeature):
            spec[name] = tf.SparseTensorSpec([None, None], feature.dtype)
        elif isinstance(feature, DenseFeature) and not feature.shape:
            spec[name] = tf.TensorSpec([None], feature.dtype)
        else:
            raise ValueError(
                f"ATDS feature `{name}` ({feature}) is neither a rank-0 DenseFeature nor a "
                "VarlenFeature; give it a batch spec in `_atds_batch_spec`"
            )
    return spec


def batch_to_model_inputs(
    batch: dict[str, tf.Tensor | tf.SparseTensor],
    history_length: int = 20,
    max_hashtags: int = 3,
    split: str | None = None,
    id_hash: str = "none",
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """One ATDS batch (`spark.avro_shards.atds_dataset`) -> (model inputs, labels), in TF ops.

    The same arrays as `feature_spec.examples_to_inputs(rows, history_length, max_hashtags,
    id_hash)` and `feature_spec.labels_from(rows)` for the batch's rows of `split` (see the module
    docstring). Rows are masked to `split` before the IDs are hashed, so only kept rows are hashed.
    """
    if id_hash not in ID_HASHES:
        raise ValueError(f"`id_hash` must be one of {ID_HASHES}. Received: id_hash={id_hash!r}")
    inputs: dict[str, tf.Tensor] = {}
    for key, (column, dtype) in _SCALAR_COLUMNS.items():
        inputs[key] = tf.cast(batch[column], dtype)
    inputs["content_type"] = vocabulary_index(batch["content_type"], CONTENT_TYPES, "content_type")
    inputs["platform"] = vocabulary_index(batch["platform"], PLATFORMS, "platform")
    inputs["hashtag_ids"] = _keep_first(batch["hashtag_ids"], max_hashtags)
    inputs["hist_author_ids"] = _keep_last(batch["hist_author_ids"], history_length)
    inputs["hist_actions"] = tf.cast(_keep_last(batch["hist_actions"], history_length), tf.int32)
    inputs["dense"] = _dense_matrix(batch)
    labels = {head: tf.cast(batch[head], tf.float32) for head in LABELS}
    if split is not None:
        keep = tf.equal(batch["split"], split)
        inputs = {key: tf.boolean_mask(value, keep) for key, value in inputs.items()}
        labels = {key: tf.boolean_mask(value, keep) for key, value in labels.items()}
    if id_hash == "murmur":
        for key, namespace in ID_NAMESPACES.items():
            inputs[key] = hash_ids(inputs[key], namespace)
    inputs["affinity"] = history_affinity(
        inputs["author_id"], inputs["hist_author_ids"], inputs["hist_actions"]
    )
    return inputs, labels


def hash_ids(ids: tf.Tensor, namespace: str) -> tf.Tensor:
    """`feature_spec.hash_ids` in TF ops: int64 IDs of any shape -> their model IDs, -1 kept.

    Each ID becomes the string ``"<namespace>:<id>"`` (a negative ID, the padding, becomes "")
    and `models.serving.saved_model.hash_string_ids` gives ``murmur64(string) & (2^31 - 1)`` ("" -> -1).
    Like the numpy version, each distinct ID of the batch is hashed once.
    """
    ids = tf.cast(ids, tf.int64)
    unique, index = tf.unique(tf.reshape(ids, [-1]))
    strings = tf.where(
        unique >= 0,
        tf.strings.join([tf.constant(f"{namespace}:"), tf.strings.as_string(unique)]),
        tf.constant(""),
    )
    return tf.reshape(tf.gather(hash_string_ids(strings), index), tf.shape(ids))


def avro_shard_files(paths: Sequence[Path | str]) -> list[Path]:
    """The Avro shard files of `paths`: a directory gives its `part-*.avro` files (sorted), a
    file itself; the order of `paths` is kept.

    Raises:
        FileNotFoundError: a path does not exist, or a directory holds no `part-*.avro` shard
            (the message names it and says to re-materialize `training_examples`).
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(
                f"Avro examples path {path} does not exist; materialize `training_examples` for "
                "that day (it writes the Parquet partition and its Avro shards)"
            )
        if path.is_dir():
            shards = sorted(path.glob("part-*.avro"))
            if not shards:
                raise FileNotFoundError(
                    f"no Avro shards (part-*.avro) in {path}; re-materialize `training_examples` "
                    "for that day to write them"
                )
            files.extend(shards)
        else:
            files.append(path)
    return files


def read_feed_examples(
    paths: Sequence[Path | str],
    *,
    split: str | None,
    id_hash: str = "none",
    batch_size: int = 4096,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every example of `split` in the Avro shards of `paths`, read by ATDS, as numpy arrays.

    The batches are concatenated in file order into one array per input and label: the arrays
    `feature_spec.examples_to_inputs(rows, id_hash=id_hash)` and `labels_from(rows)` build from
    the same rows in the same order, for the numpy training loop (`models.training.loop`).

    Args:
        paths: shard files or shard directories (`avro_shard_files`).
        split: keep rows whose `split` equals this; None keeps every row.
        id_hash: "none" or "murmur", the model's `FeedModelConfig.id_hash`.
        batch_size: examples per ATDS batch while reading (does not change the result).

    Raises:
        FileNotFoundError: a path is missing or holds no shards.
        ValueError: no row of `split` in the shards (names the paths), or a bad argument.
    """
    transform = feed_batch_transform(split=split, id_hash=id_hash)
    batches = atds_dataset(
        avro_shard_files(paths), batch_size, num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)
    inputs: dict[str, list[np.ndarray]] = {}
    labels: dict[str, list[np.ndarray]] = {}
    for batch in batches:
        batch_inputs, batch_labels = transform(batch)
        for key, value in batch_inputs.items():
            inputs.setdefault(key, []).append(value.numpy())
        for key, value in batch_labels.items():
            labels.setdefault(key, []).append(value.numpy())
    rows = sum(len(part) for part in labels.get(LABELS[0], []))
    if rows == 0:
        raise ValueError(
            f"no examples with split={split!r} in the Avro shards of {[str(p) for p in paths]}"
        )
    return (
        {key: np.concatenate(parts) for key, parts in inputs.items()},
        {key: np.concatenate(parts) for key, parts in labels.items()},
    )


def _keep_first(values: tf.SparseTensor, width: int) -> tf.Tensor:
    """int64 [b, width]: the first `width` items of each row, PAD_ID at the end."""
    ragged = tf.RaggedTensor.from_sparse(tf.cast(values, tf.int64))
    return ragged.to_tensor(default_value=PAD_ID, shape=[None, width])


def _keep_last(values: tf.SparseTensor, width: int) -> tf.Tensor:
    """int64 [b, width]: the last `width` items of each row, PAD_ID in front.

    Reversing the flat values and the row lengths reverses the rows and each row; `to_tensor`
    then keeps each reversed row's first `width` items (the original's last) padded at the end,
    and reversing both axes restores the order with the padding in front.
    """
    ragged = tf.RaggedTensor.from_sparse(tf.cast(values, tf.int64))
    reversed_rows = tf.RaggedTensor.from_row_lengths(
        tf.reverse(ragged.values, [0]), tf.reverse(ragged.row_lengths(), [0])
    )
    padded = reversed_rows.to_tensor(default_value=PAD_ID, shape=[None, width])
    return tf.reverse(padded, [0, 1])


def _dense_matrix(batch: dict[str, tf.Tensor]) -> tf.Tensor:
    """float32 [b, 4] `DENSE_FEATURES`, computed in float64 like the numpy path; NaN fails."""
    as_double = {
        column: tf.cast(batch[column], tf.float64)
        for column in ("member_log_connections", "length", "post_age_hours", "author_log_followers")
    }
    columns = {
        "member_log_connections": as_double["member_log_connections"],
        "log1p_length": tf.math.log1p(as_double["length"]),
        "post_age_days": as_double["post_age_hours"] / 24.0,
        "author_log_followers": as_double["author_log_followers"],
    }
    checks = [
        tf.debugging.assert_equal(
            tf.reduce_any(tf.math.is_nan(columns[name])),
            False,
            message=f"dense feature `{name}` has NaN values; fill or drop them upstream",
        )
        for name in DENSE_FEATURES
    ]
    with tf.control_dependencies(checks):
        return tf.cast(tf.stack([columns[name] for name in DENSE_FEATURES], axis=1), tf.float32)

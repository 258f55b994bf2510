"""tf.data input from the Avro training shards (ATDS) to the feed model's inputs and labels (§13).

The paper's trainer reads Avro through LinkedIn's Avro Tensor Dataset (`ATDSDataset`, 50% less
end-to-end training time, paper-notes §13) and moves last-mile transforms (filling empty rows,
to-dense conversion) into the input pipeline instead of the training step. This module is that
pipeline for the feed model: `atds_feed_dataset` reads the shards of `training_examples_avro`
(`spark.avro_shards`, written by the Spark tasks) and maps every batch through the one feature
transform (`models.inputs.tf_transform.raw_to_inputs`, the same code the pandas path and the
served model run), so ``atds_feed_dataset(paths, b, spec=config.input_spec())`` yields
`feed.feed_inputs(rows, config)`. A NaN or infinite dense feature fails the iteration with
`InvalidArgumentError` naming the feature; a content type or platform outside the model's
vocabulary maps to the out-of-vocabulary bucket.

The trainer streams (`models.inputs.stream.AvroExamples`: ATDS decode, this transform as a
parallel `Dataset.map`, shuffle buffer, batching, prefetch; no in-memory copy of the day).
`read_feed_examples` reads every example into numpy arrays instead (tests, evaluation); it calls
the transform outside `Dataset.map` because on this CPU build the same traced function ran about
7x slower inside a tf.data map (0.7 s against 0.1 s for a demo day of ~18k rows); the streaming
trainer accepts that cost because the map runs on the tf.data threads, overlapping training.

Example:

    dataset = atds_feed_dataset(avro_shard_files([shard_dir]), 512, spec=config.input_spec())
    for inputs, labels in dataset:
        model.train_on_batch(inputs, labels)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from models.inputs.spec import CATEGORICAL, InputSpec
from models.inputs.tf_transform import raw_to_inputs
from spark.avro_shards import atds_dataset, atds_features
from spark.schemas import LABELS


def atds_feed_dataset(
    paths: Sequence[Path | str],
    batch_size: int,
    *,
    spec: InputSpec,
    split: str | None = None,
    shuffle_buffer_size: int = 0,
    num_parallel_calls: int | None = tf.data.AUTOTUNE,
    drop_remainder: bool = False,
) -> tf.data.Dataset:
    """Batches of (feed model inputs, labels) read from Avro shards by `ATDSDataset`.

    Args:
        paths: shard files of `training_examples_avro` (schema version checked on read).
        batch_size: examples per ATDS batch.
        spec: the model's `InputSpec` (`FeedModelConfig.input_spec()`).
        split: keep only rows whose `split` equals this ("train", "holdout", "random_bucket"),
            masked per batch, so batches can be smaller than `batch_size`; None keeps every row.
        shuffle_buffer_size: ATDS block-level shuffle buffer in examples (0: file order).
        num_parallel_calls: threads for decoding and for the transform (None: sequential).
        drop_remainder: drop the last, smaller ATDS batch.

    Returns:
        A dataset of `(inputs, labels)`: `inputs` keyed by `spec.INPUT_KEYS`, `labels` keyed by
        `LABELS` (float32 [b]), prefetched.

    Raises:
        ValueError: `batch_size` not positive, no paths, or a shard written with another Avro
            schema version.
    """
    transform = feed_batch_transform(spec, split)
    batches = atds_dataset(
        paths,
        batch_size,
        shuffle_buffer_size=shuffle_buffer_size,
        num_parallel_calls=num_parallel_calls,
        drop_remainder=drop_remainder,
    )
    return batches.map(transform, num_parallel_calls=num_parallel_calls).prefetch(tf.data.AUTOTUNE)


@functools.cache
def feed_batch_transform(
    spec: InputSpec, split: str | None = None, validate: bool = True
) -> tf.types.experimental.PolymorphicFunction:
    """`batch_to_model_inputs` for `spec`, `split` and `validate` as one `tf.function` over an
    ATDS batch.

    Traced once per process and argument set (for any batch size: its signature is the element
    spec of `atds_dataset`, batch dimension unknown), not once per dataset as a plain Python
    function given to `Dataset.map` would be (about 1 s with the Murmur hash on 2 cores).
    """
    transform = functools.partial(batch_to_model_inputs, spec=spec, split=split, validate=validate)
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
    spec: InputSpec,
    split: str | None = None,
    validate: bool = True,
) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """One ATDS batch (`spark.avro_shards.atds_dataset`) -> (model inputs, labels), in TF ops:
    the batch through `raw_to_inputs` (which, with `validate`, fails on non-finite dense
    features, naming the feature), then its rows of `split` (all rows for None). The statistics
    pass of `models.inputs.stream` turns `validate` off to count the bad rows per column."""
    inputs = raw_to_inputs(batch, spec, validate=validate)
    labels = {head: tf.cast(batch[head], tf.float32) for head in LABELS}
    if split is not None:
        keep = tf.equal(batch["split"], split)
        inputs = {name: tf.boolean_mask(value, keep) for name, value in inputs.items()}
        labels = {name: tf.boolean_mask(value, keep) for name, value in labels.items()}
    return inputs, labels


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
    spec: InputSpec,
    split: str | None,
    batch_size: int = 4096,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Every example of `split` in the Avro shards of `paths`, read by ATDS, as numpy arrays.

    The batches are concatenated in file order into one array per input and label: the arrays
    `spec.examples_to_inputs(rows, spec)` and `labels_from(rows)` build from the same rows in the
    same order.

    Args:
        paths: shard files or shard directories (`avro_shard_files`).
        spec: the model's `InputSpec`.
        split: keep rows whose `split` equals this; None keeps every row.
        batch_size: examples per ATDS batch while reading (does not change the result).

    Raises:
        FileNotFoundError: a path is missing or holds no shards.
        ValueError: no row of `split` in the shards (names the paths), or a bad argument.
    """
    transform = feed_batch_transform(spec, split)
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


def read_categorical_frame(
    paths: Sequence[Path | str], *, split: str | None, batch_size: int = 8192
) -> pd.DataFrame:
    """The categorical columns (`spec.CATEGORICAL`) of the `split` rows of the Avro shards, as a
    DataFrame for `spec.learn_vocabularies` (decodes only those columns)."""
    columns = [*CATEGORICAL.values(), "split"]
    batches = atds_dataset(avro_shard_files(paths), batch_size, columns=columns)
    parts = [{name: value.numpy() for name, value in batch.items()} for batch in batches]
    frame = pd.DataFrame(
        {name: np.concatenate([part[name] for part in parts]) for name in columns}
        if parts
        else {name: [] for name in columns}
    )
    for name in columns:
        frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    return frame if split is None else frame[frame["split"] == split]


def categorical_frames(
    paths: Sequence[Path | str], *, split: str | None, batch_size: int = 8192
) -> Iterator[pd.DataFrame]:
    """`read_categorical_frame` one ATDS batch at a time, for `spec.learn_vocabularies` (which
    sums the counts over frames): memory is one batch, whatever the day's size."""
    columns = [*CATEGORICAL.values(), "split"]
    for batch in atds_dataset(avro_shard_files(paths), batch_size, columns=columns):
        frame = pd.DataFrame({name: batch[name].numpy() for name in columns})
        for name in columns:
            frame[name] = frame[name].map(lambda v: v.decode() if isinstance(v, bytes) else v)
        yield frame if split is None else frame[frame["split"] == split]

"""Training examples as a `tf.data` stream: per-rank sharding, one statistics pass, shuffle,
batching and prefetch (paper §13).

The paper's trainer gains 50% from the Avro Tensor Dataset, 20% from moving the last-mile
transform into an asynchronous input pipeline and 15% from prefetching batches to the GPU
(paper-notes §13). `train_feed_model` reads an `ExampleSource`:

* `AvroExamples`: the Avro shards of `training_examples_avro` decoded by ATDS, the one feature
  transform (`models.inputs.atds.feed_batch_transform`) as a parallel, order-preserving
  ``Dataset.map`` (num_parallel_calls=AUTOTUNE, deterministic), so decoding and transforming run
  on the tf.data threads while the model trains. Nothing holds the day in memory: peak memory is
  the shuffle buffer plus a few batches, whatever the day's size.
* `ArrayExamples`: numpy arrays already in memory (the Parquet path, tests), through
  ``Dataset.from_tensor_slices`` and the same shuffle/batch/prefetch.

`batched_rows` then applies, per rank: ``take(rows_per_rank)`` → ``shuffle(buffer, seed)`` →
``batch(batch_size)`` → ``prefetch`` (and ``prefetch_to_device`` when a GPU is visible).

Sharding over Horovod ranks (`ExampleSource.rank_rows`):

* Avro with at least as many shard files as ranks: rank r reads files r, r + N, r + 2N, ...
  (each rank decodes only its own files), provided the split is balanced (the smallest rank's
  rows ≥ `FILE_SHARD_BALANCE` × the mean); otherwise, or with fewer files than ranks, every rank
  reads every file and keeps rows i ≡ r (mod N) (``Dataset.shard(N, r)``).
* arrays: rows i ≡ r (mod N) (`shard_rows`).

Equal steps on every rank (a Horovod all-reduce deadlocks when one rank stops early): every rank
computes the same per-rank row counts (`rows_per_rank`: from the statistics pass, and for file
sharding from a cheap pass that decodes only the `split` column of each file) and takes
``min_r rows_r`` rows, so every rank runs ⌈min_r rows_r / batch_size⌉ steps per epoch; the few
rows a larger rank holds beyond the minimum are not trained on that epoch.

The statistics pass (`ExampleSource.statistics`, one streaming pass, cached; every Horovod rank
runs it over all the files, so all ranks get the same constants and counts without a collective,
at the cost of one extra decode-and-transform pass per rank) gives the row count,
the dense normalization constants (per-column mean and variance, combined chunk by chunk with
Chan et al.'s parallel update in float64 over chunks of `SCAN_BATCH` rows, so the Avro and the
in-memory paths give bit-identical constants for the same rows in the same order), the
out-of-vocabulary counts and the non-finite value counts per column, which the training loop
turns into its clear "NaN or infinite values in <column>" error before the first step.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import tensorflow as tf

from models.inputs.spec import (
    AFFINITY_FEATURES,
    CATEGORICAL,
    DENSE_FEATURES,
    INPUT_KEYS,
    OOV_INDEX,
    InputSpec,
)
from spark.schemas import LABELS

SCAN_BATCH = 4096
"""Rows per chunk of the statistics pass (fixed, so every path chunks the rows alike)."""
READ_BATCH = 4096
"""Rows per ATDS batch of the training stream (unbatched again before the shuffle)."""
FILE_SHARD_BALANCE = 0.9
"""File sharding is used when the smallest rank's rows are at least this share of the mean."""


@dataclasses.dataclass(frozen=True)
class ExampleStatistics:
    """What one pass over the training rows finds.

    Args:
        rows: training rows.
        dense_mean, dense_variance: per `DENSE_FEATURES` column (population variance).
        out_of_vocabulary: rows per categorical column in the OOV bucket.
        non_finite: rows holding NaN or ±inf, per dense/affinity column ("<feature>") and label
            ("label <head>"); only columns with at least one such row.
    """

    rows: int
    dense_mean: tuple[float, ...]
    dense_variance: tuple[float, ...]
    out_of_vocabulary: dict[str, int]
    non_finite: dict[str, int]


class ExampleSource(Protocol):
    """Training examples that `models.training.loop.train_feed_model` can stream."""

    def statistics(self) -> ExampleStatistics:
        """One pass over every training row (cached)."""
        ...

    def rows_per_rank(self, size: int) -> list[int]:
        """Rows each of `size` ranks would read with `rank_rows`."""
        ...

    def rank_rows(self, rank: int, size: int) -> tf.data.Dataset:
        """Rank `rank`'s rows as an unbatched dataset of (inputs, labels), in a fixed order."""
        ...


class _Moments:
    """Streaming per-column mean and M2 (sum of squared deviations), in float64.

    Chunks combine with Chan et al.'s update: for a chunk of n_c rows with mean μ_c and M2_c,
    δ = μ_c − μ, μ ← μ + δ·n_c/n', M2 ← M2 + M2_c + δ²·n·n_c/n' with n' = n + n_c.
    """

    def __init__(self, width: int) -> None:
        self.n = 0
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64)
        count = len(values)
        if count == 0:
            return
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite rows fail the run later
            mean = values.mean(axis=0)
            m2 = ((values - mean) ** 2).sum(axis=0)
            total = self.n + count
            delta = mean - self.mean
            self.mean = self.mean + delta * count / total
            self.m2 = self.m2 + m2 + delta**2 * self.n * count / total
        self.n = total

    @property
    def variance(self) -> np.ndarray:
        return self.m2 / max(self.n, 1)


def scan_chunks(chunks: Iterator[tuple[Mapping, Mapping]]) -> ExampleStatistics:
    """`ExampleStatistics` of (inputs, labels) chunks holding numpy arrays (or tensors) of
    `dense`, `affinity`, the categorical inputs and the labels."""
    moments = _Moments(len(DENSE_FEATURES))
    bad = np.zeros(len(DENSE_FEATURES) + len(AFFINITY_FEATURES) + len(LABELS), dtype=np.int64)
    oov = dict.fromkeys(CATEGORICAL, 0)
    for inputs, labels in chunks:
        dense = np.asarray(inputs["dense"], dtype=np.float64)
        affinity = np.asarray(inputs["affinity"], dtype=np.float64)
        heads = np.stack([np.asarray(labels[h], dtype=np.float64) for h in LABELS], axis=1)
        columns = np.concatenate([dense, affinity, heads], axis=1)
        bad += (~np.isfinite(columns)).sum(axis=0)
        moments.add(dense)
        for key in CATEGORICAL:
            oov[key] += int((np.asarray(inputs[key]) == OOV_INDEX).sum())
    names = [*DENSE_FEATURES, *AFFINITY_FEATURES, *(f"label {h}" for h in LABELS)]
    return ExampleStatistics(
        rows=moments.n,
        dense_mean=tuple(float(m) for m in moments.mean),
        dense_variance=tuple(float(v) for v in moments.variance),
        out_of_vocabulary=oov,
        non_finite={name: int(count) for name, count in zip(names, bad, strict=True) if count},
    )


def shard_rows(n: int, rank: int, size: int) -> np.ndarray:
    """Row indices of `rank`'s shard: i ≡ rank (mod size), truncated to ⌊n/size⌋ rows."""
    if not 0 <= rank < size:
        raise ValueError(f"rank must be in [0, {size}). Received: rank={rank}")
    per_rank = n // size
    if per_rank == 0:
        raise ValueError(f"{n} examples cannot be split over {size} ranks")
    return np.arange(rank, n, size)[:per_rank]


class ArrayExamples:
    """In-memory `models.inputs` arrays and `labels_from` labels as an `ExampleSource`.

    Args:
        inputs: arrays keyed by `INPUT_KEYS` (all the same length).
        labels: arrays keyed by `LABELS`, aligned with `inputs`.

    Raises:
        ValueError: a key is missing or the arrays differ in length.
    """

    def __init__(self, inputs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]):
        missing = [k for k in INPUT_KEYS if k not in inputs]
        missing += [h for h in LABELS if h not in labels]
        if missing:
            raise ValueError(f"training data is missing {missing}")
        self.inputs = {key: np.asarray(inputs[key]) for key in INPUT_KEYS}
        self.labels = {head: np.asarray(labels[head], dtype=np.float32) for head in LABELS}
        self.n = len(self.inputs["dense"])
        lengths = {key: len(value) for key, value in {**self.inputs, **self.labels}.items()}
        if set(lengths.values()) != {self.n}:
            raise ValueError(f"inputs and labels must have the same number of rows. Got {lengths}")

    @functools.cache  # noqa: B019 (one source object per training run)
    def statistics(self) -> ExampleStatistics:
        def chunks():
            for first in range(0, self.n, SCAN_BATCH):
                rows = slice(first, first + SCAN_BATCH)
                yield (
                    {key: value[rows] for key, value in self.inputs.items()},
                    {head: value[rows] for head, value in self.labels.items()},
                )

        return scan_chunks(chunks())

    def rows_per_rank(self, size: int) -> list[int]:
        return [self.n // size] * size

    def rank_rows(self, rank: int, size: int) -> tf.data.Dataset:
        rows = shard_rows(self.n, rank, size)
        return tf.data.Dataset.from_tensor_slices(
            (
                {key: value[rows] for key, value in self.inputs.items()},
                {head: value[rows] for head, value in self.labels.items()},
            )
        )


class KeyedArrayExamples:
    """In-memory arrays of any model as an `ExampleSource`: the Ads and Jobs models' inputs
    (`models.ads_examples`, `models.jobs_examples`), whose keys and heads are their own.

    The statistics pass counts non-finite values in every float input column and label (named
    "<input>" or "label <head>"), and the moments of `inputs["dense"]` when there is one; there
    is no vocabulary, so no out-of-vocabulary count.

    Args:
        inputs: arrays keyed by the model's input names (all the same length).
        labels: arrays keyed by the model's heads, aligned with `inputs`.

    Raises:
        ValueError: no inputs or labels, or the arrays differ in length.
    """

    def __init__(self, inputs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray]):
        if not inputs or not labels:
            raise ValueError(
                f"training data needs inputs and labels. Received inputs={sorted(inputs)}, "
                f"labels={sorted(labels)}"
            )
        self.inputs = {key: np.asarray(value) for key, value in inputs.items()}
        self.labels = {head: np.asarray(value, dtype=np.float32) for head, value in labels.items()}
        lengths = {key: len(value) for key, value in {**self.inputs, **self.labels}.items()}
        self.n = next(iter(lengths.values()))
        if set(lengths.values()) != {self.n}:
            raise ValueError(f"inputs and labels must have the same number of rows. Got {lengths}")

    @functools.cache  # noqa: B019 (one source object per training run)
    def statistics(self) -> ExampleStatistics:
        dense = self.inputs.get("dense")
        width = dense.shape[1] if dense is not None and dense.ndim == 2 else 0
        moments = _Moments(width)
        if width:
            moments.add(np.asarray(dense, dtype=np.float64))
        else:
            moments.n = self.n
        non_finite = {}
        for name, value in [
            *self.inputs.items(),
            *((f"label {h}", v) for h, v in self.labels.items()),
        ]:
            if np.issubdtype(value.dtype, np.floating):
                count = int((~np.isfinite(value)).reshape(len(value), -1).any(axis=1).sum())
                if count:
                    non_finite[name] = count
        return ExampleStatistics(
            rows=self.n,
            dense_mean=tuple(float(m) for m in moments.mean) if width else (),
            dense_variance=tuple(float(v) for v in moments.variance) if width else (),
            out_of_vocabulary={},
            non_finite=non_finite,
        )

    # rows i ≡ rank (mod size), as for the feed's arrays
    rows_per_rank = ArrayExamples.rows_per_rank
    rank_rows = ArrayExamples.rank_rows


class AvroExamples:
    """The Avro shards of `training_examples_avro`, streamed through ATDS (paper §13).

    Args:
        paths: shard directories or files (`atds.avro_shard_files`).
        spec: the model's `InputSpec`.
        split: keep rows whose `split` equals this; None keeps every row.

    Raises:
        FileNotFoundError: a path is missing or holds no shards.
    """

    def __init__(self, paths: Sequence[Path | str], spec: InputSpec, split: str | None):
        from models.inputs.atds import avro_shard_files

        self.paths = [str(p) for p in paths]
        self.files = avro_shard_files(paths)
        self.spec = spec
        self.split = split

    def _batches(self, files: Sequence[Path], batch_size: int, validate: bool) -> tf.data.Dataset:
        """ATDS batches of `files` mapped through the transform in parallel, order kept."""
        from models.inputs.atds import feed_batch_transform
        from spark.avro_shards import atds_dataset

        transform = feed_batch_transform(self.spec, self.split, validate)
        return atds_dataset(files, batch_size, num_parallel_calls=tf.data.AUTOTUNE).map(
            transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
        )

    @functools.cache  # noqa: B019 (one source object per training run)
    def statistics(self) -> ExampleStatistics:
        """One streaming pass (transform without validation, so bad values are counted per
        column instead of failing on the first), rebatched to `SCAN_BATCH` rows."""
        keep = ("dense", "affinity", *CATEGORICAL)
        chunks = (
            self._batches(self.files, SCAN_BATCH, validate=False)
            .map(lambda inputs, labels: ({k: inputs[k] for k in keep}, labels))
            .rebatch(SCAN_BATCH)
            .prefetch(tf.data.AUTOTUNE)
        )
        stats = scan_chunks(
            ({k: v.numpy() for k, v in i.items()}, {k: v.numpy() for k, v in lab.items()})
            for i, lab in chunks
        )
        if stats.rows == 0:
            raise ValueError(
                f"no examples with split={self.split!r} in the Avro shards of {self.paths}"
            )
        return stats

    @functools.cache  # noqa: B019
    def rows_per_file(self) -> tuple[int, ...]:
        """Training rows of each shard file (decodes only the `split` column)."""
        from spark.avro_shards import atds_dataset

        counts = []
        for file in self.files:
            rows = 0
            for batch in atds_dataset([file], 65536, columns=["split"]):
                split = batch["split"]
                rows += int(
                    tf.size(split)
                    if self.split is None
                    else tf.reduce_sum(tf.cast(tf.equal(split, self.split), tf.int32))
                )
            counts.append(rows)
        return tuple(counts)

    def file_sharding(self, size: int) -> bool:
        """Whether each of `size` ranks reads its own files (see the module docstring)."""
        if size == 1:
            return True
        if len(self.files) < size:
            return False
        per_rank = self._rows_by_file_rank(size)
        return min(per_rank) >= FILE_SHARD_BALANCE * (sum(per_rank) / size)

    def _rows_by_file_rank(self, size: int) -> list[int]:
        counts = self.rows_per_file()
        return [sum(counts[rank::size]) for rank in range(size)]

    def rows_per_rank(self, size: int) -> list[int]:
        if size == 1:
            return [self.statistics().rows]
        if self.file_sharding(size):
            return self._rows_by_file_rank(size)
        return [self.statistics().rows // size] * size

    def rank_rows(self, rank: int, size: int) -> tf.data.Dataset:
        if not 0 <= rank < size:
            raise ValueError(f"rank must be in [0, {size}). Received: rank={rank}")
        if self.file_sharding(size):
            return self._batches(self.files[rank::size], READ_BATCH, validate=True).unbatch()
        rows = self._batches(self.files, READ_BATCH, validate=True).unbatch()
        return rows.shard(size, rank)


def batched_rows(
    rows: tf.data.Dataset,
    *,
    take: int,
    batch_size: int,
    shuffle_buffer_size: int | None,
    seed: int,
) -> tf.data.Dataset:
    """``rows.take(take)`` shuffled through a buffer (None: in order), batched and prefetched.

    The shuffle reshuffles on every iteration (each epoch) from `seed`, so a run is repeatable.
    With a visible GPU the last stage is ``prefetch_to_device`` (paper §13: the host→device copy
    of the next batch overlaps the current step); on CPU a plain ``prefetch``.
    """
    rows = rows.take(take)
    if shuffle_buffer_size:
        rows = rows.shuffle(
            min(shuffle_buffer_size, take), seed=seed, reshuffle_each_iteration=True
        )
    batches = rows.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        batches = batches.apply(tf.data.experimental.prefetch_to_device(gpus[0].name))
    return batches


def rank_batches(source: ExampleSource, rank: int, size: int, batch_size: int) -> tf.data.Dataset:
    """Rank `rank`'s training rows in order (no shuffle), batched: the same rows, and the same
    number of batches on every rank, as the training loop (e.g. for the Fisher diagonal)."""
    return batched_rows(
        source.rank_rows(rank, size),
        take=min(source.rows_per_rank(size)),
        batch_size=batch_size,
        shuffle_buffer_size=None,
        seed=0,
    )

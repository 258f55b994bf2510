"""Streaming input (paper §13): Avro shards stream through ATDS with the transform in the tf.data
pipeline and give the in-memory path's statistics and rows; ranks read their own files (or rows)
and all run the same number of steps; a NaN column is named before the first step; the loss is
read back every `log_every_n_steps` steps and the guard still names the exact step."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest

from models.feed import TINY_FEED_MODEL, FeedModel
from models.inputs.spec import InputSpec, examples_to_inputs, labels_from
from models.inputs.stream import ArrayExamples, AvroExamples, batched_rows
from models.training.loop import TrainingConfig, TrainingDivergedError, train_feed_model
from spark.avro_shards import write_avro_shards
from spark.world.config import CONTENT_TYPES, PLATFORMS

SPEC = InputSpec(content_types=CONTENT_TYPES, platforms=PLATFORMS)
TINY = dataclasses.replace(TINY_FEED_MODEL, content_types=CONTENT_TYPES, platforms=PLATFORMS)


class _Rank:
    """A fake backend seen from one rank of `size` (no averaging)."""

    def __init__(self, rank: int, size: int) -> None:
        self.rank, self.size = rank, size

    def average_gradients(self, gradients):
        return list(gradients)

    def broadcast_variables(self, variables):
        return None

    def barrier(self):
        return None


@pytest.fixture(scope="module")
def day(make_examples, tmp_path_factory):
    rows = make_examples(900, seed=31)
    folder = tmp_path_factory.mktemp("stream") / "shards"
    write_avro_shards(rows, folder, num_shards=4)
    return rows, folder


def _model(statistics, seed=0):
    keras.utils.set_random_seed(seed)
    return FeedModel(
        dataclasses.replace(
            TINY, dense_mean=statistics.dense_mean, dense_variance=statistics.dense_variance
        )
    )


def _first(dataset, key="member_id"):
    return np.concatenate([np.asarray(inputs[key]) for inputs, _ in dataset])


def test_avro_stream_matches_the_in_memory_rows_and_statistics(day):
    rows, folder = day
    train = rows[rows["split"] == "train"]
    avro = AvroExamples([folder], SPEC, "train")
    memory = ArrayExamples(examples_to_inputs(train, SPEC), labels_from(train))
    # bit-identical constants: both chunk the same rows alike (models.inputs.stream)
    assert avro.statistics() == memory.statistics()
    assert avro.statistics().rows == len(train) and avro.statistics().non_finite == {}
    in_order = {"take": len(train), "batch_size": 128, "shuffle_buffer_size": None, "seed": 0}
    np.testing.assert_array_equal(
        _first(batched_rows(avro.rank_rows(0, 1), **in_order)),
        _first(batched_rows(memory.rank_rows(0, 1), **in_order)),
    )
    shuffled = {**in_order, "shuffle_buffer_size": 100}
    once = _first(batched_rows(avro.rank_rows(0, 1), **shuffled))
    assert sorted(once) == sorted(train["member_id"]) and not np.array_equal(
        once, train["member_id"].to_numpy()
    )


def test_ranks_read_their_own_files_and_run_the_same_steps(day):
    rows, folder = day
    avro = AvroExamples([folder], SPEC, "train")
    counts = avro.rows_per_file()
    assert sum(counts) == avro.statistics().rows
    assert avro.file_sharding(2)  # 4 near-equal files over 2 ranks
    assert avro.rows_per_rank(2) == [counts[0] + counts[2], counts[1] + counts[3]]
    in_order = {"take": 10**6, "batch_size": 256, "shuffle_buffer_size": None, "seed": 0}
    rank_ids = [_first(batched_rows(avro.rank_rows(r, 2), **in_order)) for r in range(2)]
    assert [len(ids) for ids in rank_ids] == avro.rows_per_rank(2)
    assert avro.file_sharding(5) is False  # fewer files than ranks: row sharding
    assert avro.rows_per_rank(5) == [avro.statistics().rows // 5] * 5

    # every rank runs ⌈min rows per rank / batch⌉ steps, whatever its own row count
    config = TrainingConfig(batch_size=64, learning_rate=1e-3)
    steps = {train_feed_model(_model(avro.statistics()), avro, None, config, _Rank(r, 2)).steps
             for r in range(2)}  # fmt: skip
    assert steps == {-(-min(avro.rows_per_rank(2)) // 64)}


def test_a_nan_column_in_the_avro_stream_is_named_before_the_first_step(make_examples, tmp_path):
    rows = make_examples(300, seed=2)
    rows["post_age_hours"] = rows["post_age_hours"].astype("float64")
    rows.loc[rows.index[:4], "post_age_hours"] = np.inf  # Avro refuses nulls, not inf
    folder = tmp_path / "bad"
    write_avro_shards(rows, folder, num_shards=1)
    avro = AvroExamples([folder], SPEC, None)
    model = _model(ArrayExamples(*_clean(make_examples)).statistics())
    before = [np.array(w) for w in model.get_weights()]
    with pytest.raises(ValueError, match=r"NaN or infinite values in post_age_days \(4 rows\)"):
        train_feed_model(model, avro, None, TrainingConfig(batch_size=64))
    for old, new in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def _clean(make_examples):
    rows = make_examples(100, seed=3)
    return examples_to_inputs(rows, SPEC), labels_from(rows)


def test_losses_are_read_back_every_n_steps_and_the_guard_names_the_exact_step(day):
    rows, folder = day
    avro = AvroExamples([folder], SPEC, "train")
    reads = []
    healthy = TrainingConfig(batch_size=64, log_every_n_steps=4)
    result = train_feed_model(
        _model(avro.statistics()), avro, None, healthy, progress=lambda p: reads.append(p.step)
    )
    steps = result.steps
    assert reads[:-1] == [*range(4, steps, 4), steps] and reads[-1] == steps  # + epoch end
    exploding = dataclasses.replace(healthy, learning_rate=1e30, warmup_fraction=0.0)
    with pytest.raises(TrainingDivergedError, match=r"at step [1-4] of "):
        train_feed_model(_model(avro.statistics()), avro, None, exploding)

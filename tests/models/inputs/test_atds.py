"""One feature contract: the ATDS input pipeline (paper §13), the served SavedModel's transform and
the pandas path give identical model inputs for the same rows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf

from models.inputs.atds import (
    atds_feed_dataset,
    avro_shard_files,
    read_categorical_frame,
    read_feed_examples,
)
from models.inputs.spec import INPUT_KEYS, InputSpec, examples_to_inputs, labels_from
from models.inputs.tf_transform import raw_to_inputs
from models.serving.saved_model import raw_features
from spark.avro_shards import write_avro_shards
from spark.schemas import LABELS, TRAINING_EXAMPLE
from spark.world.config import CONTENT_TYPES, PLATFORMS  # the simulator's values

# the vocabulary a model learned: one content type and one platform of the rows are unseen
VOCAB = {"content_types": CONTENT_TYPES[:-1], "platforms": PLATFORMS[:-1]}


def _examples(n: int = 300, seed: int = 0) -> pa.Table:
    """TRAINING_EXAMPLE rows with the edge cases: empty, short and over-long histories, the
    candidate author in the history (clicks and contributions), 0-5 hashtags, every vocabulary
    value, every split."""
    rng = np.random.default_rng(seed)
    authors = np.arange(40, 60)
    rows = []
    for i in range(n):
        history = int(rng.choice([0, 1, 3, 20, 27]))
        author = int(rng.choice(authors))
        rows.append(
            {
                "date": dt.date(2026, 1, 1),
                "session_id": int(i // 5),
                "split": ("train", "holdout", "random_bucket")[i % 3],
                "member_id": int(2**35 + rng.integers(0, 1000)),
                "post_id": int(10_000 + i),
                "position": int(rng.integers(0, 10)),
                "platform": PLATFORMS[i % len(PLATFORMS)],
                "hour": int(rng.integers(0, 24)),
                "member_seniority": int(rng.integers(0, 5)),
                "member_industry": int(rng.integers(0, 30)),
                "member_country": int(rng.integers(0, 10)),
                "member_log_connections": float(rng.normal(5, 1)),
                "hist_post_ids": [int(2**36 + (7 * i + j) % 3000) for j in range(history)],
                "hist_author_ids": [int(a) for a in rng.choice(authors, history)],
                "hist_actions": [int(a) for a in rng.integers(0, 5, history)],
                "author_id": author,
                "content_type": CONTENT_TYPES[i % len(CONTENT_TYPES)],
                "hashtag_ids": [int(h) for h in rng.integers(0, 500, int(rng.integers(0, 6)))],
                "length": float(rng.lognormal(4, 1)),
                "post_age_hours": float(rng.uniform(0, 96)),
                "author_log_followers": float(rng.normal(6, 2)),
                **{label: int(rng.random() < 0.3) for label in LABELS if label != "long_dwell"},
                "dwell_seconds": float(rng.lognormal(2, 1)),
                "long_dwell": int(rng.random() < 0.1),
            }
        )
    return pa.Table.from_pylist(rows, schema=TRAINING_EXAMPLE)


def _concatenated(dataset: tf.data.Dataset) -> tuple[dict, dict]:
    parts = list(dataset)
    inputs = {key: np.concatenate([p[0][key].numpy() for p in parts]) for key in parts[0][0]}
    labels = {key: np.concatenate([p[1][key].numpy() for p in parts]) for key in parts[0][1]}
    return inputs, labels


def _assert_same(got: dict, want: dict) -> None:
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype, key
        assert got[key].shape == value.shape, key
        np.testing.assert_array_equal(got[key], value, err_msg=key)


class _Config:
    """The part of a model config the serving helpers read."""

    def __init__(self, spec: InputSpec) -> None:
        self.id_hash, self._spec = spec.id_hash, spec

    def input_spec(self) -> InputSpec:
        return self._spec


@pytest.mark.parametrize("id_hash", ["none", "murmur"])
def test_atds_serving_and_pandas_paths_give_identical_inputs(tmp_path, id_hash):
    """The same rows through the three paths (ATDS over Avro shards with split masking, the
    serving signature's raw padded features, pandas): the same arrays, unseen categories in the
    OOV bucket, Murmur-hashed IDs with padding kept at -1."""
    spec = InputSpec(id_hash=id_hash, **VOCAB)
    table = _examples()
    shards = write_avro_shards(table, tmp_path / "shards", num_shards=3)
    frame = table.to_pandas()
    train = frame[frame["split"] == "train"].reset_index(drop=True)

    from_pandas = examples_to_inputs(train, spec)
    from_atds, labels = _concatenated(
        atds_feed_dataset(shards, batch_size=48, split="train", spec=spec)
    )
    raw = {k: tf.constant(v) for k, v in raw_features(train, _Config(spec)).items()}
    from_serving = {k: v.numpy() for k, v in raw_to_inputs(raw, spec).items()}

    assert set(from_pandas) == set(INPUT_KEYS)
    _assert_same(from_atds, from_pandas)
    _assert_same(from_serving, from_pandas)
    _assert_same(labels, labels_from(train))
    assert (from_pandas["content_type"][train["content_type"] == "job"] == 0).all()
    assert (from_pandas["platform"][train["platform"] == "android"] == 0).all()
    assert (from_pandas["content_type"][train["content_type"] == "text"] == 1).all()
    plain = examples_to_inputs(train, InputSpec(**VOCAB))
    assert (not np.array_equal(plain["member_id"], from_pandas["member_id"])) == (
        id_hash == "murmur"
    )
    padding = plain["hist_author_ids"] == -1
    assert padding.any() and (from_pandas["hist_author_ids"][padding] == -1).all()
    assert (from_pandas["hist_author_ids"][~padding] >= 0).all()
    assert (from_atds["affinity"][:, 0] > 0).sum() > 10  # hashed authors still match history


@pytest.mark.parametrize(("history_length", "max_hashtags"), [(20, 3), (4, 1), (32, 6)])
def test_atds_batches_equal_the_pandas_path_for_any_lengths(tmp_path, history_length, max_hashtags):
    table = _examples()
    spec = InputSpec(history_length=history_length, max_hashtags=max_hashtags, **VOCAB)
    shards = write_avro_shards(table, tmp_path / "shards", num_shards=3)
    inputs, labels = _concatenated(atds_feed_dataset(shards, batch_size=64, spec=spec))
    frame = table.to_pandas()
    _assert_same(inputs, examples_to_inputs(frame, spec))
    _assert_same(labels, labels_from(frame))
    assert (inputs["affinity"][:, 0] > 0).sum() > 30  # the candidate author is often in history


def test_read_feed_examples_concatenates_every_batch_from_shard_directories(tmp_path):
    """`read_feed_examples` over shard directories equals the pandas path over the concatenated
    rows (two days, directories in the order given), for any read batch size."""
    days = [_examples(120, seed=1), _examples(90, seed=2)]
    directories = []
    for index, table in enumerate(days):
        write_avro_shards(table, tmp_path / f"date={index}", num_shards=2)
        directories.append(tmp_path / f"date={index}")
    frame = pa.concat_tables(days).to_pandas()
    train = frame[frame["split"] == "train"].reset_index(drop=True)
    spec = InputSpec(id_hash="murmur", **VOCAB)
    for batch_size in (7, 4096):
        inputs, labels = read_feed_examples(
            directories, spec=spec, split="train", batch_size=batch_size
        )
        _assert_same(inputs, examples_to_inputs(train, spec))
        _assert_same(labels, labels_from(train))
    every_row, _ = read_feed_examples(directories, spec=spec, split=None)
    assert len(every_row["dense"]) == len(frame)
    categorical = read_categorical_frame(directories, split="train")
    assert list(categorical["content_type"]) == list(train["content_type"])
    assert list(categorical["platform"]) == list(train["platform"])


def test_missing_or_empty_shard_directories_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.*materialize `training_examples`"):
        avro_shard_files([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no Avro shards.*empty.*training_examples"):
        avro_shard_files([tmp_path / "empty"])
    shards = write_avro_shards(_examples(6), tmp_path / "shards")
    with pytest.raises(ValueError, match="no examples with split='replay'"):
        read_feed_examples([tmp_path / "shards"], spec=InputSpec(), split="replay")
    assert avro_shard_files([tmp_path / "shards", shards[0]]) == [shards[0], shards[0]]


def test_split_keeps_only_that_split_in_order(tmp_path):
    table = _examples(150)
    shards = write_avro_shards(table, tmp_path / "shards", num_shards=2)
    spec = InputSpec(**VOCAB)
    inputs, labels = _concatenated(
        atds_feed_dataset(shards, batch_size=32, split="holdout", spec=spec)
    )
    frame = table.to_pandas()
    holdout = frame[frame["split"] == "holdout"].reset_index(drop=True)
    assert len(holdout) == 50
    _assert_same(inputs, examples_to_inputs(holdout, spec))
    _assert_same(labels, labels_from(holdout))


def test_non_finite_dense_features_fail_naming_the_feature(tmp_path):
    frame = _examples(10).to_pandas()
    frame.loc[3, "length"] = np.inf
    shards = write_avro_shards(frame, tmp_path / "shards")
    with pytest.raises(ValueError, match="log1p_length"):
        examples_to_inputs(frame, InputSpec())
    with pytest.raises(tf.errors.InvalidArgumentError, match="`log1p_length`"):
        list(atds_feed_dataset(shards, batch_size=4, spec=InputSpec()))


def test_bad_arguments_are_refused(tmp_path):
    shards = write_avro_shards(_examples(3), tmp_path / "shards")
    with pytest.raises(ValueError, match="history_length"):
        InputSpec(history_length=0)
    with pytest.raises(ValueError, match="max_hashtags"):
        InputSpec(max_hashtags=0)
    with pytest.raises(ValueError, match="id_hash='xxhash'"):
        InputSpec(id_hash="xxhash")
    with pytest.raises(ValueError, match="batch_size"):
        atds_feed_dataset(shards, batch_size=0, spec=InputSpec())

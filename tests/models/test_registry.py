"""Tests for models.registry (atomic model directories) and the in-process models.training.cli."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from models.training import cli as train_cli
from models.inputs.spec import examples_to_inputs
from models.feed_model import FeedModel, FeedModelConfig, feed_inputs, predict_probabilities
from models.metrics import auc
from models.registry import load_model, save_model
from spark.avro_shards import write_avro_shards
from spark.schemas import LABELS


def _outputs(model, inputs):
    return {h: keras.ops.convert_to_numpy(v) for h, v in model(inputs).items()}


def test_save_load_round_trip_and_overwrite(make_examples, tmp_path):
    inputs = examples_to_inputs(make_examples(16))
    model = FeedModel(FeedModelConfig(embedding_dim=8, tower_units=(16,)))
    directory = tmp_path / "models" / "2026-01-01"
    assert save_model(model, directory, {"day": "2026-01-01"}) == directory
    loaded, metadata = load_model(directory)
    assert metadata == {"day": "2026-01-01"}
    for head in LABELS:
        np.testing.assert_array_equal(_outputs(loaded, inputs)[head], _outputs(model, inputs)[head])

    other = FeedModel(FeedModelConfig(embedding_dim=4, tower_units=(8,)))
    save_model(other, directory, {"day": "again"})
    reloaded, metadata = load_model(directory)
    assert metadata == {"day": "again"}
    assert reloaded.config.embedding_dim == 4
    assert sorted(p.name for p in directory.parent.iterdir()) == ["2026-01-01"]  # no leftovers


def test_unserializable_metadata_writes_nothing(tmp_path):
    model = FeedModel(FeedModelConfig(embedding_dim=4, tower_units=(4,)))
    with pytest.raises(ValueError, match="JSON"):
        save_model(model, tmp_path / "m", {"when": object()})
    assert list(tmp_path.iterdir()) == []


def test_load_missing_directory_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_model(tmp_path / "nowhere")


def test_cli_cold_start_then_warm_start(make_examples, tmp_path):
    examples = tmp_path / "examples"
    examples.mkdir()
    make_examples(600, seed=1).to_parquet(examples / "part-0.parquet")
    make_examples(600, seed=2).to_parquet(examples / "part-1.parquet")
    tiny = ["--embedding-dim", "8", "--tower-units", "16,16", "--batch-size", "256"]

    cold = tmp_path / "day-1"
    assert train_cli.main(["--examples", str(examples), "--out", str(cold), *tiny]) == 0
    result = json.loads((cold / "training_result.json").read_text())
    assert result["ranks"] == 1 and result["steps"] >= 1
    cold_model, metadata = load_model(cold)
    assert metadata["model_config"]["embedding_dim"] == 8
    assert metadata["training_result"]["examples"] == result["examples"]

    warm = tmp_path / "day-2"
    argv = ["--examples", str(examples / "part-1.parquet"), "--out", str(warm)]
    assert train_cli.main([*argv, "--init-from", str(cold), "--batch-size", "256"]) == 0
    warm_model, _ = load_model(warm)
    assert warm_model.config == cold_model.config  # normalization constants kept
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(warm_model.get_weights(), cold_model.get_weights(), strict=True)
    )


def test_cli_divergence_exits_2_and_writes_nothing(make_examples, tmp_path):
    examples = tmp_path / "examples.parquet"
    make_examples(300).to_parquet(examples)
    out = tmp_path / "out"
    argv = ["--examples", str(examples), "--out", str(out), "--embedding-dim", "4"]
    argv += ["--tower-units", "8", "--learning-rate", "1e30", "--warmup-fraction", "0"]
    argv += ["--batch-size", "32"]
    assert train_cli.main(argv) == train_cli.DIVERGED_EXIT_CODE
    assert not out.exists()


def _both_formats(make_examples, tmp_path, n: int, seed: int):
    """The same rows as a Parquet directory (2 files) and as an Avro shard directory (3 shards)."""
    rows = make_examples(n, seed=seed)
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    half = n // 2
    rows.iloc[:half].to_parquet(parquet / "part-0.parquet")
    rows.iloc[half:].to_parquet(parquet / "part-1.parquet")
    write_avro_shards(rows, tmp_path / "avro", num_shards=3)
    return rows, parquet, tmp_path / "avro"


@pytest.mark.parametrize("id_hash", ["none", "murmur"])
@pytest.mark.parametrize("split", ["train", "all"])
def test_parquet_and_avro_inputs_are_identical(make_examples, tmp_path, id_hash, split):
    """`--examples-format avro` (ATDS) and `parquet` (pandas) give the same arrays for the same
    rows, split filter and ID hashing included."""
    rows, parquet, avro = _both_formats(make_examples, tmp_path, 500, seed=6)
    got = train_cli.read_training_inputs([avro], split, "avro", id_hash)
    want = train_cli.read_training_inputs([parquet], split, "parquet", id_hash)
    kept = rows if split == "all" else rows[rows["split"] == split]
    assert len(want[1]["click"]) == len(kept) > 0
    for got_arrays, want_arrays in zip(got, want, strict=True):
        assert set(got_arrays) == set(want_arrays)
        for key, value in want_arrays.items():
            assert got_arrays[key].dtype == value.dtype, key
            np.testing.assert_array_equal(got_arrays[key], value, err_msg=key)
    with pytest.raises(ValueError, match="examples_format.*'orc'"):
        train_cli.read_training_inputs([parquet], split, "orc", id_hash)


def test_cli_trains_from_avro_like_from_parquet_and_learns(make_examples, tmp_path):
    """A cold start from the Avro shards builds the same config and ends with the same weights
    as one from the Parquet of the same rows; the model learns the planted click signal; a warm
    start reads Avro too."""
    rows, parquet, avro = _both_formats(make_examples, tmp_path, 5000, seed=7)
    tiny = ["--embedding-dim", "8", "--tower-units", "16,16", "--batch-size", "256"]
    tiny += ["--epochs", "3", "--learning-rate", "5e-3", "--warmup-fraction", "0.2"]
    tiny += ["--id-hash", "murmur"]
    runs = {}
    for name, path in (("parquet", parquet), ("avro", avro)):
        argv = ["--examples", str(path), "--examples-format", name]
        assert train_cli.main([*argv, "--out", str(tmp_path / f"model-{name}"), *tiny]) == 0
        runs[name] = load_model(tmp_path / f"model-{name}")
    (from_parquet, parquet_meta), (from_avro, avro_meta) = runs["parquet"], runs["avro"]
    assert avro_meta["training_result"]["examples_format"] == "avro"
    assert avro_meta["training_result"]["examples"] == int((rows["split"] == "train").sum())
    assert from_avro.config == from_parquet.config  # same dense constants from the same rows
    np.testing.assert_allclose(
        avro_meta["training_result"]["epoch_losses"],
        parquet_meta["training_result"]["epoch_losses"],
        rtol=1e-5,
    )
    for a, b in zip(from_avro.get_weights(), from_parquet.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)

    holdout = rows[rows["split"] == "holdout"].reset_index(drop=True)
    probabilities = predict_probabilities(from_avro, feed_inputs(holdout, from_avro.config))
    click_auc = auc(holdout["click"].to_numpy(), probabilities["click"])
    assert click_auc > 0.75, f"held-out click AUC {click_auc:.3f} of the model trained from Avro"

    warm = tmp_path / "warm"
    shard = sorted(avro.glob("part-*.avro"))[0]
    argv = ["--examples", str(shard), "--examples-format", "avro", "--out", str(warm)]
    assert train_cli.main([*argv, "--init-from", str(tmp_path / "model-avro")]) == 0
    warm_model, metadata = load_model(warm)
    assert warm_model.config == from_avro.config
    assert 0 < metadata["training_result"]["examples"] < len(rows)


def test_cli_names_a_missing_avro_shard_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    argv = ["--examples", str(tmp_path / "empty"), "--examples-format", "avro"]
    with pytest.raises(FileNotFoundError, match=r"no Avro shards.*empty.*`training_examples`"):
        train_cli.main([*argv, "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()

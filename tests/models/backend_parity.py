"""Builds every LiRank layer and every model family (Feed with its default, with every block, with
MMoE, with PLE over a post-ID history and with unlimited-vocabulary IDs; Ads, Jobs) with fixed
weights under $KERAS_BACKEND, runs a forward pass and one SGD step (`train_on_batch`), and prints
the results as one JSON line (used by test_jax_backend)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this folder's conftest helpers

from conftest import deterministic_weights, synthetic_examples  # noqa: E402

from models.ads import ADS_ID_FEATURES, AdsModel, AdsModelConfig  # noqa: E402
from models.feed import (  # noqa: E402
    EVERY_BLOCK,
    TINY_FEED_MODEL,
    FeedModel,
    config_for,
    feed_inputs,
)
from models.inputs.murmur import hash_to_halves  # noqa: E402
from models.inputs.spec import labels_from  # noqa: E402
from models.jobs import DEFAULT_FIELDS, JobsModel, JobsModelConfig  # noqa: E402
from models.layers import (
    AttentionLowRankCross,
    DenseGate,
    GatedMLP,
    HistoryTransformerEncoder,
    IsotonicCalibration,
    LowRankCross,
    QREmbedding,
    ResidualDCN,
    UnlimitedVocabEmbedding,
)

BATCH = 4
# the multi-task expert blocks and the post-ID history (not in EVERY_BLOCK, whose goldens predate
# them)
EXPERTS_AND_POSTS = {
    "multitask": "ple",
    "history_pooling": "transformer",
    "history_items": "posts_and_authors",
    "id_hash": "murmur",
    "post_buckets": 300,
}


def _cases(rng: np.random.Generator) -> dict:
    dense = rng.normal(size=(BATCH, 8)).astype("float32")
    x = keras.Input((8,))
    logit, calib = keras.Input((1,)), keras.Input((3,))
    ids = keras.Input((3,), dtype="int32")
    halves = keras.Input((2,), dtype="int64")
    items, actions, cand = keras.Input((6, 4)), keras.Input((6, 2)), keras.Input((5,))
    mask = keras.Input((6,), dtype="bool")
    history_mask = np.arange(6)[None, :] < np.array([[6], [5], [2], [6]])
    return {
        "low_rank_cross": (x, LowRankCross(3)(x, LowRankCross(None)(x)), dense),
        "attention_low_rank_cross": (
            x,
            AttentionLowRankCross(3, temperature=2.0, softmax_axis="column")(x),
            dense,
        ),
        "residual_dcn": (x, ResidualDCN(3, merge="concat")(x), dense),
        "isotonic_calibration": (
            [logit, calib],
            IsotonicCalibration(16, 0.5, lower_bound=-4.0)(logit, calib),
            [
                rng.uniform(-5, 5, size=(BATCH, 1)).astype("float32"),
                rng.normal(size=(BATCH, 3)).astype("float32"),
            ],
        ),
        "gated_mlp": (x, GatedMLP((6, 5), gate_type="vector")(DenseGate()(x)), dense),
        "qr_embedding": (
            ids,
            QREmbedding(1000, 32, 6, combiner="concat")(ids),
            rng.integers(0, 1000, size=(BATCH, 3)).astype("int32"),
        ),
        "unlimited_vocab_embedding": (
            halves,
            UnlimitedVocabEmbedding(4, num_collisions=2**16)(halves),
            hash_to_halves(["member:1", "member:2", "actor:3", "hashtag:ai"]),
        ),
        "history_encoder": (
            [items, actions, cand, mask],
            HistoryTransformerEncoder(6, 8, num_heads=2)(items, actions, cand, padding_mask=mask),
            [
                rng.normal(size=(BATCH, 6, 4)).astype("float32"),
                rng.normal(size=(BATCH, 6, 2)).astype("float32"),
                rng.normal(size=(BATCH, 5)).astype("float32"),
                history_mask,
            ],
        ),
    }


def _model_cases(rng: np.random.Generator) -> dict:
    """(model, inputs, labels) of each model family, on deterministic numpy data."""
    examples = synthetic_examples(8, seed=0)
    feed = {}
    for name, blocks in (
        ("feed", {}),
        ("feed_every_block", EVERY_BLOCK),
        ("feed_experts_and_posts", EXPERTS_AND_POSTS),
        ("feed_mmoe", {"multitask": "mmoe"}),
        ("feed_unlimited", {"id_embedding": "unlimited", "id_hash": "murmur"}),
    ):
        model = FeedModel(config_for(examples, TINY_FEED_MODEL, **blocks))
        feed[name] = (model, feed_inputs(examples, model.config), labels_from(examples))
    ads_inputs = {key: rng.integers(0, 100, 8).astype("int64") for key in ADS_ID_FEATURES}
    ads_inputs["dense"] = rng.normal(size=(8, 5)).astype("float32")
    ads = AdsModel(
        AdsModelConfig(num_dense=5, embedding_dim=4, id_buckets=(50, 10, 20, 80), head_units=(8,))
    )
    jobs_inputs = {field: rng.integers(-1, 60, size=(8, 2)) for field, _ in DEFAULT_FIELDS}
    jobs_inputs["dense"] = rng.normal(size=(8, 3)).astype("float32")
    jobs = JobsModel(JobsModelConfig(num_dense=3, embedding_dim=4, projection_dim=2))
    return {
        **feed,
        "ads": (ads, ads_inputs, _labels(rng, ads.tasks.heads)),
        "jobs": (jobs, jobs_inputs, _labels(rng, jobs.tasks.heads)),
    }


def _labels(rng: np.random.Generator, heads) -> dict:
    return {head: rng.integers(0, 2, 8).astype("float32") for head in heads}


def _numpy_outputs(outputs: dict) -> list:
    return [keras.ops.convert_to_numpy(outputs[key]).tolist() for key in sorted(outputs)]


def main() -> None:
    rng = np.random.default_rng(0)
    results = {"backend": keras.backend.backend()}
    for name, (model, inputs, labels) in _model_cases(rng).items():
        deterministic_weights(model, seed=1)
        before = _numpy_outputs(model(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.1), **model.tasks.compile_arguments())
        step_loss = model.train_on_batch(inputs, labels, return_dict=True)["loss"]
        results[name] = {
            "forward": before,
            "loss": float(step_loss),
            "forward_after_step": _numpy_outputs(model(inputs)),
        }
    for name, (inputs, outputs, data) in _cases(rng).items():
        model = keras.Model(inputs, outputs)
        model.set_weights(
            [rng.normal(scale=0.3, size=w.shape).astype("float32") for w in model.weights]
        )
        before = keras.ops.convert_to_numpy(model(data))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        loss = model.train_on_batch(data, np.zeros_like(before))
        after = keras.ops.convert_to_numpy(model(data))
        results[name] = {
            "forward": before.tolist(),
            "loss": float(loss),
            "forward_after_step": after.tolist(),
        }
    json.dump(results, sys.stdout)
    print()


if __name__ == "__main__":
    main()

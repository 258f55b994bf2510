"""Parameter counts and CPU throughput of the LiRank layers and of the three model families
(prints a table, then one JSON line).

Run: `.venv/bin/python bench/models.py` (about 2–4 minutes on 2 cores). Figures are examples/s
on this machine's CPU (or GPU, when TensorFlow sees one) with the active Keras backend
(TensorFlow by default): training is `train_on_batch` (Adam, binary cross-entropy per head),
scoring is `predict_on_batch`. The layer rows wrap the layer between an input of width 256 and a
1-unit Dense; the model rows are the full Feed (graph default, and every block on), Ads and Jobs
models at their default sizes on random inputs of the right shapes. The JSON line carries
`lowrank_param_ratio` (two low-rank r=32 cross layers / two full-rank ones at width 256) and
`qr_param_ratio` (QR m=1000 tables / a full 1M-row table, same width).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import keras  # noqa: E402
import numpy as np  # noqa: E402

from models.ads import ADS_ID_FEATURES, AdsModel, AdsModelConfig  # noqa: E402
from models.feed import EVERY_BLOCK, GRAPH_FEED_MODEL, FeedModel  # noqa: E402
from models.inputs.spec import DENSE_FEATURES, HISTORY_LENGTH, MAX_HASHTAGS  # noqa: E402
from models.jobs import JOBS_HEADS, JobsModel, JobsModelConfig  # noqa: E402
from models.layers import GatedMLP, LowRankCross, QREmbedding, ResidualDCN  # noqa: E402
from spark.schemas import LABELS  # noqa: E402
from spark.world.config import CONTENT_TYPES, PLATFORMS  # noqa: E402

WIDTH = 256
RANK = 32
VOCAB = 1_000_000
EMBED_DIM = 32
ID_FEATURES = 8
# the graph's feed model with the simulated world's vocabularies (what a cold start learns)
FEED = GRAPH_FEED_MODEL.with_vocabularies(CONTENT_TYPES, PLATFORMS)
COLLISIONS = 1000


@dataclass(frozen=True)
class Config:
    name: str
    build: Callable[[], tuple[keras.Model, keras.layers.Layer]]
    batch: int
    steps: int
    ids: bool = False
    data: Callable[[np.random.Generator, int], tuple[dict, dict]] | None = None


def _feed_data(rng: np.random.Generator, n: int) -> tuple[dict, dict]:
    """Random feed-model inputs of the right shapes and dtypes (ids below the table sizes)."""
    history = rng.integers(0, 20_000, size=(n, HISTORY_LENGTH))
    history[:, : HISTORY_LENGTH // 4] = -1  # front padding
    inputs = {
        "member_id": rng.integers(0, 2**31 - 1, n),
        "author_id": rng.integers(0, 2**31 - 1, n),
        "hashtag_ids": rng.integers(-1, 5_000, size=(n, MAX_HASHTAGS)),
        "post_id": rng.integers(0, 2**31 - 1, n),
        "hist_post_ids": np.where(history >= 0, history * 3 + 1, -1),
        "hist_author_ids": history,
        "hist_actions": np.where(history >= 0, rng.integers(0, 5, history.shape), -1),
        "dense": rng.normal(size=(n, len(DENSE_FEATURES))).astype("float32"),
        "affinity": rng.random((n, 4)).astype("float32"),
    }
    for key, size in (("content_type", 6), ("platform", 3), ("seniority", 16)):
        inputs[key] = rng.integers(0, size, n).astype("int32")
    for key, size in (("industry", 64), ("country", 64), ("position", 10), ("hour", 24)):
        inputs[key] = rng.integers(0, size, n).astype("int32")
    return inputs, _labels(rng, n, LABELS)


def _ads_data(rng: np.random.Generator, n: int) -> tuple[dict, dict]:
    inputs = {key: rng.integers(0, 1_000_000, n) for key in ADS_ID_FEATURES}
    inputs["dense"] = rng.normal(size=(n, AdsModelConfig().num_dense)).astype("float32")
    return inputs, _labels(rng, n, AdsModelConfig().heads)


def _jobs_data(rng: np.random.Generator, n: int) -> tuple[dict, dict]:
    config = JobsModelConfig()
    inputs = {
        field: rng.integers(-1, 1_000_000, size=(n, 5 if matrix == "skill" else 1))
        for field, matrix in config.fields
    }
    inputs["dense"] = rng.normal(size=(n, config.num_dense)).astype("float32")
    return inputs, _labels(rng, n, JOBS_HEADS)


def _labels(rng: np.random.Generator, n: int, heads) -> dict:
    return {head: rng.integers(0, 2, n).astype("float32") for head in heads}


def _family(model_factory: Callable[[], keras.Model]):
    def build() -> tuple[keras.Model, keras.layers.Layer]:
        model = model_factory()
        return model, model

    return build


def _dense_model(block: Callable[[keras.KerasTensor], keras.KerasTensor]) -> keras.Model:
    x = keras.Input((WIDTH,))
    return keras.Model(x, keras.layers.Dense(1)(block(x)))


def _with_layer(layer: keras.layers.Layer, wrap: Callable | None = None):
    def build() -> tuple[keras.Model, keras.layers.Layer]:
        return _dense_model(wrap(layer) if wrap else layer), layer

    return build


def _cross_stack(rank: int | None):
    layers = [LowRankCross(rank), LowRankCross(rank)]

    def build() -> tuple[keras.Model, keras.layers.Layer]:
        def block(x):
            return layers[1](x, layers[0](x))

        model = _dense_model(block)
        return model, layers

    return build


def _embedding(layer: keras.layers.Layer):
    def build() -> tuple[keras.Model, keras.layers.Layer]:
        ids = keras.Input((ID_FEATURES,), dtype="int32")
        flat = keras.layers.Flatten()(layer(ids))
        return keras.Model(ids, keras.layers.Dense(1)(flat)), layer

    return build


def configs(quick: bool) -> list[Config]:
    scale = 0.5 if quick else 1.0

    def steps(n: int) -> int:
        return max(2, int(n * scale))

    return [
        Config("mlp 4x100", _with_layer(GatedMLP((100,) * 4, gated=False)), 512, steps(30)),
        Config("gated mlp 4x100", _with_layer(GatedMLP((100,) * 4)), 512, steps(30)),
        Config("lmlp 4x3500", _with_layer(GatedMLP.large(gated=False)), 256, steps(3)),
        Config(f"dcn full-rank x2 d={WIDTH}", _cross_stack(None), 512, steps(30)),
        Config(f"dcn low-rank r={RANK} x2", _cross_stack(RANK), 512, steps(30)),
        Config(f"residual dcn r={RANK} x2", _with_layer(ResidualDCN(RANK)), 512, steps(30)),
        Config(
            f"full embedding {VOCAB:,}",
            _embedding(keras.layers.Embedding(VOCAB, EMBED_DIM)),
            512,
            steps(10),
            ids=True,
        ),
        Config(
            f"qr embedding m={COLLISIONS}",
            _embedding(QREmbedding(VOCAB, COLLISIONS, EMBED_DIM)),
            512,
            steps(30),
            ids=True,
        ),
        Config(
            "feed model (graph default)",
            _family(lambda: FeedModel(FEED)),
            512,
            steps(10),
            data=_feed_data,
        ),
        Config(
            "feed model (every block)",
            _family(lambda: FeedModel(dataclasses.replace(FEED, **EVERY_BLOCK))),
            512,
            steps(6),
            data=_feed_data,
        ),
        Config("ads model (3 heads, DCNv2)", _family(AdsModel), 512, steps(20), data=_ads_data),
        Config("jobs model (2 tasks, DCNv2)", _family(JobsModel), 512, steps(20), data=_jobs_data),
    ]


def _throughput(fn: Callable[[], object], batch: int, steps: int) -> float:
    fn()  # warm-up (tracing / compilation)
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return batch * steps / (time.perf_counter() - start)


def run(config: Config, rng: np.random.Generator) -> dict:
    model, layer = config.build()
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    if config.data is not None:
        x, y = config.data(rng, config.batch)
        loss = {head: loss for head in y}
    elif config.ids:
        x = rng.integers(0, VOCAB, size=(config.batch, ID_FEATURES)).astype("int32")
        y = rng.integers(0, 2, size=(config.batch, 1)).astype("float32")
    else:
        x = rng.normal(size=(config.batch, WIDTH)).astype("float32")
        y = rng.integers(0, 2, size=(config.batch, 1)).astype("float32")
    model.compile(optimizer="adam", loss=loss)
    layers = layer if isinstance(layer, list) else [layer]
    return {
        "name": config.name,
        "layer_params": sum(part.count_params() for part in layers),
        "model_params": model.count_params(),
        "train_examples_per_s": _throughput(
            lambda: model.train_on_batch(x, y), config.batch, config.steps
        ),
        "score_examples_per_s": _throughput(
            lambda: model.predict_on_batch(x), config.batch, 3 * config.steps
        ),
    }


def _device() -> str:
    """ "gpu" when the TensorFlow backend sees a GPU (it then runs there), else "cpu"."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    return "cpu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="half the timed steps")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = [run(config, rng) for config in configs(args.quick)]
    print(
        f"backend={keras.backend.backend()}  device={_device()}  input width={WIDTH}  "
        f"cpus={os.cpu_count()}"
    )
    header = f"{'configuration':<30}{'layer params':>14}{'model params':>14}"
    print(header + f"{'train ex/s':>13}{'score ex/s':>13}")
    for row in rows:
        print(
            f"{row['name']:<30}{row['layer_params']:>14,}{row['model_params']:>14,}"
            f"{row['train_examples_per_s']:>13,.0f}{row['score_examples_per_s']:>13,.0f}"
        )
    by_name = {row["name"]: row for row in rows}
    low = by_name[f"dcn low-rank r={RANK} x2"]["layer_params"]
    full = by_name[f"dcn full-rank x2 d={WIDTH}"]["layer_params"]
    qr = by_name[f"qr embedding m={COLLISIONS}"]["layer_params"]
    embedding = by_name[f"full embedding {VOCAB:,}"]["layer_params"]
    summary = {
        "backend": keras.backend.backend(),
        "device": _device(),
        "lowrank_param_ratio": low / full,
        "qr_param_ratio": qr / embedding,
        "configurations": {
            row["name"]: {
                "layer_params": row["layer_params"],
                "train_examples_per_s": round(row["train_examples_per_s"], 1),
                "score_examples_per_s": round(row["score_examples_per_s"], 1),
            }
            for row in rows
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

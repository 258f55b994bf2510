"""Train the feed model from TRAINING_EXAMPLE Parquet or Avro shards, in-process or on Horovod.

    python -m models.training.cli --examples DIR_OR_FILE [--examples ...] --out DIR
        [--examples-format parquet|avro] [--init-from DIR] [--epochs N] [--batch-size N]
        [--horovod] [--dump-rank-weights]
        [--history-pooling mean|target_attention|transformer] [--affinity none|log_counts]
        [--interaction none|dot|cross|residual_dcn] [--calibration none|isotonic]
        [--tower mlp|gated] [--id-embedding hashed|qr] [--tower-units 100,100|large]
        [--task-grouping click_contribution|by_rate|shared] [--id-hash none|murmur]
        [--score-weights like=1,comment=1] [--model-config JSON] [--saved-model]

    horovodrun -np 2 -H localhost:2 --gloo python -m models.training.cli ... --horovod

Input formats (`--examples-format`, the same rows give the same arrays either way):

* `parquet` (default): each `--examples` is a Parquet file or directory of `training_examples`,
  read with pandas and turned into arrays by `feature_spec.examples_to_inputs` / `labels_from`.
* `avro`: each `--examples` is an Avro shard directory of `training_examples_avro`
  (`part-*.avro`) or one shard file, decoded by tensorflow-io's `ATDSDataset` on the tf.data
  threads and transformed in TensorFlow ops, batch by batch (`models.inputs.atds.read_feed_examples`,
  paper §13). The batches are then materialized into the same numpy arrays, because the training
  loop (`models.training.loop.train_feed_model`, Horovod-aware) takes arrays: what this path changes is
  the decoder and the transforms, not the loop. The graph trains this way.

Every rank reads all the examples (same files, same order), computes the dense normalization
constants from all of them (so every rank builds the same model config), and trains on its own
shard with gradients averaged across ranks (`models.training.loop`). Ranks initialize their weights
independently (seed + rank); rank 0's initial weights are broadcast to all before the first step.

Outputs in `--out` (rank 0 writes the model; the directory is replaced atomically):

    model.keras, manifest.json     the saved model (`models.registry`), metadata in the manifest
    training_result.json           steps, epoch losses, examples/s, seconds, ranks, rows
    rank-<r>-weights.npz           with --dump-rank-weights: every rank's final weights
    rank-<r>-initial-weights.npz   with --dump-rank-weights: every rank's weights before broadcast

A cold start builds its `FeedModelConfig` from `--model-config` (a JSON object of config fields;
the `FeedModelConfig` defaults without it), then the block flags above on top, then the dense
normalization constants of the examples. With `--init-from DIR` the model is warm-started from a
saved model (paper §5, incremental training) and keeps that model's config, including its
normalization constants and block choices; the architecture flags are then ignored.

    saved_model/                   with --saved-model: the SavedModel of `models.serving.saved_model` (raw
                                   features, string IDs included -> per-head probabilities, score)
 Exit status 2
means training diverged; nothing is written and the previous model is untouched.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DIVERGED_EXIT_CODE = 2
# `--examples-format` choices: what each `--examples` path holds (see the module docstring)
EXAMPLES_FORMATS: tuple[str, ...] = ("parquet", "avro")
# (flag, FeedModelConfig field, the feed_model registry of its choices); cold start only
BLOCK_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--history-pooling", "history_pooling", "HISTORY_POOLINGS"),
    ("--affinity", "affinity", "AFFINITY_ARCHS"),
    ("--interaction", "interaction", "INTERACTIONS"),
    ("--calibration", "calibration", "CALIBRATIONS"),
    ("--tower", "tower", "TOWERS"),
    ("--id-embedding", "id_embedding", "ID_EMBEDDINGS"),
    ("--task-grouping", "task_grouping", "TASK_GROUPINGS"),
    ("--id-hash", "id_hash", "ID_HASHES"),
)
SAVED_MODEL_DIR = "saved_model"


def tower_units(value: str) -> tuple[int, ...]:
    """`--tower-units`: "large" (paper §4 LMLP, 4 × 3500) or comma-separated positive ints."""
    if value == "large":
        from models.feed_model import LARGE_TOWER_UNITS

        return LARGE_TOWER_UNITS
    try:
        return tuple(int(u) for u in value.split(","))
    except ValueError:
        raise ValueError(
            f"--tower-units must be 'large' or comma-separated integers. Received: {value!r}"
        ) from None


def score_weights(value: str) -> tuple[tuple[str, float], ...]:
    """`--score-weights`: comma-separated head=weight pairs, e.g. "like=1,comment=2"."""
    try:
        pairs = [item.split("=") for item in value.split(",")]
        return tuple((head.strip(), float(weight)) for head, weight in pairs)
    except ValueError:
        raise ValueError(
            f"--score-weights must be comma-separated head=weight pairs. Received: {value!r}"
        ) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m models.training.cli", description=__doc__)
    parser.add_argument(
        "--examples",
        action="append",
        required=True,
        type=Path,
        help="TRAINING_EXAMPLE Parquet file or directory, or with --examples-format avro an "
        "Avro shard directory or file; repeat for more",
    )
    parser.add_argument(
        "--examples-format",
        choices=EXAMPLES_FORMATS,
        default="parquet",
        help="parquet: pandas over Parquet; avro: ATDS over the Avro shards (paper §13)",
    )
    parser.add_argument("--out", required=True, type=Path, help="output model directory")
    parser.add_argument("--init-from", type=Path, help="saved model directory to warm-start from")
    parser.add_argument(
        "--split",
        default="train",
        help="keep rows whose `split` equals this ('all' keeps every row)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--warmup-fraction", type=float, default=0.5)
    parser.add_argument("--clip-norm", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--model-config",
        default=None,
        help="JSON object of FeedModelConfig fields to start a cold start from (cold start only)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=None, help="ID embedding width (cold start only)"
    )
    parser.add_argument(
        "--tower-units",
        default=None,
        help="comma-separated hidden units per tower, or 'large' for the paper's 4 × 3500 "
        "LMLP (cold start only)",
    )
    parser.add_argument(
        "--score-weights",
        default=None,
        help="final score weights as head=weight pairs, e.g. like=1,comment=2 (cold start only)",
    )
    for flag, field, choices in BLOCK_FLAGS:
        parser.add_argument(
            flag,
            default=None,
            help=f"FeedModelConfig.{field}, one of feed_model.{choices} "
            "(cold start only; default: the FeedModelConfig default)",
        )
    parser.add_argument(
        "--saved-model",
        action="store_true",
        help=f"also export the serving SavedModel into --out/{SAVED_MODEL_DIR}",
    )
    parser.add_argument("--horovod", action="store_true", help="run as a Horovod rank")
    parser.add_argument(
        "--dump-rank-weights",
        action="store_true",
        help="every rank writes rank-<r>-weights.npz into --out",
    )
    return parser.parse_args(argv)  # fmt: skip


def cold_start_architecture(args: argparse.Namespace):
    """The `FeedModelConfig` of a cold start before its dense constants: `--model-config`, then
    the block flags, `--embedding-dim`, `--tower-units` and `--score-weights` over it."""
    from models.feed_model import FeedModelConfig

    base = json.loads(args.model_config) if args.model_config else {}
    if not isinstance(base, dict):
        raise ValueError(f"--model-config must be a JSON object. Received: {args.model_config!r}")
    values = {**FeedModelConfig().to_dict(), **base}
    for _, field, _ in BLOCK_FLAGS:
        if getattr(args, field) is not None:
            values[field] = getattr(args, field)
    if args.embedding_dim is not None:
        values["embedding_dim"] = args.embedding_dim
    if args.tower_units is not None:
        values["tower_units"] = tower_units(args.tower_units)
    if args.score_weights is not None:
        values["score_weights"] = score_weights(args.score_weights)
    return FeedModelConfig.from_dict(values)


def cold_start_config(args: argparse.Namespace, inputs: dict[str, np.ndarray]):
    """The `FeedModelConfig` of a cold start: `cold_start_architecture` with the dense
    normalization constants of `inputs`."""
    import dataclasses

    from models.inputs.spec import dense_moments

    mean, variance = dense_moments(inputs)
    return dataclasses.replace(
        cold_start_architecture(args), dense_mean=mean, dense_variance=variance
    )


def read_examples(paths: list[Path], split: str) -> pd.DataFrame:
    """Concatenate the Parquet files/directories in `paths`, keeping rows of `split`."""
    frames = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"examples path {path} does not exist")
        frames.append(pd.read_parquet(path))
    df = pd.concat(frames, ignore_index=True)
    if split != "all":
        if "split" not in df.columns:
            raise ValueError(f"--split {split} given but the examples have no `split` column")
        df = df[df["split"] == split].reset_index(drop=True)
    if df.empty:
        raise ValueError(f"no examples with split={split!r} in {[str(p) for p in paths]}")
    return df


def read_training_inputs(
    paths: list[Path], split: str, examples_format: str, id_hash: str
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The model inputs and labels of the `split` rows (every row for "all") in `paths`.

    Args:
        paths: Parquet files/directories (`examples_format="parquet"`) or Avro shard
            directories/files (`"avro"`), read in the order given.
        split: the `split` value to keep, or "all".
        examples_format: one of `EXAMPLES_FORMATS`.
        id_hash: the model's `FeedModelConfig.id_hash`.

    Returns:
        `(inputs, labels)` as `feature_spec.examples_to_inputs(rows, id_hash=id_hash)` and
        `labels_from(rows)`: the same arrays for the same rows whichever the format.

    Raises:
        ValueError: an unknown `examples_format`, or no rows of `split`.
        FileNotFoundError: a path is missing (or, for Avro, holds no shards).
    """
    if examples_format == "parquet":
        from models.inputs.spec import examples_to_inputs, labels_from

        df = read_examples(paths, split)
        return examples_to_inputs(df, id_hash=id_hash), labels_from(df)
    if examples_format == "avro":
        from models.inputs.atds import read_feed_examples

        return read_feed_examples(paths, split=None if split == "all" else split, id_hash=id_hash)
    raise ValueError(
        f"`examples_format` must be one of {EXAMPLES_FORMATS}. Received: {examples_format!r}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    import keras
    import tensorflow as tf

    from models import registry
    from models.training.distributed import HorovodDistributed, LocalDistributed
    from models.inputs.spec import num_examples
    from models.feed_model import FeedModel
    from models.training.loop import (
        TrainingConfig,
        TrainingDivergedError,
        train_feed_model,
        warm_start,
    )

    distributed = HorovodDistributed() if args.horovod else LocalDistributed()
    if distributed.size > 1:
        threads = max(1, (os.cpu_count() or 1) // distributed.size)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)

    training_config = TrainingConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_fraction=args.warmup_fraction,
        clip_norm=args.clip_norm,
        seed=args.seed,
    )
    keras.utils.set_random_seed(args.seed + distributed.rank)
    read = functools.partial(read_training_inputs, args.examples, args.split, args.examples_format)
    if args.init_from is not None:
        previous, _ = registry.load_model(args.init_from)
        inputs, labels = read(id_hash=previous.config.id_hash)
        model = warm_start(FeedModel(previous.config), previous)
        del previous
    else:
        inputs, labels = read(id_hash=cold_start_architecture(args).id_hash)
        model = FeedModel(cold_start_config(args, inputs))
    initial_weights = model.get_weights() if args.dump_rank_weights else None

    try:
        result = train_feed_model(model, inputs, labels, training_config, distributed)
    except TrainingDivergedError as error:
        print(f"rank {distributed.rank}: {error}", file=sys.stderr)
        return DIVERGED_EXIT_CODE

    summary = {
        **result.to_dict(),
        "ranks": distributed.size,
        "examples": num_examples(inputs),
        "examples_paths": [str(p) for p in args.examples],
        "examples_format": args.examples_format,
        "init_from": str(args.init_from) if args.init_from else None,
    }
    if distributed.rank == 0:
        registry.save_model(
            model,
            args.out,
            {
                "model_config": model.config.to_dict(),
                "training_config": training_config.to_dict(),
                "training_result": summary,
            },
            extra_artifacts=_export_saved_model if args.saved_model else None,
        )
        (args.out / "training_result.json").write_text(json.dumps(summary, indent=2))
    distributed.barrier()  # the model directory is in place before any rank writes into it
    if args.dump_rank_weights:
        args.out.mkdir(parents=True, exist_ok=True)
        np.savez(args.out / f"rank-{distributed.rank}-weights.npz", *model.get_weights())
        np.savez(args.out / f"rank-{distributed.rank}-initial-weights.npz", *initial_weights)
    if distributed.rank == 0:
        print(json.dumps(summary))
    return 0


def _export_saved_model(model, directory: Path) -> None:
    from models.serving.saved_model import export_saved_model

    export_saved_model(model, directory / SAVED_MODEL_DIR)


if __name__ == "__main__":
    sys.exit(main())

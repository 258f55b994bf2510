"""Divergence rate of the cross network at a deliberately high learning rate: 5% vs 50% warm-up
(paper §16: DCNv2 runs diverged often; raising the warm-up from 5% to 50% of the steps fixed it).
Prints one line per run, then one JSON line.

Run: `.venv/bin/python bench/warmup.py [--root DIR] [--rows 6000] [--learning-rate 0.25]`
(about 2–4 minutes on 2 cores; uses day 1 of the demo world from `--root`, materialized by
`lirank_assets.backfill.materialize_days` when missing).

Setup: a small feed model with the DCNv2 cross interaction (`interaction="cross"`, 2 layers),
low-rank (r = `--low-rank`) and full-rank (r = the width of the cross input, so W = UVᵀ can be
any matrix), trained with the loop's Adam, global-norm clipping at `--clip-norm` (loose, so the
learning rate is what decides), for `--epochs` epochs of `--rows` training rows of the first demo
day at batch `--batch-size`, over seeds 0..4 (initialization and shuffle). A run *diverges*
when the loop's divergence guard fires (loss NaN/inf or above 10× its first-epoch reference,
`models.training.loop.DivergenceGuard`). JSON: `divergence_rate_5`, `divergence_rate_50` (over
both cross ranks and 5 seeds: 10 runs each), the per-rank rates and the mean final loss of the
runs that did not diverge.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

SEEDS = range(5)
WARMUPS = {"5": 0.05, "50": 0.5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--rows", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--learning-rate", type=float, default=0.25)
    parser.add_argument("--clip-norm", type=float, default=100.0)
    parser.add_argument("--low-rank", type=int, default=4)
    args = parser.parse_args()

    import keras

    from lirank_assets.backfill import materialize_days
    from models.feed import TINY_FEED_MODEL, FeedModel
    from models.inputs.atds import read_feed_examples
    from models.inputs.spec import dense_moments, take
    from models.training.config import TrainingConfig, TrainingPlan
    from models.training.job import cold_start_architecture
    from models.training.loop import TrainingDivergedError, train_feed_model
    from spark.storage import DataLayout

    days, _ = materialize_days(args.root, 1)
    examples = (str(DataLayout(args.root).training_examples_avro(days[0])),)
    base = dataclasses.replace(TINY_FEED_MODEL, interaction="cross", cross_layers=2)
    plan = TrainingPlan(model_id="warmup", out_dir="/tmp/unused", examples=examples, model=base)
    architecture = cold_start_architecture(plan)
    inputs, labels = read_feed_examples(examples, spec=architecture.input_spec(), split="train")
    rows = slice(0, args.rows)
    inputs, labels = take(inputs, rows), take(labels, rows)
    mean, variance = dense_moments(inputs)
    architecture = dataclasses.replace(architecture, dense_mean=mean, dense_variance=variance)
    probe = FeedModel(architecture)
    # r = d, the width of the cross input: the cross weight W = U Vᵀ is unrestricted
    full_rank = probe.num_vectors * architecture.embedding_dim + len(mean) + probe.affinity_dim
    ranks = {"low_rank": args.low_rank, "full_rank": full_rank}

    runs = []
    start = time.perf_counter()
    for cross, rank in ranks.items():
        for warmup_name, warmup in WARMUPS.items():
            for seed in SEEDS:
                keras.utils.set_random_seed(seed)
                model = FeedModel(dataclasses.replace(architecture, cross_projection_dim=rank))
                config = TrainingConfig(
                    epochs=args.epochs, batch_size=args.batch_size,
                    learning_rate=args.learning_rate, warmup_fraction=warmup,
                    clip_norm=args.clip_norm, seed=seed,
                )  # fmt: skip
                try:
                    final = train_feed_model(model, inputs, labels, config).epoch_losses[-1]
                    diverged, reason = False, ""
                except TrainingDivergedError as error:
                    diverged, reason, final = True, str(error).split(":")[0], None
                runs.append(
                    {"cross": cross, "rank": rank, "warmup": warmup_name, "seed": seed,
                     "diverged": diverged, "final_loss": final}
                )  # fmt: skip
                print(
                    f"{cross:<10} r={rank:<4} warmup={warmup_name:>2}% seed={seed}: "
                    f"{'DIVERGED ' + reason if diverged else f'final loss {final:.4f}'}",
                    flush=True,
                )

    def chosen(warmup: str, cross: str | None) -> list[dict]:
        return [r for r in runs if r["warmup"] == warmup and cross in (None, r["cross"])]

    def rate(warmup: str, cross: str | None = None) -> float:
        return sum(r["diverged"] for r in chosen(warmup, cross)) / len(chosen(warmup, cross))

    def mean_final(warmup: str, cross: str) -> float | None:
        finals = [r["final_loss"] for r in chosen(warmup, cross) if not r["diverged"]]
        return round(sum(finals) / len(finals), 4) if finals else None

    summary = {
        "divergence_rate_5": rate("5"),
        "divergence_rate_50": rate("50"),
        "by_cross": {
            cross: {
                "rank": rank,
                "divergence_rate_5": rate("5", cross),
                "divergence_rate_50": rate("50", cross),
                "mean_final_loss_5": mean_final("5", cross),
                "mean_final_loss_50": mean_final("50", cross),
            }
            for cross, rank in ranks.items()
        },  # fmt: skip
        "learning_rate": args.learning_rate,
        "clip_norm": args.clip_norm,
        "rows": len(labels["click"]),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seeds": len(SEEDS),
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()

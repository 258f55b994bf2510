"""Embedding quantization of the graph model (paper §3.13): bytes saved against ranking lost.

Run: `.venv/bin/python bench/compression.py` (a few minutes on 2 cores once the days exist;
`--days N` uses fewer days, `--data-root` reuses prepared features, by default the ablation's).

1. Features: the graph's own jobs materialize the world preset (`LIRANK_WORLD`, default `demo`)
   into `--data-root` (`lirank_assets.backfill`); existing days are reused.
2. Model: the graph model, trained as the graph trains it (cold start on the first
   `cold_start_days`, then one incremental day at a time), each day with its popularity random
   effects (`lirank_assets.backfill.train_graph_days`).
3. Compression: every day's model is quantized with each scheme of `models.compression.SCHEMES`
   (`write_compressed_model`: every embedding table row-wise; the random effects stay those of
   the fp32 model).
4. Next-day protocol, day D ranked by the models of D−1: offline AUC per head on day D's
   non-replay rows (`evaluate_offline`) and, on day D's random bucket, the ground-truth expected
   contributions of each model's #1 pick (`evaluate_replay` with the world's truth), paired
   session by session against the fp32 model.

Reported per scheme: `bytes_ratio` (embedding bytes / fp32), `auc_delta` (mean over heads and
days of AUC − fp32 AUC), `expected_delta` (mean over sessions of the #1 pick's expected
contributions − fp32's, with its paired 95% interval) and `mean_abs_error` (mean |X − X_deq|
over every embedding value). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lirank_assets.backfill import materialize_days, train_graph_days  # noqa: E402
from models.compression.feed import write_compressed_model  # noqa: E402
from models.compression.schemes import DEFAULT_SCHEME, SCHEMES  # noqa: E402
from models.evaluation.intervals import paired_difference_stats  # noqa: E402
from models.evaluation.offline import evaluate_offline  # noqa: E402
from models.evaluation.replay_eval import evaluate_replay  # noqa: E402
from models.feed import GRAPH_FEED_MODEL  # noqa: E402
from spark.storage import DataLayout  # noqa: E402
from spark.world import FeedWorld, expected_top1_contributions  # noqa: E402

FP32 = "fp32"


def evaluate_day(model_dir: Path, effects: Path, layout: DataLayout, day, before, world: FeedWorld):
    """Offline AUC per head and the #1 picks' expected contributions of one model on `day`."""
    offline = evaluate_offline(
        model_dir,
        effects,
        layout.training_examples(day),
        day,
        baseline_examples_dir=layout.training_examples(before),
        splits=("train", "holdout"),
    )
    truth = pd.read_parquet(layout.ground_truth(day))
    replay = evaluate_replay(
        model_dir,
        effects,
        layout.replay_candidates(day),
        layout.training_examples(before),
        day,
        expected_top1=functools.partial(
            expected_top1_contributions, truth, curve=world.position_curve()
        ),
    )
    model_rows = offline[offline["scorer"] == "model"]
    return dict(zip(model_rows["head"], model_rows["auc"], strict=True)), replay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--days", type=int, default=None, help="use only the first N days")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    root = args.data_root.resolve()
    days, settings = materialize_days(root, args.days)
    cold = settings.cold_start_days
    if len(days) <= cold:
        raise SystemExit(f"need more than cold_start_days={cold} days; got {len(days)}")
    world = FeedWorld(settings.world)
    work = Path(tempfile.mkdtemp(prefix="compression-"))
    auc: dict[str, list[dict]] = {}
    picks: dict[str, list[pd.DataFrame]] = {}
    compressed_stats: dict[str, list] = {name: [] for name in SCHEMES}
    try:
        trained = train_graph_days(
            DataLayout(root), work / "fp32", days, cold, GRAPH_FEED_MODEL, args.seed,
            through=days[-2],
        )  # fmt: skip
        print(f"trained {len(trained)} daily models", flush=True)
        for index in range(cold, len(days)):
            day, before = days[index], days[index - 1]
            model_dir, effects = trained[before].model_dir, trained[before].effects_dir
            candidates = {FP32: model_dir}
            for name in SCHEMES:
                out = work / name / before.isoformat()
                compressed = write_compressed_model(model_dir, out, name, export=False)
                compressed_stats[name].append(compressed)
                candidates[name] = out
            for name, directory in candidates.items():
                aucs, replay = evaluate_day(
                    directory, effects, DataLayout(root), day, before, world
                )
                auc.setdefault(name, []).append(aucs)
                top1 = replay.values["model"].rename("value").rename_axis("session_id")
                picks.setdefault(name, []).append(top1.reset_index().assign(day=day))
            print(f"evaluated {day}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(auc, picks, compressed_stats)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["days_evaluated"] = len(days) - cold
    print(json.dumps(report))


def summarize(auc: dict, picks: dict, compressed_stats: dict) -> dict:
    """Print the table; return the JSON report."""
    base_auc = pd.DataFrame(auc[FP32])
    base_values = pd.concat(picks[FP32])
    schemes = {}
    for name, stats in compressed_stats.items():
        paired = pd.concat(picks[name]).merge(
            base_values, on=["day", "session_id"], how="inner", suffixes=("", "_fp32")
        )
        n, mean, variance = paired_difference_stats(
            paired["value"].to_numpy(), paired["value_fp32"].to_numpy()
        )
        half = 1.96 * np.sqrt(variance / n) if n > 1 else float("nan")
        schemes[name] = {
            "bytes_ratio": round(float(np.mean([s.ratio for s in stats])), 4),
            "fp32_bytes": int(stats[-1].fp32_bytes),
            "bytes": int(stats[-1].bytes),
            "auc_delta": round(float((pd.DataFrame(auc[name]) - base_auc).to_numpy().mean()), 6),
            "expected_delta": round(mean, 6),
            "expected_delta_ci": [round(mean - half, 6), round(mean + half, 6)],
            "expected_fp32": round(float(base_values["value"].mean()), 6),
            "sessions": int(n),
            "mean_abs_error": float(np.mean([s.mean_abs_error for s in stats])),
            "max_abs_error": float(np.max([s.tables["max_abs_error"].max() for s in stats])),
        }
    print(f"\n{'scheme':<18}{'bytes ratio':>12}{'AUC delta':>12}{'E[contrib] delta':>18}"
          f"{'mean |err|':>12}")  # fmt: skip
    for name, entry in schemes.items():
        print(
            f"{name:<18}{entry['bytes_ratio']:>12.4f}{entry['auc_delta']:>12.6f}"
            f"{entry['expected_delta']:>18.6f}{entry['mean_abs_error']:>12.2e}"
        )
    default = schemes[DEFAULT_SCHEME]
    return {
        "bytes_ratio": default["bytes_ratio"],
        "auc_delta": default["auc_delta"],
        "expected_delta": default["expected_delta"],
        "middle_max_error": schemes["middle_max_8bit"]["mean_abs_error"],
        "min_max_error": schemes["min_max_8bit"]["mean_abs_error"],
        "schemes": schemes,
    }


if __name__ == "__main__":
    main()

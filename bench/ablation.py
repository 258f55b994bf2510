"""Feed-model ablation on the simulated world, paper Table 6 style (prints a table, then one JSON
line).

Run: `.venv/bin/python bench/ablation.py` (about 35 minutes on 2 cores for 12 variants × 2 seeds;
`--quick` runs 3 variants with one seed, about 5 minutes; `--variant NAME` and `--seeds N` pick).
It measures what the graph would get with each block configuration:

1. Features: the graph's own Dagster jobs (`raw_logs_job`, `features_job`) materialize the world
   preset (`LIRANK_WORLD`, default `demo`) into `--data-root`; existing partitions are reused.
2. Per variant and seed, exactly the graph's ranking and evaluation functions: a cold start on the
   first `cold_start_days` days (`run_training` of a `TrainingPlan`, reading the Avro shards
   through ATDS as the graph does), then one incremental day at a time (paper §5); for every
   model day its popularity random effects, and each day after the cold start evaluated next-day
   (the graph's protocol): the previous day's model and effects on that day's unseen rows
   (offline AUC) and random bucket (replay; `evaluate_offline`, `evaluate_replay`).
3. Reported per variant: the pooled replay contribution rate @1 over every evaluated day with its
   95% Wilson interval (paper §15; noisy: only ~1/10 of the random-bucket sessions match), the
   ground-truth expected contributions of the ranker's #1 per session (the simulator knows the
   true probabilities, so this values every session's pick, not only the matched ones: a far less
   noisy measure of the same thing), the mean AUC over heads and days, and training seconds.
   With several seeds, the ± after the expected contributions is the spread (std) over seeds;
   "lift" is the relative change of the expected contributions against the previous default.

Each variant adds one block to the previous graph default ("dot"), except the last rows, which
combine blocks (Table 6 rows "LDCNv2 + TransAct", "RDCN + TransAct"). The paper's LMLP (4 × 3500)
is left out: on 2 CPU cores it alone would take longer than the demo budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from models.evaluation.intervals import wilson_interval  # noqa: E402
from models.evaluation.offline import evaluate_offline  # noqa: E402
from models.evaluation.replay_eval import evaluate_replay  # noqa: E402
from models.feed import FeedModelConfig  # noqa: E402
from models.popularity import fit_popularity_effects  # noqa: E402
from models.training.config import TrainingConfig, TrainingPlan  # noqa: E402
from models.training.job import run_training  # noqa: E402
from spark.world import FeedWorld, expected_top1_contributions  # noqa: E402

BASE = FeedModelConfig(id_hash="murmur")  # the graph default before this ablation
# (variant, FeedModelConfig overrides): one block at a time, then combinations (Table 6 order)
VARIANTS: tuple[tuple[str, dict], ...] = (
    ("dot (previous default)", {}),
    ("no interaction (flat MLP)", {"interaction": "none"}),
    ("+ isotonic calibration", {"calibration": "isotonic"}),
    ("+ dense gating", {"tower": "gated"}),
    ("+ task grouping (by rate)", {"task_grouping": "by_rate"}),
    ("+ low-rank DCNv2", {"interaction": "cross"}),
    ("+ low-rank DCNv2 + task grouping", {"interaction": "cross", "task_grouping": "by_rate"}),
    ("+ residual DCN", {"interaction": "residual_dcn"}),
    ("+ transformer history", {"history_pooling": "transformer"}),
    ("+ QR ids", {"id_embedding": "qr"}),
    (
        "RDCN + isotonic + gating",
        {"interaction": "residual_dcn", "calibration": "isotonic", "tower": "gated"},
    ),
    (
        "RDCN + transformer + isotonic + gating",
        {
            "interaction": "residual_dcn",
            "history_pooling": "transformer",
            "calibration": "isotonic",
            "tower": "gated",
        },
    ),
)
REFERENCE = "dot (previous default)"  # the lifts are relative to it (Table 6 style)
QUICK = ("dot (previous default)", "+ residual DCN", "RDCN + isotonic + gating")


def prepare_world(root: Path, num_days: int | None) -> tuple[list[dt.date], object, int]:
    """Materialize raw logs and features for the preset's days into `root` (skips existing days).

    Returns the days, the world config and the cold-start days of the settings.
    """
    from dagster import DagsterInstance

    from lirank_assets.definitions import build_definitions
    from lirank_assets.settings import settings_from_env

    settings = settings_from_env()
    days = [settings.world.date_of(d) for d in range(settings.world.num_days)][:num_days]
    quiet = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
    missing = [day for day in days if not any(_avro_examples(root, day).glob("part-*.avro"))]
    if missing:
        defs = build_definitions(settings, str(root))
        instance = DagsterInstance.ephemeral()
        for day in missing:
            for job in ("raw_logs_job", "features_job"):
                defs.resolve_job_def(job).execute_in_process(
                    partition_key=day.isoformat(), instance=instance, run_config=quiet
                )
            print(f"prepared {day}", flush=True)
    return days, settings.world, settings.cold_start_days


def _examples(root: Path, day: dt.date) -> Path:
    return root / "features" / "training_examples" / f"date={day.isoformat()}"


def _avro_examples(root: Path, day: dt.date) -> Path:
    """The day's Avro shards of `training_examples`: what the graph's trainer reads."""
    return root / "features" / "training_examples_avro" / f"date={day.isoformat()}"


def _partition(root: Path, group: str, name: str, day: dt.date) -> Path:
    return root / group / name / f"date={day.isoformat()}"


def run_variant(
    root: Path,
    work: Path,
    days: list[dt.date],
    world,
    cold_start_days: int,
    model: FeedModelConfig,
    seed: int,
) -> dict:
    """Cold start, incremental days, and the next-day evaluation of each day after the cold
    start by the previous day's model: pooled figures."""
    models_root = work / "models"
    replay, offline, seconds = [], [], 0.0
    previous = previous_effects = None
    first = cold_start_days - 1
    for index in range(first, len(days)):
        day = days[index]
        out = models_root / f"date={day.isoformat()}"
        window = days[index - first : index + 1] if previous is None else [day]
        # the graph's TrainingResource defaults: 3 cold-start epochs, 2 per incremental day
        plan = TrainingPlan(
            model_id=f"feed-{day.isoformat()}",
            out_dir=out,
            examples=tuple(_avro_examples(root, d) for d in window),
            previous_model=previous,
            model=model,
            training=TrainingConfig(
                epochs=2 if previous else 3, batch_size=512, learning_rate=3e-3, seed=seed
            ),
            export_saved_model=False,
        )
        result = run_training(plan)
        seconds += result.train_seconds
        effects = work / "effects" / f"date={day.isoformat()}"
        effects.mkdir(parents=True, exist_ok=True)
        fit_popularity_effects(out, _examples(root, day)).to_parquet(effects / "part-0.parquet")
        if previous is not None:  # next-day protocol: yesterday's model ranks today
            offline.append(
                evaluate_offline(
                    previous,
                    previous_effects,
                    _examples(root, day),
                    day,
                    baseline_examples_dir=_examples(root, days[index - 1]),
                    splits=("train", "holdout"),
                )
            )
            replay.append(
                evaluate_replay(
                    previous,
                    previous_effects,
                    _partition(root, "features", "replay_candidates", day),
                    _examples(root, days[index - 1]),
                    day,
                    expected_top1=functools.partial(
                        expected_top1_contributions,
                        pd.read_parquet(_partition(root, "raw", "feed_ground_truth", day)),
                        curve=FeedWorld(world).position_curve(),
                    ),
                ).rates
            )
        previous_effects = effects
        previous = out
    replay_rows = pd.concat(replay, ignore_index=True)
    offline_rows = pd.concat(offline, ignore_index=True)
    model_replay = replay_rows[replay_rows["ranker"] == "model"]
    matched, hits = int(model_replay["matched"].sum()), int(model_replay["contributions"].sum())
    low, high = wilson_interval(hits, matched)
    weights = model_replay["sessions"].to_numpy(dtype=float)
    expected = float(np.average(model_replay["expected_contributions"], weights=weights))
    model_offline = offline_rows[offline_rows["scorer"] == "model"]
    return {
        "matched": matched,
        "contributions": hits,
        "rate": hits / matched if matched else float("nan"),
        "ci_low": low,
        "ci_high": high,
        "expected": expected,
        "mean_auc": float(model_offline["auc"].mean()),
        "train_seconds": seconds,
        "replay_rows": replay_rows,
    }


def _baselines(replay_rows: pd.DataFrame) -> dict[str, float]:
    out = {}
    for ranker, rows in replay_rows.groupby("ranker"):
        weights = rows["sessions"].to_numpy(dtype=float)
        out[ranker] = float(np.average(rows["expected_contributions"], weights=weights))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--quick", action="store_true", help=f"only {QUICK}, one seed")
    parser.add_argument("--seeds", type=int, default=2, help="training seeds per variant")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    parser.add_argument("--days", type=int, default=None, help="use only the first N days")
    parser.add_argument("--variant", action="append", help="run only these variants (by name)")
    args = parser.parse_args()
    root = args.data_root.resolve()
    days, world, cold_start_days = prepare_world(root, args.days)
    names = list(args.variant or (QUICK if args.quick else [name for name, _ in VARIANTS]))
    unknown = sorted(set(names) - {name for name, _ in VARIANTS})
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {[n for n, _ in VARIANTS]}")
    seeds = range(args.first_seed, args.first_seed + (1 if args.quick else args.seeds))
    rows, baselines = [], {}
    for name, overrides in VARIANTS:
        if name not in names:
            continue
        model = dataclasses.replace(BASE, **overrides)
        runs = []
        for seed in seeds:
            work = Path(tempfile.mkdtemp(prefix="ablation-"))
            try:
                runs.append(run_variant(root, work, days, world, cold_start_days, model, seed))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        baselines = baselines or _baselines(runs[0]["replay_rows"])
        matched = sum(r["matched"] for r in runs)
        hits = sum(r["contributions"] for r in runs)
        low, high = wilson_interval(hits, matched)
        expected = [r["expected"] for r in runs]
        rows.append(
            {
                "variant": name,
                "overrides": overrides,
                "matched": matched,
                "rate": hits / matched if matched else float("nan"),
                "ci_low": low,
                "ci_high": high,
                "expected": float(np.mean(expected)),
                "expected_sd": float(np.std(expected)),
                "mean_auc": float(np.mean([r["mean_auc"] for r in runs])),
                "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
            }
        )
        reference = next((r for r in rows if r["variant"] == REFERENCE), rows[0])
        rows[-1]["expected_lift"] = rows[-1]["expected"] / reference["expected"] - 1.0
        print_row(rows[-1], flush=True)
    print(
        f"\n{len(days)} days ({days[0]}..{days[-1]}), cold start on {cold_start_days}, "
        f"{len(seeds)} seed(s) per variant; replay pooled over seeds and the evaluated days "
        f"{days[cold_start_days]}..{days[-1]}."
    )
    print(
        "Ground-truth expected contributions of other rankers' #1 (same sessions): "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(baselines.items()) if k != "model")
    )
    best = max(rows, key=lambda r: r["expected"])
    print(
        json.dumps(
            {
                "days": len(days),
                "seeds": len(seeds),
                "baselines_expected": baselines,
                "best_by_expected": best["variant"],
                "variants": rows,
            }
        )
    )


def print_row(row: dict, flush: bool = False) -> None:
    if not getattr(print_row, "header", False):
        print(
            f"{'variant':<40}{'replay rate ± 95% CI':>28}{'matched':>9}"
            f"{'expected (± sd)':>20}{'lift':>8}{'mean AUC':>10}{'train s':>9}"
        )
        print_row.header = True
    ci = f"{row['rate']:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
    expected = f"{row['expected']:.4f} ± {row['expected_sd']:.4f}"
    print(
        f"{row['variant']:<40}{ci:>28}{row['matched']:>9}{expected:>20}"
        f"{row['expected_lift']:>+8.1%}"
        f"{row['mean_auc']:>10.4f}{row['train_seconds']:>9.1f}",
        flush=flush,
    )


if __name__ == "__main__":
    main()

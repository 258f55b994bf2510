"""Feed-model ablation ladder on the simulated world, paper Table 6 (prints a table, one JSON
line, and stores the rows in the warehouse table `ablation_results`).

Run: `make ablation` or `.venv/bin/python bench/ablation.py` (`--preset default`: the demo world,
one seed, the LMLP row at 4 × 512, about 20 minutes on 2 cores: the world ~1–3 minutes the first
time, then per row from ~35 s (row 0) to ~170 s (row 9, measured); `--preset large`: two seeds and
the paper's 4 × 3500 LMLP, for a bigger machine; `--quick`: the first 3 rows, one seed, to check
the setup; `--rows N`: the first N rows). The world is `LIRANK_WORLD` (default `demo`).

The ladder (paper Table 6, in its development order; each row adds one block to the row above,
so every row from the third on is a combination):

    0 baseline: flat MLP, no ID embeddings (every ID hashes into one bucket), mean history
    1 + 30-dim ID embeddings (member, actor, hashtag tables)          Table 6: +1.89%
    2 + isotonic calibration layer                                    +1.08%
    3 + large MLP ("LMLP", wider towers)                              +1.23%
    4 + dense gating                                                  +1.00%
    5 + low-rank DCNv2                                                +1.26%
    6 + TransAct: history Transformer over post IDs and actions,
        early fusion of the candidate post                            +1.66%
    7 + residual DCN (in place of low-rank DCNv2)                     +2.15%
    8 + MMoE (experts and per-tower gates, paper §9)                  (Table 1: +1.19%)
    9 + PLE (in place of MMoE)                                        (Table 1: +1.34%)

How each row is measured (what the graph does, per row and seed):

1. Features: the graph's own Dagster jobs (`raw_logs_job`, `features_job`) materialize the world
   into `--data-root`; existing partitions of the current example schema are reused.
2. A cold start on the first `cold_start_days` days (`run_training` of a `TrainingPlan`, reading
   the Avro shards through ATDS as the graph does), then one incremental day at a time (paper
   §5); for every model day its popularity random effects, and each day after the cold start
   evaluated next-day (the graph's protocol): the previous day's model and effects on that day's
   unseen rows (offline AUC) and random bucket (replay; `evaluate_offline`, `evaluate_replay`).
3. Per row: the ground-truth expected contributions of the model's #1 pick per random-bucket
   session (the simulator knows the true probabilities, so every session's pick is valued, not
   only the matched ones), and its paired difference from the row above: per session
   d_s = value(this row's pick) − value(the previous row's pick) on the same sessions, the same
   seed and day, pooled over days and seeds (`intervals.pooled_paired_interval`; seeds are
   pooled like extra days: the interval covers the sessions' sampling, not the training
   randomness of one run; with one seed a row's interval can exclude 0 while a rerun with
   another seed moves it: read small differences with `--seeds 2` or more). Also the pooled
   replay contribution rate @1 with its 95% Wilson interval (paper §15; noisy: few sessions
   match), the mean AUC over heads and days, and training seconds (mean over seeds).

Results go to `ablation_results` in the project's warehouse (`--warehouse-root`, default
`$LIRANK_DATA_ROOT`, else the repository's `.lirank/`: `DataLayout.warehouse`), one row per
ladder row, keyed by `run_id` (a rerun with the same id replaces its rows); the review snapshot,
hence the dashboard's Ablation page, carries them from the next evaluation on.
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

from lirank_assets.backfill import materialize_days, train_graph_days  # noqa: E402
from models.evaluation.intervals import (  # noqa: E402
    paired_difference_stats,
    pooled_paired_interval,
    wilson_interval,
)
from models.evaluation.offline import evaluate_offline  # noqa: E402
from models.evaluation.replay_eval import evaluate_replay  # noqa: E402
from models.feed import LARGE_TOWER_UNITS, FeedModelConfig  # noqa: E402
from spark.storage import DataLayout  # noqa: E402
from spark.world import FeedWorld, expected_top1_contributions  # noqa: E402

# the ladder's starting point: the graph's string IDs, no interaction block, mean history pooling
BASE = FeedModelConfig(id_hash="murmur", interaction="none", history_pooling="mean")
NO_IDS = {"member_buckets": 1, "actor_buckets": 1, "hashtag_buckets": 1}
LMLP = "lmlp"  # placeholder in LADDER for the preset's large-MLP width


@dataclasses.dataclass(frozen=True)
class Preset:
    """A scale of the ladder: training seeds and the width of the large-MLP row."""

    seeds: int
    large_tower_units: tuple[int, ...]


PRESETS: dict[str, Preset] = {
    # under 30 minutes on 2 CPU cores (the demo world, 8 days)
    "default": Preset(seeds=1, large_tower_units=(512, 512, 512, 512)),
    # the paper's LMLP and two seeds: for a machine with more cores
    "large": Preset(seeds=2, large_tower_units=LARGE_TOWER_UNITS),
}
# (row name, what the row changes from the row above); row 0 is BASE with NO_IDS
LADDER: tuple[tuple[str, dict], ...] = (
    ("baseline (flat MLP, no ID embeddings)", NO_IDS),
    ("+ 30-dim ID embeddings", {name: getattr(BASE, name) for name in NO_IDS}),
    ("+ isotonic calibration", {"calibration": "isotonic"}),
    ("+ large MLP", {"tower_units": LMLP}),
    ("+ dense gating", {"tower": "gated"}),
    ("+ low-rank DCNv2", {"interaction": "cross"}),
    (
        "+ TransAct (post IDs + actions, early fusion)",
        {"history_pooling": "transformer", "history_items": "posts"},
    ),
    ("+ residual DCN", {"interaction": "residual_dcn"}),
    ("+ MMoE", {"multitask": "mmoe"}),
    ("+ PLE (instead of MMoE)", {"multitask": "ple"}),
)
QUICK_ROWS = 3
ABLATION_COLUMNS: tuple[str, ...] = (
    "run_id",
    "row",
    "variant",
    "expected_contributions",
    "diff_vs_previous",
    "diff_ci_low",
    "diff_ci_high",
    "replay_rate",
    "replay_ci_low",
    "replay_ci_high",
    "mean_auc",
    "train_seconds",
)


def ladder_configs(preset: Preset) -> list[tuple[str, FeedModelConfig]]:
    """Each row's name and model config: BASE with the changes of every row up to it."""
    configs, overrides = [], {}
    for name, change in LADDER:
        change = {
            key: preset.large_tower_units if value == LMLP else value
            for key, value in change.items()
        }
        overrides = {**overrides, **change}
        configs.append((name, dataclasses.replace(BASE, **overrides)))
    return configs


def prepare_world(root: Path, num_days: int | None) -> tuple[list[dt.date], object, int]:
    """Materialize raw logs and features for the preset's days into `root` (skips days whose
    Avro shards have the current schema; `lirank_assets.backfill.materialize_days`).

    Returns the days, the world config and the cold-start days of the settings.
    """
    days, settings = materialize_days(root, num_days)
    return days, settings.world, settings.cold_start_days


def run_variant(
    root: Path,
    work: Path,
    days: list[dt.date],
    world,
    cold_start_days: int,
    model: FeedModelConfig,
    seed: int,
    training=None,
) -> dict:
    """Cold start, incremental days, and the next-day evaluation of each day after the cold
    start by the previous day's model: pooled figures, and per evaluated day the ground-truth
    value of the model's #1 pick per session (`values`: day -> Series by session_id).
    `training`: a `TrainingResource` (default: the graph's)."""
    layout = DataLayout(root)
    # the graph's cold start and incremental days (TrainingResource defaults), with effects
    trained = train_graph_days(layout, work, days, cold_start_days, model, seed, training=training)
    curve = FeedWorld(world).position_curve()
    replay, offline, values = [], [], {}
    for index in range(cold_start_days, len(days)):  # next-day: yesterday's model ranks today
        day, before = days[index], days[index - 1]
        ranked_by = trained[before]
        offline.append(
            evaluate_offline(
                ranked_by.model_dir,
                ranked_by.effects_dir,
                layout.training_examples(day),
                day,
                baseline_examples_dir=layout.training_examples(before),
                splits=("train", "holdout"),
            )
        )
        evaluation = evaluate_replay(
            ranked_by.model_dir,
            ranked_by.effects_dir,
            layout.replay_candidates(day),
            layout.training_examples(before),
            day,
            expected_top1=functools.partial(
                expected_top1_contributions, pd.read_parquet(layout.ground_truth(day)), curve=curve
            ),
        )
        replay.append(evaluation.rates)
        values[day] = evaluation.values["model"]
    seconds = sum(t.train_seconds for t in trained.values())
    replay_rows = pd.concat(replay, ignore_index=True)
    offline_rows = pd.concat(offline, ignore_index=True)
    model_replay = replay_rows[replay_rows["ranker"] == "model"]
    model_offline = offline_rows[offline_rows["scorer"] == "model"]
    return {
        "matched": int(model_replay["matched"].sum()),
        "contributions": int(model_replay["contributions"].sum()),
        "mean_auc": float(model_offline["auc"].mean()),
        "train_seconds": seconds,
        "values": values,
        "replay_rows": replay_rows,
    }


def ladder_row(run_id: str, row: int, name: str, runs: list[dict], previous: list[dict] | None):
    """One `ABLATION_COLUMNS` row from a ladder row's runs (one per seed) and those of the row
    above (None for the first row)."""
    matched = sum(r["matched"] for r in runs)
    hits = sum(r["contributions"] for r in runs)
    low, high = wilson_interval(hits, matched)
    pooled = pd.concat([value for r in runs for value in r["values"].values()])
    diff = diff_low = diff_high = float("nan")
    if previous is not None:
        stats = [
            _paired(current["values"][day], before["values"][day])
            for current, before in zip(runs, previous, strict=True)  # same seed
            for day in current["values"]
        ]
        diff, diff_low, diff_high = pooled_paired_interval(*zip(*stats, strict=True))
    return {
        "run_id": run_id,
        "row": row,
        "variant": name,
        "expected_contributions": float(pooled.mean()),
        "diff_vs_previous": diff,
        "diff_ci_low": diff_low,
        "diff_ci_high": diff_high,
        "replay_rate": hits / matched if matched else float("nan"),
        "replay_ci_low": low,
        "replay_ci_high": high,
        "mean_auc": float(np.mean([r["mean_auc"] for r in runs])),
        "train_seconds": float(np.mean([r["train_seconds"] for r in runs])),
    }


def _paired(current: pd.Series, before: pd.Series) -> tuple[int, float, float]:
    """Paired difference stats of two rows' per-session values on the sessions both value."""
    current, before = current.align(before, join="inner")
    return paired_difference_stats(current.to_numpy(), before.to_numpy())


def _baselines(replay_rows: pd.DataFrame) -> dict[str, float]:
    out = {}
    for ranker, rows in replay_rows.groupby("ranker"):
        weights = rows["sessions"].to_numpy(dtype=float)
        out[ranker] = float(np.average(rows["expected_contributions"], weights=weights))
    return out


def store_results(rows: pd.DataFrame, warehouse_root: Path) -> Path:
    """Replace the run's rows of `ablation_results` in the warehouse under `warehouse_root`."""
    from lirank_assets.resources import DataRoot, Warehouse
    from models.reporting.review import ABLATION_TABLE

    warehouse = Warehouse(data_root=DataRoot(path=str(warehouse_root)))
    Path(warehouse.database).parent.mkdir(parents=True, exist_ok=True)
    warehouse.replace_rows(ABLATION_TABLE, "run_id", rows["run_id"].iloc[0], rows)
    return Path(warehouse.database)


def main() -> None:
    from spark.storage import DATA_ROOT_ENV, DEFAULT_DATA_ROOT

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument(
        "--warehouse-root",
        type=Path,
        default=Path(os.environ.get(DATA_ROOT_ENV) or _HERE.parent / DEFAULT_DATA_ROOT),
        help="data root whose warehouse.duckdb gets `ablation_results` (default: the project's)",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="default")
    parser.add_argument("--quick", action="store_true", help=f"the first {QUICK_ROWS} rows, 1 seed")
    parser.add_argument("--rows", type=int, default=None, help="run only the first N rows")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (default: the preset's)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one")
    parser.add_argument("--days", type=int, default=None, help="use only the first N days")
    parser.add_argument("--run-id", default=None, help="rows with this id are replaced")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    rows_wanted = QUICK_ROWS if args.quick else (args.rows or len(LADDER))
    if not 1 <= rows_wanted <= len(LADDER):
        raise SystemExit(f"--rows must be in [1, {len(LADDER)}]. Received: {rows_wanted}")
    num_seeds = 1 if args.quick else (args.seeds or preset.seeds)
    seeds = range(args.first_seed, args.first_seed + num_seeds)
    run_id = args.run_id or (
        f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{'quick' if args.quick else args.preset}"
    )
    root = args.data_root.resolve()
    days, world, cold_start_days = prepare_world(root, args.days)
    rows, baselines, previous = [], {}, None
    for index, (name, model) in enumerate(ladder_configs(preset)[:rows_wanted]):
        runs = []
        for seed in seeds:
            work = Path(tempfile.mkdtemp(prefix="ablation-"))
            try:
                runs.append(run_variant(root, work, days, world, cold_start_days, model, seed))
            finally:
                shutil.rmtree(work, ignore_errors=True)
        baselines = baselines or _baselines(runs[0]["replay_rows"])
        rows.append(ladder_row(run_id, index, name, runs, previous))
        print_row(rows[-1], flush=True)
        previous = runs
    table = pd.DataFrame(rows, columns=list(ABLATION_COLUMNS))
    database = store_results(table, args.warehouse_root.resolve())
    print(
        f"\n{len(days)} days ({days[0]}..{days[-1]}), cold start on {cold_start_days}, "
        f"{len(seeds)} seed(s) per row; pooled over seeds and the evaluated days "
        f"{days[cold_start_days]}..{days[-1]}. Stored run {run_id} in {database} "
        "(ablation_results)."
    )
    print(
        "Ground-truth expected contributions of other rankers' #1 (same sessions): "
        + ", ".join(f"{k} {v:.4f}" for k, v in sorted(baselines.items()) if k != "model")
    )
    print(
        json.dumps(
            {
                "run_id": run_id,
                "days": len(days),
                "seeds": len(seeds),
                "baselines_expected": baselines,
                "rows": rows,
            }
        )
    )


def print_row(row: dict, flush: bool = False) -> None:
    if not getattr(print_row, "header", False):
        print(
            f"{'row':<48}{'expected':>10}{'vs previous [95% CI]':>30}"
            f"{'replay rate [95% CI]':>26}{'mean AUC':>10}{'train s':>9}"
        )
        print_row.header = True
    diff = (
        f"{row['diff_vs_previous']:+.4f} [{row['diff_ci_low']:+.4f}, {row['diff_ci_high']:+.4f}]"
        if np.isfinite(row["diff_vs_previous"])
        else "-"
    )
    replay = f"{row['replay_rate']:.3f} [{row['replay_ci_low']:.3f}, {row['replay_ci_high']:.3f}]"
    print(
        f"{row['row']:>2} {row['variant']:<45}{row['expected_contributions']:>10.4f}{diff:>30}"
        f"{replay:>26}{row['mean_auc']:>10.4f}{row['train_seconds']:>9.1f}",
        flush=flush,
    )


if __name__ == "__main__":
    main()

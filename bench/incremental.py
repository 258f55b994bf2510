"""Incremental training three ways (paper §5, Eq. 2–3): full retrain, warm start, Fisher.

Run: `.venv/bin/python bench/incremental.py` (about 10 minutes on 2 cores; `--data-root` reuses
prepared days, by default the ablation's `/tmp/lirank-ablation`; `--num-days` materializes the
demo world's days up to that many, default 10).

1. Days: the graph's own jobs materialize the world (`lirank_assets.backfill.materialize_days`,
   `LIRANK_NUM_DAYS` = `--num-days`); existing days are reused.
2. A cold start on the first `cold_start_days` days (the graph's settings, `graph_training_plan`,
   with `incremental="fisher"` so it writes its Fisher anchor), then one update a day for every
   later day but the last, three ways, each from its own chain of models:
   - **full**: a fresh cold start each day on the trailing `cold_start_days` window (3 days,
     `cold_start_epochs`);
   - **warm_start**: the previous day's model, plain warm start, on the new day only;
   - **fisher**: Eq. 3 (anchored initialization and penalty towards the cold start and the
     previous model), on the new day only.
3. λ_f and α are chosen on the first update day, from a small grid, by the mean per-head AUC on
   that day's own *holdout* rows (never used for training nor in the reported figures); the
   chosen values train the whole Fisher chain. The reported figures are next-day: the model
   trained through day D scores day D+1, so the selection rows are never scored.
4. Per update day and head: AUC of the global model (no random effects) on the next day's rows
   (train and holdout splits); per day: the ground-truth expected contributions of each
   method's #1 pick per random-bucket session of the next day (`expected_top1_contributions`);
   train seconds (the loop, plus the Fisher pass for the Fisher method) and wall seconds of the
   whole training run (reading included).

JSON (last line): `time_ratio` (Fisher / full, loop + Fisher seconds; target ≤ 0.10),
`wall_ratio`, `auc_delta_vs_full` and `auc_delta_vs_warm_start` (mean over days × heads, with a
95% t-interval over days of the per-day mean over heads), the same for the ground truth
(`truth_delta_*`, paired over sessions), the selected λ_f and α, and the per-day rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from lirank_assets.backfill import graph_training_plan, materialize_days  # noqa: E402
from models.evaluation.metrics import auc  # noqa: E402
from models.evaluation.replay import top1_choices  # noqa: E402
from models.evaluation.scoring import model_probabilities, read_partition  # noqa: E402
from models.feed import GRAPH_FEED_MODEL  # noqa: E402
from models.registry import load_model  # noqa: E402
from models.training.job import run_training  # noqa: E402
from spark.schemas import LABELS  # noqa: E402
from spark.storage import DataLayout  # noqa: E402
from spark.world import FeedWorld, expected_top1_contributions  # noqa: E402

METHODS = ("full", "warm_start", "fisher")
GRID = [(lam, alpha) for lam in (0.1, 1.0, 10.0) for alpha in (0.0, 0.5)]


def train(layout, out, window, *, seed, model_id, previous=None, **training):
    """One training run with the graph's settings; (model_dir, loop(+Fisher) s, wall s)."""
    plan = graph_training_plan(
        layout, out, window, model=GRAPH_FEED_MODEL, seed=seed, model_id=model_id,
        previous=previous,
    )  # fmt: skip
    plan = dataclasses.replace(plan, training=dataclasses.replace(plan.training, **training))
    start = time.perf_counter()
    result = run_training(plan)
    wall = time.perf_counter() - start
    _, metadata = load_model(out)
    fisher_seconds = metadata.get("incremental", {}).get("fisher_seconds", 0.0)
    return out, result.train_seconds + fisher_seconds, wall


def head_aucs(model, rows: pd.DataFrame) -> dict[str, float]:
    probabilities = model_probabilities(model, None, rows, rank_at_top=False)
    return {head: float(auc(rows[head].to_numpy(), probabilities[head])) for head in LABELS}


def truth_values(model, candidates: pd.DataFrame, truth: pd.DataFrame, curve) -> pd.Series:
    """Ground-truth expected contributions of the model's #1 pick, per random-bucket session."""
    probabilities = model_probabilities(model, None, candidates, rank_at_top=True)
    scored = candidates[["session_id", "post_id"]].copy()
    scored["model"] = model.config.final_score.score(probabilities)
    picks = top1_choices(scored, "model")
    values = expected_top1_contributions(truth, picks, curve=curve)
    return pd.Series(np.asarray(values), index=picks["session_id"].to_numpy())


def interval(values) -> tuple[float, float, float]:
    """Mean and 95% t-interval."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))
    return mean, mean - half, mean + half


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--num-days", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ["LIRANK_NUM_DAYS"] = str(args.num_days)
    started = time.perf_counter()
    root = args.data_root.resolve()
    layout = DataLayout(root)
    days, settings = materialize_days(root, args.num_days)
    cold = settings.cold_start_days
    if len(days) < cold + 2:
        raise SystemExit(f"need at least cold_start_days + 2 = {cold + 2} days; got {len(days)}")
    curve = FeedWorld(settings.world).position_curve()
    work = Path(tempfile.mkdtemp(prefix="incremental-"))
    rows, truth_rows, selection = [], [], []
    try:
        cold_dir, _, _ = train(
            layout, work / "cold", days[:cold], seed=args.seed, model_id="feed-cold",
            incremental="fisher",
        )  # fmt: skip
        previous = {"warm_start": cold_dir, "fisher": cold_dir}
        chosen = None
        for index in range(cold, len(days) - 1):
            day, next_day = days[index], days[index + 1]
            tag = day.isoformat()
            if chosen is None:  # the selection day: the grid, on the day's own holdout rows
                holdout = read_partition(layout.training_examples(day))
                holdout = holdout[holdout["split"] == "holdout"]
                for lam, alpha in GRID:
                    out, _, _ = train(
                        layout, work / f"grid-{lam}-{alpha}", [day], seed=args.seed,
                        model_id=f"feed-{tag}", previous=cold_dir, incremental="fisher",
                        fisher_lambda=lam, fisher_alpha=alpha,
                    )  # fmt: skip
                    model, _ = load_model(out)
                    score = float(np.mean(list(head_aucs(model, holdout).values())))
                    selection.append({"fisher_lambda": lam, "fisher_alpha": alpha, "auc": score})
                    print(f"selection λ={lam} α={alpha}: holdout AUC {score:.4f}", flush=True)
                best = max(selection, key=lambda r: r["auc"])
                chosen = (best["fisher_lambda"], best["fisher_alpha"])
            lam, alpha = chosen
            trained = {
                "full": train(
                    layout, work / f"full-{tag}", days[index - cold + 1 : index + 1],
                    seed=args.seed, model_id=f"feed-{tag}",
                ),
                "warm_start": train(
                    layout, work / f"warm-{tag}", [day], seed=args.seed, model_id=f"feed-{tag}",
                    previous=previous["warm_start"], incremental="warm_start",
                ),
                "fisher": train(
                    layout, work / f"fisher-{tag}", [day], seed=args.seed,
                    model_id=f"feed-{tag}", previous=previous["fisher"], incremental="fisher",
                    fisher_lambda=lam, fisher_alpha=alpha,
                ),
            }  # fmt: skip
            previous = {m: trained[m][0] for m in ("warm_start", "fisher")}
            traffic = read_partition(layout.training_examples(next_day))
            traffic = traffic[traffic["split"].isin(["train", "holdout"])]
            candidates = read_partition(layout.replay_candidates(next_day)).reset_index(drop=True)
            truth = pd.read_parquet(layout.ground_truth(next_day))
            for method, (out, seconds, wall) in trained.items():
                model, _ = load_model(out)
                for head, value in head_aucs(model, traffic).items():
                    rows.append(
                        {
                            "day": tag, "method": method, "head": head, "auc": value,
                            "train_seconds": seconds, "wall_seconds": wall,
                        }
                    )  # fmt: skip
                values = truth_values(model, candidates, truth, curve)
                truth_rows.append(pd.DataFrame({"day": tag, "method": method, "value": values}))
            print(f"{tag}: " + ", ".join(f"{m} {trained[m][1]:.1f}s" for m in METHODS), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(pd.DataFrame(rows), pd.concat(truth_rows), selection, chosen)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


def summarize(rows: pd.DataFrame, truth: pd.DataFrame, selection: list, chosen) -> dict:
    """Print the tables; return the JSON report."""
    table = rows.pivot_table(index=["day", "head"], columns="method", values="auc")
    per_day = table.groupby(level="day").mean()
    seconds = rows.drop_duplicates(["day", "method"]).pivot(
        index="day", columns="method", values="train_seconds"
    )
    wall = rows.drop_duplicates(["day", "method"]).pivot(
        index="day", columns="method", values="wall_seconds"
    )
    with pd.option_context("display.width", 160):
        print("\nNext-day AUC per day (mean over heads) and train seconds")
        print(per_day.join(seconds, rsuffix="_s").round(4).to_string())
        print("\nNext-day AUC per head (mean over days)")
        print(table.groupby(level="head").mean().round(4).to_string())
    report: dict = {
        "days": int(len(per_day)),
        "heads": sorted(rows["head"].unique().tolist()),
        "fisher_lambda": chosen[0],
        "fisher_alpha": chosen[1],
        "selection": selection,
        "time_ratio": round(float(seconds["fisher"].sum() / seconds["full"].sum()), 4),
        "time_ratio_warm_start": round(
            float(seconds["warm_start"].sum() / seconds["full"].sum()), 4
        ),
        "wall_ratio": round(float(wall["fisher"].sum() / wall["full"].sum()), 4),
        "train_seconds": {m: round(float(seconds[m].mean()), 2) for m in METHODS},
        "mean_auc": {m: round(float(table[m].mean()), 5) for m in METHODS},
    }
    for other in ("full", "warm_start"):
        delta = table["fisher"] - table[other]
        _, low, high = interval(per_day["fisher"] - per_day[other])
        report[f"auc_delta_vs_{other}"] = round(float(delta.mean()), 5)
        report[f"auc_delta_vs_{other}_ci"] = [round(low, 5), round(high, 5)]
        report[f"auc_delta_vs_{other}_per_day"] = [
            round(float(v), 5) for v in (per_day["fisher"] - per_day[other])
        ]
    wide = truth.reset_index(names="session").pivot_table(
        index=["day", "session"], columns="method", values="value"
    )
    report["truth_expected_contributions"] = {m: round(float(wide[m].mean()), 5) for m in METHODS}
    for other in ("full", "warm_start"):
        mean, low, high = interval((wide["fisher"] - wide[other]).dropna())
        report[f"truth_delta_vs_{other}"] = round(mean, 5)
        report[f"truth_delta_vs_{other}_ci"] = [round(low, 5), round(high, 5)]
    report["sessions"] = int(len(wide))
    return report


if __name__ == "__main__":
    main()

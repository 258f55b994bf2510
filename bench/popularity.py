"""Random effects at the paper's cadence: post and author effects refit every 8 hours (§8).

Run: `.venv/bin/python bench/popularity.py` (about 25 s on 2 cores; `--data-root` reuses prepared
features, by default the ablation's `/tmp/lirank-ablation`).

1. Speed: `fit_post_author_effects` on a synthetic problem of a million posts and 50,000 authors
   (5 million rows, planted effects, known offsets); entities (posts + authors) fit per second.
2. Lift on the demo world: one feed model is trained as the graph's cold start does (the first
   `cold_start_days` days). Its logits are the offsets. Effects are fit on the training rows of the
   days after the cold start (the model never trained on them) and scored on every row (all
   splits), for the click and like heads (the RO model's labels):
   - global: the model alone;
   - daily per post: today's graph (`fit_random_effects` on day D−1's training rows, applied on D);
   - windowed: `fit_windowed_effects`, a window every 8 hours, each row scored by the window that
     ends before it (24-hour and 8-hour windows with post and author effects; 24-hour post only).
   The prior λ (shared by posts and authors) of each variant is picked from `PRIOR_GRID` by log loss
   on the first day that has a full day of fits behind it (the selection day); the lifts are
   reported on the later days only. Metrics are averaged over the two heads: AUC and log loss,
   overall and on posts younger than a day (`post_age_hours < 24`). Lifts are against the global
   model (AUC: variant − global; log loss: global − variant, so positive is better), against the
   daily per-post effects at the same selection, and against the current graph's daily effects
   (λ = 1). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from lirank_assets.backfill import graph_training_plan, materialize_days  # noqa: E402
from models.evaluation.metrics import auc, log_loss  # noqa: E402
from models.evaluation.scoring import read_partition  # noqa: E402
from models.feed import GRAPH_FEED_MODEL, feed_inputs, predict_probabilities  # noqa: E402
from models.random_effects import (  # noqa: E402
    RANDOM_EFFECT_HEADS,
    apply_random_effects,
    fit_random_effects,
    logits_from,
)
from models.registry import load_model  # noqa: E402
from models.training.job import run_training  # noqa: E402
from models.windowed_effects import (  # noqa: E402
    WindowedEffectsConfig,
    apply_windowed_effects,
    fit_post_author_effects,
    fit_windowed_effects,
)
from spark.storage import DataLayout  # noqa: E402

YOUNG_HOURS = 24.0
PRIOR_GRID: tuple[float, ...] = (1.0, 3.0, 10.0, 30.0, 100.0)  # λ, shared by posts and authors
NO_AUTHOR = 1e9  # λ_author this large pins every author effect at 0: per-post effects only
HEADLINE = "windowed 24h post+author"


def variants(l2: float) -> dict[str, Callable[[pd.DataFrame, str], np.ndarray]]:
    """The effect models compared at prior precision `l2`: name → (rows, head) → logits."""
    configs = {
        "windowed 24h post+author": WindowedEffectsConfig(l2_post=l2, l2_author=l2),
        "windowed 8h post+author": WindowedEffectsConfig(
            window_hours=8.0, l2_post=l2, l2_author=l2
        ),
        "windowed 24h post only": WindowedEffectsConfig(l2_post=l2, l2_author=NO_AUTHOR),
    }
    return {
        "daily per post": lambda rows, head: daily_logits(rows, head, l2),
        **{
            name: (lambda rows, head, c=config: windowed_logits(rows, head, c))
            for name, config in configs.items()
        },
    }


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def speed(seed: int, n_rows: int, n_posts: int, n_authors: int) -> dict:
    """Fit a planted synthetic problem; entities per second and how well it recovers them."""
    rng = np.random.default_rng(seed)
    author_of_post = rng.integers(0, n_authors, size=n_posts)
    b_post = rng.normal(scale=0.7, size=n_posts)
    b_author = rng.normal(scale=0.7, size=n_authors)
    posts = rng.integers(0, n_posts, size=n_rows)
    authors = author_of_post[posts]
    offsets = rng.normal(loc=-1.5, scale=1.0, size=n_rows)
    labels = rng.random(n_rows) < _sigmoid(offsets + b_post[posts] + b_author[authors])
    started = time.perf_counter()
    fx = fit_post_author_effects(posts, authors, offsets, labels)
    seconds = time.perf_counter() - started
    entities = len(fx.posts) + len(fx.authors)
    a = fx.authors
    return {
        "rows": n_rows,
        "posts": len(fx.posts),
        "authors": len(fx.authors),
        "seconds": round(seconds, 2),
        "iterations": fx.iterations,
        "entities_per_second": round(entities / seconds),
        "author_corr": round(float(np.corrcoef(a["effect"], b_author[a["author_id"]])[0, 1]), 3),
    }


def train_global(root: Path, work: Path, days, cold_start_days: int, seed: int) -> Path:
    """The graph's cold start: one feed model on the first `cold_start_days` days."""
    model_dir = work / "model"
    run_training(
        graph_training_plan(
            DataLayout(root), model_dir, days[:cold_start_days], model=GRAPH_FEED_MODEL,
            seed=seed, model_id="feed-cold-start",
        )
    )  # fmt: skip
    return model_dir


def scored_rows(root: Path, model_dir: Path, days) -> pd.DataFrame:
    """Every example of `days` with its log time (24 · day index + hour) and the global logits."""
    model, _ = load_model(model_dir)
    frames = []
    for index, day in days:
        rows = read_partition(DataLayout(root).training_examples(day))
        rows = rows.reset_index(drop=True)
        probabilities = predict_probabilities(model, feed_inputs(rows, model.config))
        keep = ["split", "post_id", "author_id", "hour", "post_age_hours", *RANDOM_EFFECT_HEADS]
        frame = rows[keep].copy()
        frame["day_index"] = index
        frame["log_hours"] = 24.0 * index + frame["hour"].to_numpy(dtype=np.float64)
        for head in RANDOM_EFFECT_HEADS:
            frame[f"logit_{head}"] = logits_from(probabilities[head])
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def daily_logits(rows: pd.DataFrame, head: str, l2: float) -> np.ndarray:
    """Today's graph: per-post effects fit on day D−1's training rows, applied on day D."""
    out = rows[f"logit_{head}"].to_numpy(dtype=np.float64).copy()
    train = rows[rows["split"] == "train"]
    for day in sorted(rows["day_index"].unique())[1:]:
        before = train[train["day_index"] == day - 1]
        effects = fit_random_effects(
            before["post_id"].to_numpy(), before[f"logit_{head}"].to_numpy(), before[head], l2=l2
        )
        today = (rows["day_index"] == day).to_numpy()
        out[today] = apply_random_effects(
            rows.loc[today, "post_id"].to_numpy(), out[today], effects
        )
    return out


def windowed_logits(rows: pd.DataFrame, head: str, config: WindowedEffectsConfig) -> np.ndarray:
    """Windows every `cadence_hours` fit on the training rows; each row scored by the one before."""
    train = rows[rows["split"] == "train"]
    windows = fit_windowed_effects(
        train["log_hours"].to_numpy(),
        train["post_id"].to_numpy(),
        train["author_id"].to_numpy(),
        train[f"logit_{head}"].to_numpy(),
        train[head].to_numpy(),
        config,
    )
    return apply_windowed_effects(
        rows["log_hours"].to_numpy(),
        rows["post_id"].to_numpy(),
        rows["author_id"].to_numpy(),
        rows[f"logit_{head}"].to_numpy(),
        windows,
        config,
    )


def metrics(labels: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    p = _sigmoid(logits)
    return {"auc": auc(labels, p), "log_loss": log_loss(labels, p)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--days", type=int, default=None, help="use only the first N days")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    fit_speed = speed(args.seed, n_rows=5_000_000, n_posts=1_000_000, n_authors=50_000)
    print("speed", fit_speed, flush=True)

    root = args.data_root.resolve()
    days, settings = materialize_days(root, args.days)
    cold = settings.cold_start_days
    if len(days) < cold + 2:
        raise SystemExit(f"need at least cold_start_days + 2 = {cold + 2} days; got {len(days)}")
    work = Path(tempfile.mkdtemp(prefix="popularity-"))
    try:
        model_dir = train_global(root, work, days, cold, args.seed)
        # Fit on days from the first one past the cold start (the model never trained on them);
        # evaluate from the day after, so every window and the daily fit have a day behind them.
        rows = scored_rows(root, model_dir, list(enumerate(days))[cold:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = cold + 1  # the first day with a day of windows and a daily fit behind it
    selection = (rows["day_index"] == first).to_numpy()
    reported = (rows["day_index"] > first).to_numpy()
    young = reported & (rows["post_age_hours"] < YOUNG_HOURS).to_numpy()
    subsets = {"all": reported, "young": young, "selection": selection}
    table = []
    for l2 in PRIOR_GRID:
        candidates = {"global": lambda rows, head: rows[f"logit_{head}"].to_numpy(np.float64)}
        candidates |= variants(l2)
        for name, logits_of in candidates.items():
            for head in RANDOM_EFFECT_HEADS:
                labels, logits = rows[head].to_numpy(), logits_of(rows, head)
                for subset, mask in subsets.items():
                    table.append(
                        {"variant": name, "l2": l2, "head": head, "rows": subset}
                        | metrics(labels[mask], logits[mask])
                    )
    table = pd.DataFrame(table)
    table.loc[table["variant"] == "global", "l2"] = 0.0  # no effects, no prior
    table = table.drop_duplicates(["variant", "l2", "head", "rows"])
    mean = table.groupby(["variant", "l2", "rows"])[["auc", "log_loss"]].mean()
    # The prior of each variant: the λ with the lowest log loss on the selection day.
    chosen = {
        name: float(mean.xs("selection", level="rows").loc[name]["log_loss"].idxmin())
        for name in variants(1.0)
    }
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("\nMean over the click and like heads, by prior (λ); 'selection' picks λ")
        print(mean.unstack("rows").round(4).to_string())
        print(f"\nChosen priors: {chosen}")

    def row(variant: str, subset: str, l2: float | None = None) -> pd.Series:
        return mean.loc[(variant, chosen.get(variant, 0.0) if l2 is None else l2, subset)]

    def lift(
        variant: str, base: str, subset: str, l2: float | None = None, base_l2: float | None = None
    ) -> dict[str, float]:
        v, b = row(variant, subset, l2), row(base, subset, base_l2)
        return {
            "auc": round(float(v["auc"] - b["auc"]), 5),
            "log_loss": round(float(b["log_loss"] - v["log_loss"]), 5),
        }

    report = {
        "entities_per_second": fit_speed["entities_per_second"],
        "lift_auc": lift(HEADLINE, "global", "all")["auc"],
        "lift_log_loss": lift(HEADLINE, "global", "all")["log_loss"],
        "young_lift_auc": lift(HEADLINE, "global", "young")["auc"],
        "young_lift_log_loss": lift(HEADLINE, "global", "young")["log_loss"],
        "vs_daily_lift_auc": lift(HEADLINE, "daily per post", "all")["auc"],
        "vs_daily_lift_log_loss": lift(HEADLINE, "daily per post", "all")["log_loss"],
        "vs_daily_young_lift_auc": lift(HEADLINE, "daily per post", "young")["auc"],
        "vs_daily_young_lift_log_loss": lift(HEADLINE, "daily per post", "young")["log_loss"],
        "global_auc": round(float(row("global", "all")["auc"]), 5),
        "global_log_loss": round(float(row("global", "all")["log_loss"]), 5),
        "variants_vs_global": {
            name: {"l2": chosen[name]} | {s: lift(name, "global", s) for s in ("all", "young")}
            for name in chosen
        },
        # The current graph: daily per-post effects at l2 = 1 (`fit_popularity_effects`).
        "vs_current_daily_lift_auc": lift(HEADLINE, "daily per post", "all", base_l2=1.0)["auc"],
        "vs_current_daily_lift_log_loss": lift(HEADLINE, "daily per post", "all", base_l2=1.0)[
            "log_loss"
        ],
        "current_daily_vs_global": {
            s: lift("daily per post", "global", s, l2=1.0, base_l2=0.0) for s in ("all", "young")
        },
        "headline_at_l2_1_vs_global": {
            s: lift(HEADLINE, "global", s, l2=1.0, base_l2=0.0) for s in ("all", "young")
        },
        "headline_variant": HEADLINE,
        "speed": fit_speed,
        "reported_rows": int(reported.sum()),
        "young_rows": int(young.sum()),
        "selection_day_index": first,
        "days_reported": int(rows.loc[reported, "day_index"].nunique()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()

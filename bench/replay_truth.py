"""Replay proven against the truth: does offline replay rank rankers the way serving them would?

Run: `.venv/bin/python bench/replay_truth.py` (about 15 minutes on 2 cores on the demo world;
`--days N` uses fewer days, `--data-root` reuses prepared features, e.g. the ablation's).

1. Features: the graph's own jobs materialize the world preset (`LIRANK_WORLD`, default `demo`)
   into `--data-root` (`lirank_assets.backfill`); existing days are reused.
2. Models: three feed models (the graph default with low-rank DCNv2, a flat MLP, Residual DCN) are
   trained as the graph trains them (cold start on the first `cold_start_days`, then one
   incremental day at a time), each day with its popularity random effects.
3. Seven rankers of clearly different quality, each day D after the cold start, next-day protocol
   (models and effects through D−1, popularity fit on D−1): random, popularity, a degraded model
   (the graph model's logit + N(0, 2²)), the MLP, the graph model, Residual DCN, and production
   (the logged production ranker).
4. Replay's estimate: every off-policy estimator of `models.evaluation.off_policy` on day D's
   random-bucket candidates (position-1 replay, IPS, SNIPS, and the multi-position IPS/SNIPS that
   use more positions of the uniformly shuffled top-N), each with its 95% interval.
5. The truth: the world serves day D's sessions with each ranker (`FeedWorld.serve_day`: the same
   sessions and candidates, the ranker orders them) and values its #1 exactly from the truth of
   every candidate: the online contribution rate at position 1, p_seen[0] · p_contribution(#1),
   averaged over the sessions outside the random bucket, i.e. fresh sessions replay never saw.
   Two targets: serving from all of a session's candidates ("online"), and re-ranking only
   production's top-N ("rerank": the only policies replay can see, as the random bucket shuffles
   production's top-N).

Reported per estimator and target: Spearman rank correlation across rankers of the pooled estimate
against the truth, mean relative error |estimate − truth| / truth, coverage of the 95% intervals
(per ranker and day), and the mean interval width (relative to position-1 replay's). The last line
is one JSON object.
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
# Run as a script, this file's folder comes first on sys.path and `models` would name this file.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from lirank_assets.backfill import materialize_days, train_graph_days  # noqa: E402
from models.evaluation.off_policy import feed_top1_estimates  # noqa: E402
from models.evaluation.rankers import (  # noqa: E402
    RowScorer,
    degraded_scorer,
    model_scorer,
    popularity_scorer,
    production_scorer,
    random_scorer,
    slate_ranker,
)
from models.evaluation.scoring import read_partition  # noqa: E402
from models.feed import GRAPH_FEED_MODEL  # noqa: E402
from spark.storage import DataLayout  # noqa: E402
from spark.world import FeedWorld  # noqa: E402

MODELS: dict[str, dict] = {
    "MLP": {"interaction": "none"},
    "graph model (DCNv2)": {},
    "Residual DCN": {"interaction": "residual_dcn"},
}
DEGRADED_NOISE_SD = 2.0
CONFIDENCE_TARGET = 0.95


def scorers_for(
    day_index: int, days, layout: DataLayout, trained: dict, seed: int
) -> dict[str, RowScorer]:
    """The seven rankers of day `days[day_index]`, all trained on days before it."""
    before = days[day_index - 1]
    train = read_partition(layout.training_examples(before))

    def model(name: str) -> RowScorer:
        day = trained[name][before]
        return model_scorer(day.model_dir, day.effects_dir)

    graph = model("graph model (DCNv2)")
    return {
        "random": random_scorer(seed + day_index),
        "popularity": popularity_scorer(train[train["split"] == "train"]),
        "degraded model": degraded_scorer(graph, DEGRADED_NOISE_SD, seed + day_index),
        "MLP": model("MLP"),
        "graph model (DCNv2)": graph,
        "Residual DCN": model("Residual DCN"),
        "production": production_scorer,
    }


def online_truth(world: FeedWorld, day_index: int, scorer: RowScorer) -> dict[str, float]:
    """Serve the day with the ranker; its exact top-1 value outside the random bucket, from all
    candidates ("online") and re-ranking only production's top-N ("rerank"), and the realized
    contribution rate at position 1 (a noisy check of the expected one)."""
    served = world.serve_day(day_index, slate_ranker(scorer))
    truth = served.candidate_truth.to_pandas()
    truth = truth[~truth["random_bucket"]]
    k, n_served = world.config.candidates_per_session, world.config.served_per_session
    p = truth["p_contribution"].to_numpy(dtype=np.float64).reshape(-1, k)
    score = truth["score"].to_numpy(dtype=np.float64).reshape(-1, k)
    production = truth["production_score"].to_numpy(dtype=np.float64).reshape(-1, k)
    seen0 = float(world.position_curve().p_seen[0])
    online = p[np.arange(len(p)), np.argmax(score, axis=1)]
    in_top = np.argsort(-production, axis=1, kind="stable")[:, :n_served]
    rerank_pick = np.take_along_axis(
        in_top, np.argmax(np.take_along_axis(score, in_top, axis=1), axis=1)[:, None], axis=1
    )[:, 0]
    rerank = p[np.arange(len(p)), rerank_pick]
    imp = served.day.feed_impressions.to_pandas()
    sessions = served.day.feed_sessions.to_pandas()
    normal = set(sessions.loc[~sessions["random_bucket"], "session_id"])
    first = imp[(imp["position"] == 0) & imp["session_id"].isin(normal)]
    realized = float(first[["like", "comment", "share", "vote"]].max(axis=1).mean())
    return {
        "sessions": len(p),
        "online": seen0 * float(online.mean()),
        "rerank": seen0 * float(rerank.mean()),
        "realized": realized,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-ablation"
    )
    parser.add_argument("--days", type=int, default=None, help="use only the first N days")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    root = args.data_root.resolve()
    layout = DataLayout(root)
    days, settings = materialize_days(root, args.days)
    cold = settings.cold_start_days
    if len(days) <= cold:
        raise SystemExit(f"need more than cold_start_days={cold} days; got {len(days)}")
    world = FeedWorld(settings.world)
    work = Path(tempfile.mkdtemp(prefix="replay-truth-"))
    rows = []
    try:
        trained = {}
        for name, overrides in MODELS.items():
            model = dataclasses.replace(GRAPH_FEED_MODEL, **overrides)
            trained[name] = train_graph_days(
                layout, work / name, days, cold, model, args.seed, through=days[-2]
            )
            print(f"trained {name}", flush=True)
        pooled: dict[str, list[pd.DataFrame]] = {}
        for index in range(cold, len(days)):
            day = days[index]
            candidates = read_partition(layout.replay_candidates(day))
            for ranker, scorer in scorers_for(index, days, layout, trained, args.seed).items():
                scored = candidates[["session_id", "post_id", "position", "impressed"]].copy()
                scored["contribution"] = candidates["contribution"].to_numpy()
                scored["score"] = scorer(candidates)
                pooled.setdefault(ranker, []).append(scored)
                estimates = feed_top1_estimates(
                    scored, "score", bootstrap=args.bootstrap, seed=args.seed
                )
                truth = online_truth(world, index, scorer)
                for estimator, est in estimates.items():
                    rows.append(
                        {
                            "day": day.isoformat(),
                            "ranker": ranker,
                            "estimator": estimator,
                            "value": est.value,
                            "ci_low": est.ci_low,
                            "ci_high": est.ci_high,
                            **truth,
                        }
                    )
            print(f"evaluated {day}", flush=True)
        per_day = pd.DataFrame(rows)
        pooled_rows = []
        for ranker, frames in pooled.items():
            scored = pd.concat(frames, ignore_index=True)
            estimates = feed_top1_estimates(
                scored, "score", bootstrap=args.bootstrap, seed=args.seed
            )
            truth_rows = per_day[per_day["ranker"] == ranker].drop_duplicates("day")
            weights = truth_rows["sessions"].to_numpy(dtype=float)
            truth = {
                t: float(np.average(truth_rows[t], weights=weights))
                for t in ("online", "rerank", "realized")
            }
            for estimator, est in estimates.items():
                pooled_rows.append(
                    {
                        "ranker": ranker,
                        "estimator": estimator,
                        "value": est.value,
                        "ci_low": est.ci_low,
                        "ci_high": est.ci_high,
                        **truth,
                    }
                )
        pooled_df = pd.DataFrame(pooled_rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = summarize(per_day, pooled_df)
    report["seconds"] = round(time.perf_counter() - started, 1)
    report["days_evaluated"] = len(days) - cold
    print(json.dumps(report))


def summarize(per_day: pd.DataFrame, pooled: pd.DataFrame) -> dict:
    """Print the tables; return the JSON report (per estimator and target)."""
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        table = pooled.pivot(index="ranker", columns="estimator", values="value")
        truth = pooled.drop_duplicates("ranker").set_index("ranker")[
            ["online", "rerank", "realized"]
        ]
        print("\nPooled over the evaluated days: estimates and the truth (top-1 contribution rate)")
        print(table.join(truth).sort_values("online").round(4).to_string())
    base = "replay@1"
    base_width = (
        (pooled.loc[pooled["estimator"] == base, "ci_high"] - pooled.loc[
            pooled["estimator"] == base, "ci_low"
        ]).mean()
        if base in set(pooled["estimator"])
        else float("nan")
    )  # fmt: skip
    report = {"rankers": sorted(pooled["ranker"].unique().tolist()), "estimators": {}}
    for estimator, rows in pooled.groupby("estimator"):
        daily = per_day[per_day["estimator"] == estimator]
        width = float((rows["ci_high"] - rows["ci_low"]).mean())
        entry = {
            "interval_width": round(width, 5),
            "width_vs_replay@1": round(width / base_width, 3),
        }
        for target in ("online", "rerank"):
            rho = spearmanr(rows["value"], rows[target]).statistic
            rel = float((np.abs(rows["value"] - rows[target]) / rows[target]).mean())
            covered = (daily["ci_low"] <= daily[target]) & (daily[target] <= daily["ci_high"])
            entry[target] = {
                "spearman": round(float(rho), 3),
                "mean_relative_error": round(rel, 3),
                "coverage": round(float(covered.mean()), 3),
            }
        report["estimators"][estimator] = entry
    headline = report["estimators"].get(base, {})
    report["spearman"] = headline.get("online", {}).get("spearman")
    report["mean_relative_error"] = headline.get("online", {}).get("mean_relative_error")
    report["coverage"] = headline.get("online", {}).get("coverage")
    print(f"\n{'estimator':<12}{'target':<8}{'spearman':>10}{'rel. error':>12}{'coverage':>10}"
          f"{'CI width':>10}{'vs replay@1':>12}")  # fmt: skip
    for estimator, entry in report["estimators"].items():
        for target in ("online", "rerank"):
            e = entry[target]
            print(
                f"{estimator:<12}{target:<8}{e['spearman']:>10.3f}{e['mean_relative_error']:>12.3f}"
                f"{e['coverage']:>10.3f}{entry['interval_width']:>10.4f}"
                f"{entry['width_vs_replay@1']:>12.2f}"
            )
    return report


if __name__ == "__main__":
    main()

"""Explore/exploit in a closed loop: what greedy, ε-greedy and Thompson sampling truly earn when
what they serve decides what they learn from next (paper §7).

Run: `.venv/bin/python bench/explore.py` (about 15 minutes on 2 cores: 3 world seeds × 10 days ×
3 policies; `--seeds`, `--days`, `--policies` make it smaller).

Per world seed (the demo preset with that seed):
1. The graph's own jobs materialize the first `cold_start_days` days and the graph's trainer
   cold-starts the feed model on them; that network's last-layer input Z(x) stays fixed for the
   loop (`models.explore.features`).
2. The last-layer posterior starts from the cold start's training rows (`models.explore`).
3. Each policy then runs the loop for `--days` days from the same state: the world serves the
   day's sessions with the policy's scores of every candidate (`FeedWorld.serve_day`, with
   the member histories the policy's own earlier days produced); the day's impressions, labelled
   by what members did, update the posterior; the next day is served with the updated posterior.
   Policies: greedy (posterior mean), ε-greedy (ε = `--epsilon`), Thompson sampling (one draw
   per session in every session), and the world's production ranker as the reference.
4. Each served day is valued exactly from the truth of every candidate: the expected
   contributions of the served ranking, Σ_r p_seen[r] · p_contribution(post at r), against the
   oracle that ranks by the true p_contribution (regret = oracle − policy); also on the posts
   younger than a day, where exploration matters most.

Reported: per policy, the mean over seeds of the cumulative expected contributions per session
and the regret, with the spread (std) over seeds; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
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

from lirank_assets.backfill import graph_training_plan, materialize_days  # noqa: E402
from lirank_assets.settings import Settings, WorldChoice  # noqa: E402
from models.explore.features import last_layer_features  # noqa: E402
from models.explore.posterior import LastLayerPosterior  # noqa: E402
from models.explore.thompson import (  # noqa: E402
    epsilon_greedy_scores,
    greedy_scores,
    thompson_scores,
)
from models.feed import GRAPH_FEED_MODEL  # noqa: E402
from models.registry import load_model  # noqa: E402
from models.serving.slate import slate_examples  # noqa: E402
from models.training.job import run_training  # noqa: E402
from spark.schemas import CONTRIBUTION_ACTIONS  # noqa: E402
from spark.storage import DataLayout  # noqa: E402
from spark.world import FeedWorld, production_ranker  # noqa: E402

POLICIES = ("greedy", "epsilon_greedy", "thompson", "production")
YOUNG_HOURS = 24.0


def cold_start(root: Path, settings: Settings, seed: int):
    """The graph's cold start on the first `cold_start_days` days: (model, its training rows)."""
    days, _ = materialize_days(root, settings.cold_start_days, settings)
    layout = DataLayout(root)
    out = root / "cold-model"
    model = None
    if (out / "manifest.json").exists():
        try:  # a cold model from an earlier run, unless this code cannot load it any more
            model, _ = load_model(out)
        except (ValueError, TypeError) as error:
            print(f"retraining the cached cold model {out}: it no longer loads ({error})"[:300])
    if model is None:
        run_training(
            graph_training_plan(
                layout, out, days, model=GRAPH_FEED_MODEL, seed=seed, model_id="feed-cold"
            )
        )
        model, _ = load_model(out)
    rows = pd.concat([pd.read_parquet(layout.training_examples(d)) for d in days])
    return model, rows[rows["split"] == "train"]


def _labels(rows: pd.DataFrame) -> np.ndarray:
    return rows[list(CONTRIBUTION_ACTIONS)].max(axis=1).to_numpy(dtype=np.float64)


def policy_ranker(policy: str, model, posterior: LastLayerPosterior, rng, epsilon: float):
    """The policy as a world `Ranker`: Z of every candidate of the slate, scored ("production":
    the world's own production ranker, the reference every policy must beat)."""
    if policy == "production":
        return production_ranker

    def rank(slate):
        rows = slate_examples(slate)
        z = last_layer_features(model, rows, rank_at_top=True)
        if policy == "greedy":
            return greedy_scores(z, posterior)
        if policy == "epsilon_greedy":
            return epsilon_greedy_scores(z, rows["session_id"], posterior, epsilon, rng)
        return thompson_scores(z, rows["session_id"], posterior, 1.0, rng)

    return rank


def served_value(served, curve) -> dict[str, float]:
    """Expected contributions per session of the served ranking and of the oracle, overall and
    on posts younger than a day."""
    truth = served.candidate_truth.to_pandas()
    sessions = served.day.feed_sessions
    ages = sessions.column("served").combine_chunks().flatten()
    served_ages = pd.DataFrame(
        {
            "session_id": np.repeat(
                sessions.column("session_id").to_numpy(),
                sessions.column("served").combine_chunks().value_lengths().to_numpy(),
            ),
            "post_id": ages.field("post_id").to_numpy(),
            "young": ages.field("post_age_hours").to_numpy() < YOUNG_HOURS,
        }
    )
    seen = curve.p_seen
    on = truth[truth["served_position"] >= 0].merge(served_ages, on=["session_id", "post_id"])
    value = seen[on["served_position"].to_numpy()] * on["p_contribution"].to_numpy()
    k = int(truth.groupby("session_id").size().iloc[0])
    p = truth["p_contribution"].to_numpy(dtype=np.float64).reshape(-1, k)
    oracle = np.sort(p, axis=1)[:, ::-1][:, : len(seen)] @ seen
    n = len(p)
    return {
        "sessions": n,
        "earned": float(value.sum() / n),
        "oracle": float(oracle.mean()),
        "earned_young": float(value[on["young"].to_numpy()].sum() / n),
    }


def run_loop(world, model, start_rows, policy, days, seed, epsilon, first_day) -> list[dict]:
    posterior = LastLayerPosterior.prior(model_dim(model, start_rows)).update(
        last_layer_features(model, start_rows, rank_at_top=False), _labels(start_rows)
    )
    rng = np.random.default_rng([seed, POLICIES.index(policy)])
    state, out = world.state_at_start(first_day), []
    curve = world.position_curve()
    for day in range(first_day, first_day + days):
        served = world.serve_day(day, policy_ranker(policy, model, posterior, rng, epsilon), state)
        state = served.state_after
        out.append({"day": day, **served_value(served, curve)})
        impressions = served.day.feed_impressions.to_pandas()
        rows = slate_examples(served.day.feed_sessions).drop(
            columns=["click", *CONTRIBUTION_ACTIONS, "dwell_seconds"]
        )
        rows = rows.merge(
            impressions[["session_id", "post_id", "click", *CONTRIBUTION_ACTIONS]],
            on=["session_id", "post_id"],
        )  # the impressed posts, labelled by what members did
        posterior = posterior.update(
            last_layer_features(model, rows, rank_at_top=False), _labels(rows)
        )
    return out


def model_dim(model, rows: pd.DataFrame) -> int:
    return last_layer_features(model, rows.head(2), rank_at_top=False).shape[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--epsilon", type=float, default=0.1)
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument(
        "--data-root", type=Path, default=Path(tempfile.gettempdir()) / "lirank-explore"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        cold_days = 3
        settings = Settings(
            world_choice=WorldChoice(preset="demo", seed=seed, num_days=cold_days + args.days),
            cold_start_days=cold_days,
        )
        root = (args.data_root / f"seed-{seed}").resolve()
        model, train_rows = cold_start(root, settings, seed)
        world = FeedWorld(settings.world)
        for policy in args.policies:
            for row in run_loop(
                world, model, train_rows, policy, args.days, seed, args.epsilon, cold_days
            ):
                rows.append({"seed": seed, "policy": policy, **row})
            print(f"seed {seed}: {policy} done", flush=True)
    frame = pd.DataFrame(rows)
    frame["regret"] = frame["oracle"] - frame["earned"]
    per_seed = frame.groupby(["policy", "seed"])[["earned", "oracle", "regret", "earned_young"]]
    cumulative = per_seed.sum().reset_index()  # per session, summed over the days
    summary = cumulative.drop(columns=["seed"]).groupby("policy").agg(["mean", "std"])
    print("\nCumulative expected contributions per session over the loop (mean ± std over seeds)")
    with pd.option_context("display.width", 160):
        print(summary.round(4).to_string())
    report = {"days": args.days, "seeds": args.seeds, "epsilon": args.epsilon}
    for policy in args.policies:
        s = summary.loc[policy]
        for key, (column, stat) in {
            "contributions": ("earned", "mean"),
            "contributions_std": ("earned", "std"),
            "regret": ("regret", "mean"),
            "young_contributions": ("earned_young", "mean"),
        }.items():
            value = float(s[(column, stat)])
            report[f"{policy}_{key}"] = round(value, 4) if np.isfinite(value) else None
    report["oracle_contributions"] = round(float(summary[("oracle", "mean")].iloc[0]), 4)
    report["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()

"""Benchmark of the simulated feed world: generates every day of a world and prints impressions/s.

Usage: `python bench/world.py [--scale 10] [--days N]`. `--scale` multiplies members, authors and
posts per day of the default `WorldConfig`. The last line printed is one JSON object with
`impressions_per_s`, `sessions`, `impressions` and `seconds` (table building included).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark.world import FeedWorld  # noqa: E402
from spark.world_config import ACTIONS, WorldConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=1, help="multiplier of members/authors/posts")
    parser.add_argument("--days", type=int, default=None, help="days to generate (default: all)")
    args = parser.parse_args()
    if args.scale < 1:
        raise SystemExit(f"--scale must be >= 1. Received: --scale {args.scale}")
    base = WorldConfig()
    config = dataclasses.replace(
        base,
        num_members=base.num_members * args.scale,
        num_authors=base.num_authors * args.scale,
        posts_per_day=base.posts_per_day * args.scale,
    )
    days = config.num_days if args.days is None else min(args.days, config.num_days)

    start = time.perf_counter()
    world = FeedWorld(config)
    sessions = impressions = 0
    for day in range(days):
        tick = time.perf_counter()
        result = world.simulate_day(day)
        n_imp = result.feed_impressions.num_rows
        rates = {
            a: round(float(result.feed_impressions.column(a).to_numpy().mean()), 4) for a in ACTIONS
        }
        sessions += result.feed_sessions.num_rows
        impressions += n_imp
        print(
            f"day {day}: {result.feed_sessions.num_rows} sessions, {n_imp} impressions, "
            f"{result.feed_ground_truth.num_rows} served, {time.perf_counter() - tick:.2f} s, "
            f"rates per impression {rates}"
        )
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "impressions_per_s": round(impressions / seconds, 1),
                "sessions": sessions,
                "impressions": impressions,
                "seconds": round(seconds, 3),
                "scale": args.scale,
                "days": days,
            }
        )
    )


if __name__ == "__main__":
    main()

"""The Ads and Jobs examples of simulated days, in one process: what the benchmarks and the
product ablation ladders train and judge on (the graph builds the same rows day by day through
its `ads_examples` / `jobs_examples` assets).

`product_days(config, days)` simulates the world (`spark.world.FeedWorld`, the same kernel as the
graph's Spark world) and builds each day's frames with the graph's own functions
(`models.ads_examples.ads_examples`, `models.jobs_examples.jobs_examples`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from spark.world import FeedWorld, WorldConfig


@dataclasses.dataclass(frozen=True)
class ProductDayFrames:
    """One simulated day of both products: `ads` (impressed slots), `jobs` (every served job)
    and `jobs_truth` (JOBS_GROUND_TRUTH rows)."""

    ads: pd.DataFrame
    jobs: pd.DataFrame
    jobs_truth: pd.DataFrame


def product_days(config: WorldConfig, days: Sequence[int]) -> dict[int, ProductDayFrames]:
    """Each of `days`' product examples (earlier days are simulated first for the member state
    and the live job postings)."""
    from models.ads_examples import ads_examples
    from models.jobs_examples import jobs_examples

    world = FeedWorld(config)
    postings: dict[int, pd.DataFrame] = {}
    out: dict[int, ProductDayFrames] = {}
    for day in range(max(days) + 1):
        simulated = world.simulate_day(day)
        tables = {name: table.to_pandas() for name, table in simulated.products.items()}
        postings[day] = tables["job_postings"]
        if day not in days:
            continue
        live = [postings[d] for d in range(max(0, day - config.job_lifetime_days + 1), day + 1)]
        out[day] = ProductDayFrames(
            ads=ads_examples(
                tables["ad_impressions"], tables["ad_catalog"], simulated.members.to_pandas()
            ),
            jobs=jobs_examples(
                tables["job_impressions"],
                pd.concat(live, ignore_index=True),
                tables["member_profiles"],
            ),
            jobs_truth=tables["jobs_ground_truth"],
        )
    return out

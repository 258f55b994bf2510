"""The Ads and Jobs products of the simulated world: their tables beside the feed's.

Sponsored posts fill ad slots inside the feed's own sessions (`spark.world.ads`); Job Search and
JYMBII sessions are the members' job sessions (`spark.world.jobs`). Both follow the kernel's rules
("Randomness, blocks and shards" in `spark.world.kernel`): a block's product tables come from the
block's own random streams, so they are the same however the members are split into shards, and
the kernel emits them with the feed's tables of the block. Neither product carries state from day
to day (member profiles are static; campaign effects drift as a function of the day).

Per block (`PRODUCT_BLOCK_TABLES`): `ad_impressions`, `ads_ground_truth`, `member_profiles`,
`job_impressions`, `jobs_ground_truth`. Per day, global (`PRODUCT_DAY_TABLES`): `ad_catalog` (the
ads live that day), `job_postings` (the postings created that day).
"""

from __future__ import annotations

import pyarrow as pa

from spark import schemas
from spark.world.config import WorldConfig
from spark.world.context import WorldContext
from spark.world.entities import Members
from spark.world.sessions import Sessions

PRODUCT_BLOCK_TABLES: tuple[str, ...] = (
    "ad_impressions",
    "ads_ground_truth",
    "member_profiles",
    "job_impressions",
    "jobs_ground_truth",
)
PRODUCT_DAY_TABLES: tuple[str, ...] = ("ad_catalog", "job_postings")
PRODUCT_TABLE_SCHEMAS: dict[str, pa.Schema] = {
    "ad_catalog": schemas.AD_CATALOG,
    "ad_impressions": schemas.AD_IMPRESSIONS,
    "ads_ground_truth": schemas.ADS_GROUND_TRUTH,
    "job_postings": schemas.JOB_POSTINGS,
    "member_profiles": schemas.MEMBER_PROFILES,
    "job_impressions": schemas.JOB_IMPRESSIONS,
    "jobs_ground_truth": schemas.JOBS_GROUND_TRUTH,
}


def product_block_tables(
    context: WorldContext, day: int, block: int, members: Members, sessions: Sessions
) -> dict[str, pa.Table]:
    """The block's Ads and Jobs tables of `day` (`PRODUCT_BLOCK_TABLES`), given its feed
    sessions (whose ad slots the sponsored posts fill)."""
    from spark.world.ads import ads_block_tables
    from spark.world.jobs import jobs_block_tables

    interest = context.interest_on(members, block, day)
    return {
        **ads_block_tables(context, day, block, members, interest, sessions),
        **jobs_block_tables(context, day, block, members, interest),
    }


def product_day_tables(config: WorldConfig, day: int) -> dict[str, pa.Table]:
    """The day's global product tables (`PRODUCT_DAY_TABLES`)."""
    from spark.world.ads import ad_catalog_table
    from spark.world.jobs import job_postings_table

    return {
        "ad_catalog": ad_catalog_table(config, day),
        "job_postings": job_postings_table(config, day),
    }

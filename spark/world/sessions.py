"""A block's sessions of a day: who opens how many, at what hour, on which platform, in which
bucket."""

from __future__ import annotations

import dataclasses

import numpy as np

from spark.world.behaviour import HOUR_PROFILE
from spark.world.config import WorldConfig
from spark.world.entities import Members
from spark.world.ids import BLOCK_SESSION_STRIDE, session_ids
from spark.world.sampling import STREAM_SESSIONS, categorical, random_stream


@dataclasses.dataclass(frozen=True)
class Sessions:
    """A block's sessions of a day, by member then hour; `member` indexes the block's members."""

    session_id: np.ndarray
    member: np.ndarray
    hour: np.ndarray
    platform: np.ndarray
    random_bucket: np.ndarray


def open_sessions(config: WorldConfig, day: int, block: int, members: Members) -> Sessions:
    """Poisson(activity) sessions per member, each with an hour, a platform and a bucket."""
    rng = random_stream(config.seed, STREAM_SESSIONS, day, block)
    counts = rng.poisson(members.activity)
    member = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    hour = rng.choice(24, size=len(member), p=HOUR_PROFILE)
    order = np.lexsort((hour, member))
    member, hour = member[order], hour[order].astype(np.int64)
    platform = categorical(rng, members.platform_pref[member])
    random_bucket = rng.random(len(member)) < config.random_bucket_share
    if len(member) >= BLOCK_SESSION_STRIDE:
        raise ValueError(
            f"block {block} opened {len(member)} sessions on day {day}, more than session ids "
            f"allow per block ({BLOCK_SESSION_STRIDE}); lower `members_per_block`. Received: "
            f"members_per_block={config.members_per_block}"
        )
    return Sessions(
        session_id=session_ids(day, block, len(member)),
        member=member,
        hour=hour,
        platform=platform,
        random_bucket=random_bucket,
    )

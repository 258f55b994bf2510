"""Configuration of the simulated feed world: its size and seed, and its categorical values."""

from __future__ import annotations

import dataclasses
import datetime as dt

# The values the simulator emits for the log contract's categorical columns (`spark.schemas`
# owns the columns and the actions; a user's logs may hold other values).
CONTENT_TYPES: tuple[str, ...] = ("text", "image", "video", "article", "poll", "job")
PLATFORMS: tuple[str, ...] = ("web", "ios", "android")


@dataclasses.dataclass(frozen=True)
class WorldConfig:
    """Size and seed of the simulated feed world.

    Same seed and config give byte-identical logs. The defaults are the `make demo` world: small
    enough to generate in seconds on 2 cores, large enough for replay intervals to separate rankers.

    Args:
        seed: root seed; every random draw of the world derives from it.
        start_date: calendar date of day 0.
        num_days: number of daily partitions the world produces.
        num_members: members (viewers); the first `num_authors` of them also post.
        num_authors: members who create posts.
        posts_per_day: new posts created each day.
        mean_sessions_per_member: mean of the heavy-tailed per-member daily session rate.
        candidates_per_session: posts the candidate generator offers each session.
        served_per_session: top-N served (and, in the random bucket, shuffled uniformly).
        random_bucket_share: share of sessions served by the pseudo-random ranker.
        interest_dim: dimension of the latent member interest and post topic vectors.
        history_length: actions kept in each member's interaction history.
        post_lifetime_days: how many days a post stays eligible as a candidate.
        members_per_block: members per block, the simulator's unit of randomness: each block
            of consecutive member ids draws from its own random streams, so any set of whole
            blocks can be simulated apart (one Spark task per shard of blocks) with the same
            result. Part of the world's identity: changing it changes the world.
        num_advertisers: advertisers of the Ads world (`spark.world.ads`).
        campaigns_per_advertiser: campaigns each advertiser runs (each has its own
            chargeability group, creative type, bid and drifting campaign effect).
        ads_per_campaign: ads (creatives) per campaign.
        sponsored_share: share of feed sessions that get sponsored slots.
        ad_slots: sponsored slots per such session.
        ad_candidates: live ads the ad server draws per session before the auction.
        num_companies: companies posting jobs (`spark.world.jobs`).
        jobs_per_day: job postings created each day.
        job_lifetime_days: how many days a posting stays live.
        mean_job_sessions_per_member: mean daily Job Search + JYMBII sessions per member.
        job_search_share: share of job sessions that are Job Search (a query); the rest JYMBII.
        job_candidates: live postings the retrieval stage draws per job session.
        jobs_served_per_session: postings served per job session.
    """

    seed: int = 7
    start_date: dt.date = dt.date(2026, 1, 1)
    num_days: int = 8
    num_members: int = 3000
    num_authors: int = 600
    posts_per_day: int = 500
    mean_sessions_per_member: float = 1.3
    candidates_per_session: int = 30
    served_per_session: int = 10
    random_bucket_share: float = 0.10
    interest_dim: int = 12
    history_length: int = 20
    post_lifetime_days: int = 4
    members_per_block: int = 256
    num_advertisers: int = 60
    campaigns_per_advertiser: int = 3
    ads_per_campaign: int = 2
    sponsored_share: float = 0.8
    ad_slots: int = 3
    ad_candidates: int = 16
    num_companies: int = 200
    jobs_per_day: int = 300
    job_lifetime_days: int = 7
    mean_job_sessions_per_member: float = 0.6
    job_search_share: float = 0.5
    job_candidates: int = 60
    jobs_served_per_session: int = 10

    def __post_init__(self) -> None:
        positive = {
            "num_days": self.num_days,
            "num_members": self.num_members,
            "num_authors": self.num_authors,
            "posts_per_day": self.posts_per_day,
            "served_per_session": self.served_per_session,
            "interest_dim": self.interest_dim,
            "history_length": self.history_length,
            "post_lifetime_days": self.post_lifetime_days,
            "members_per_block": self.members_per_block,
            "num_advertisers": self.num_advertisers,
            "campaigns_per_advertiser": self.campaigns_per_advertiser,
            "ads_per_campaign": self.ads_per_campaign,
            "ad_slots": self.ad_slots,
            "num_companies": self.num_companies,
            "jobs_per_day": self.jobs_per_day,
            "job_lifetime_days": self.job_lifetime_days,
            "jobs_served_per_session": self.jobs_served_per_session,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"`{name}` must be positive. Received: {name}={value}")
        if self.num_authors > self.num_members:
            raise ValueError(
                "`num_authors` must not exceed `num_members`. "
                f"Received: num_authors={self.num_authors}, num_members={self.num_members}"
            )
        if self.candidates_per_session < self.served_per_session:
            raise ValueError(
                "`candidates_per_session` must be >= `served_per_session`. Received: "
                f"candidates_per_session={self.candidates_per_session}, "
                f"served_per_session={self.served_per_session}"
            )
        if not 0.0 <= self.random_bucket_share <= 1.0:
            raise ValueError(
                "`random_bucket_share` must be in [0, 1]. "
                f"Received: random_bucket_share={self.random_bucket_share}"
            )
        for name in ("sponsored_share", "job_search_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(
                    f"`{name}` must be in [0, 1]. Received: {name}={getattr(self, name)}"
                )
        if self.ad_candidates < self.ad_slots:
            raise ValueError(
                "`ad_candidates` must be >= `ad_slots`. Received: "
                f"ad_candidates={self.ad_candidates}, ad_slots={self.ad_slots}"
            )
        if self.job_candidates < self.jobs_served_per_session:
            raise ValueError(
                "`job_candidates` must be >= `jobs_served_per_session`. Received: "
                f"job_candidates={self.job_candidates}, "
                f"jobs_served_per_session={self.jobs_served_per_session}"
            )
        if self.mean_job_sessions_per_member < 0:
            raise ValueError(
                "`mean_job_sessions_per_member` must be >= 0. "
                f"Received: mean_job_sessions_per_member={self.mean_job_sessions_per_member}"
            )
        if self.mean_sessions_per_member <= 0:
            raise ValueError(
                "`mean_sessions_per_member` must be positive. "
                f"Received: mean_sessions_per_member={self.mean_sessions_per_member}"
            )

    def date_of(self, day: int) -> dt.date:
        """Calendar date of world day `day` (0-based)."""
        return self.start_date + dt.timedelta(days=day)

    def day_of(self, date: dt.date) -> int:
        """World day index of a calendar date; raises if the date is outside the world."""
        day = (date - self.start_date).days
        if not 0 <= day < self.num_days:
            raise ValueError(
                f"date {date.isoformat()} is outside the simulated world "
                f"({self.start_date.isoformat()} + {self.num_days} days)"
            )
        return day

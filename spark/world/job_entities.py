"""The Jobs world's entities: title/skill taxonomy, companies, daily postings, member profiles.

Each draw is a pure function of the config (and the entities it builds on) from its own random
stream (`spark.world.sampling`), as "Entities" in `spark.world.jobs` describes:

    taxonomy, companies (global):      STREAM_JOB_TAXONOMY, STREAM_JOB_COMPANIES, keys ()
    the postings created on day d:     STREAM_JOB_POSTINGS, keys (d,)
    the profiles of block b's members: STREAM_JOB_PROFILES, keys (b,)

so a block's profiles never depend on other blocks, and every process draws the same postings.
The global draws are cached per config (`job_globals`, `postings_of`, `live_postings`);
`WorldConfig` is frozen and hashable. The cached arrays are read-only.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from spark.world.behaviour import NUM_COUNTRIES, NUM_INDUSTRIES, NUM_SENIORITY
from spark.world.config import WorldConfig
from spark.world.entities import Members
from spark.world.ids import JOB_ID_STRIDE, job_ids
from spark.world.sampling import (
    STREAM_JOB_COMPANIES,
    STREAM_JOB_POSTINGS,
    STREAM_JOB_PROFILES,
    STREAM_JOB_TAXONOMY,
    categorical,
    gumbel,
    normalize,
    random_stream,
)

TITLES_PER_FAMILY = 4
NUM_TITLES = NUM_INDUSTRIES * TITLES_PER_FAMILY  # 48 standardized titles; family = industry
TITLE_DIM = 8  # latent title vectors t in R^8
SKILLS_PER_FAMILY = 8  # each family's core skills
NUM_SKILLS = NUM_INDUSTRIES * SKILLS_PER_FAMILY  # 96
MIN_JOB_SKILLS, MAX_JOB_SKILLS = 1, 5
MIN_MEMBER_SKILLS, MAX_MEMBER_SKILLS = 3, 8

TITLE_NOISE = 0.5  # t = normalize(c_family + 0.5 n / sqrt(8)), n ~ N(0, I)
CORE_SKILL_LOGIT = 4.0  # skill profile of a title: softmax(4 [core of its family] + N(0, 1))
TITLE_LEVEL_SD = 1.0  # member title ~ exp(-(sen_m - level_t)^2 / (2 * 1.0^2)) within the family
POSTING_LEVEL_SD = 0.7  # posting seniority = clip(round(level_t + N(0, 0.7^2)), 0, 4)
IN_FAMILY_TITLE = 0.8  # share of postings whose title is in the company's industry family
HOME_COUNTRY = 0.85  # share of postings in the company's own country
PROFILE_ON_TITLE = 0.85  # member skills ~ 0.85 title profile + 0.15 uniform
ATTRACTIVENESS_SD = 0.5
HIRING_SD = 0.8  # a company's share of postings ~ log-normal(0, 0.8)
INTENT_SD = 0.8  # intent_m = exp(0.8 g - 0.32): log-normal with mean 1


@dataclasses.dataclass(frozen=True)
class Taxonomy:
    """Standardized titles: family (= industry), latent vector, seniority level, skill profile."""

    family: np.ndarray  # (T,) int
    vector: np.ndarray  # (T, TITLE_DIM) unit vectors
    level: np.ndarray  # (T,) the seniority the title sits at, in [0, NUM_SENIORITY - 1]
    skill_profile: np.ndarray  # (T, NUM_SKILLS), rows sum to 1

    @property
    def title_cos(self) -> np.ndarray:
        """cos(t_a, t_b) of every pair of titles, (T, T)."""
        return self.vector @ self.vector.T


@dataclasses.dataclass(frozen=True)
class Companies:
    """Companies posting jobs; company_id = index."""

    industry: np.ndarray  # (C,) int
    country: np.ndarray  # (C,) int
    attractiveness: np.ndarray  # (C,) ~ N(0, 0.5^2): added to the click logit
    hiring_weight: np.ndarray  # (C,) share of the day's postings, sums to 1


@dataclasses.dataclass(frozen=True)
class JobGlobals:
    """The Jobs world's global entities of one config."""

    taxonomy: Taxonomy
    companies: Companies


@dataclasses.dataclass(frozen=True)
class Postings:
    """Job postings (one day's, or the live pool of a day), one row each."""

    job_id: np.ndarray  # (n,) int64
    created: np.ndarray  # (n,) creation day
    company: np.ndarray  # (n,) int64
    title: np.ndarray  # (n,) int
    skills: np.ndarray  # (n, MAX_JOB_SKILLS) int32, -1 padded, most characteristic first
    industry: np.ndarray  # (n,) the company's industry
    seniority: np.ndarray  # (n,)
    country: np.ndarray  # (n,)


@dataclasses.dataclass(frozen=True)
class Profiles:
    """Job profiles of one block of members (row i = member `first + i`).

    `seniority`, `industry` and `country` are the feed's `Members` values; `intent` (log-normal,
    mean 1) scales the member's job sessions and enters the apply logit as 0.5 log intent.
    """

    first: int
    title: np.ndarray  # (n,) int, in the family of the member's industry
    skills: np.ndarray  # (n, MAX_MEMBER_SKILLS) int32, -1 padded
    company: np.ndarray  # (n,) int64, a company of the member's industry (if any)
    seniority: np.ndarray
    industry: np.ndarray
    country: np.ndarray
    intent: np.ndarray  # (n,) float


def check_jobs_config(config: WorldConfig) -> None:
    """Reject configs the Jobs world cannot run (beyond `WorldConfig`'s own checks)."""
    if config.jobs_per_day >= JOB_ID_STRIDE:
        raise ValueError(
            f"`jobs_per_day` must be below {JOB_ID_STRIDE} (job ids are day * {JOB_ID_STRIDE} "
            f"+ i). Received: jobs_per_day={config.jobs_per_day}"
        )
    if config.jobs_per_day < config.job_candidates:
        raise ValueError(
            "`jobs_per_day` must be at least `job_candidates` so that day 0 (whose live pool is "
            "that day's postings only) has enough postings to retrieve. Received: "
            f"jobs_per_day={config.jobs_per_day}, job_candidates={config.job_candidates}"
        )


def _zipf(n: int, exponent: float) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    return w / w.sum()


def _read_only(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


def _top_skills(rng: np.random.Generator, log_weight: np.ndarray, counts: np.ndarray, width: int):
    """Gumbel-top-k skills per row (without replacement), best first, -1 padded to `width`."""
    score = log_weight + gumbel(rng, log_weight.shape)
    top = np.argsort(-score, axis=1, kind="stable")[:, :width]
    keep = np.arange(width)[None, :] < counts[:, None]
    return np.where(keep, top, -1).astype(np.int32)


# ----------------------------------------------------------------------------- globals


def draw_taxonomy(config: WorldConfig) -> Taxonomy:
    """48 titles in 12 families: family centroid + noise, a seniority level, a skill profile."""
    rng = random_stream(config.seed, STREAM_JOB_TAXONOMY)
    centroids = normalize(rng.standard_normal((NUM_INDUSTRIES, TITLE_DIM)))
    family = np.repeat(np.arange(NUM_INDUSTRIES), TITLES_PER_FAMILY)
    noise = rng.standard_normal((NUM_TITLES, TITLE_DIM)) / np.sqrt(TITLE_DIM)
    vector = normalize(centroids[family] + TITLE_NOISE * noise)
    rank = np.tile(np.arange(TITLES_PER_FAMILY), NUM_INDUSTRIES)
    level = rank * (NUM_SENIORITY - 1) / (TITLES_PER_FAMILY - 1)
    core = (np.arange(NUM_SKILLS)[None, :] // SKILLS_PER_FAMILY) == family[:, None]
    logit = CORE_SKILL_LOGIT * core + rng.standard_normal((NUM_TITLES, NUM_SKILLS))
    profile = np.exp(logit - logit.max(axis=1, keepdims=True))
    profile /= profile.sum(axis=1, keepdims=True)
    return Taxonomy(family=family, vector=vector, level=level, skill_profile=profile)


def draw_companies(config: WorldConfig) -> Companies:
    """Companies: industry and country (the members' Zipf mixes), attractiveness, hiring rate."""
    rng = random_stream(config.seed, STREAM_JOB_COMPANIES)
    n = config.num_companies
    industry = rng.choice(NUM_INDUSTRIES, size=n, p=_zipf(NUM_INDUSTRIES, 0.7))
    country = rng.choice(NUM_COUNTRIES, size=n, p=_zipf(NUM_COUNTRIES, 1.0))
    attractiveness = rng.normal(0.0, ATTRACTIVENESS_SD, size=n)
    hiring = np.exp(HIRING_SD * rng.standard_normal(n))
    return Companies(
        industry=industry.astype(np.int32),
        country=country.astype(np.int32),
        attractiveness=attractiveness,
        hiring_weight=hiring / hiring.sum(),
    )


@functools.lru_cache(maxsize=4)
def job_globals(config: WorldConfig) -> JobGlobals:
    """The taxonomy and companies of `config`, drawn once per process."""
    check_jobs_config(config)
    tax, comp = draw_taxonomy(config), draw_companies(config)
    _read_only(tax.family, tax.vector, tax.level, tax.skill_profile)
    _read_only(comp.industry, comp.country, comp.attractiveness, comp.hiring_weight)
    return JobGlobals(taxonomy=tax, companies=comp)


# ---------------------------------------------------------------------------- postings


@functools.lru_cache(maxsize=32)
def postings_of(config: WorldConfig, day: int) -> Postings:
    """The `jobs_per_day` postings created on `day` (global: every process draws the same)."""
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    g = job_globals(config)
    tax, comp = g.taxonomy, g.companies
    rng = random_stream(config.seed, STREAM_JOB_POSTINGS, day)
    n = config.jobs_per_day
    company = rng.choice(config.num_companies, size=n, p=comp.hiring_weight)
    in_family = rng.random(n) < IN_FAMILY_TITLE
    family_title = comp.industry[company] * TITLES_PER_FAMILY + rng.integers(
        0, TITLES_PER_FAMILY, size=n
    )
    title = np.where(in_family, family_title, rng.integers(0, NUM_TITLES, size=n))
    level = tax.level[title] + POSTING_LEVEL_SD * rng.standard_normal(n)
    seniority = np.clip(np.round(level), 0, NUM_SENIORITY - 1)
    counts = MIN_JOB_SKILLS + rng.binomial(MAX_JOB_SKILLS - MIN_JOB_SKILLS, 0.5, size=n)
    skills = _top_skills(rng, np.log(tax.skill_profile[title]), counts, MAX_JOB_SKILLS)
    home = rng.random(n) < HOME_COUNTRY
    other = rng.choice(NUM_COUNTRIES, size=n, p=_zipf(NUM_COUNTRIES, 1.0))
    postings = Postings(
        job_id=job_ids(day, n),
        created=np.full(n, day, dtype=np.int64),
        company=company.astype(np.int64),
        title=title.astype(np.int32),
        skills=skills,
        industry=comp.industry[company],
        seniority=seniority.astype(np.int32),
        country=np.where(home, comp.country[company], other).astype(np.int32),
    )
    _read_only(*(getattr(postings, f.name) for f in dataclasses.fields(Postings)))
    return postings


@functools.lru_cache(maxsize=4)
def live_postings(config: WorldConfig, day: int) -> Postings:
    """The postings live on `day`: created on days max(0, day - job_lifetime_days + 1)..day,
    oldest first. The world starts empty: day d < lifetime has (d + 1) * jobs_per_day live."""
    days = range(max(0, day - config.job_lifetime_days + 1), day + 1)
    parts = [postings_of(config, d) for d in days]
    return Postings(
        **{
            f.name: np.concatenate([getattr(p, f.name) for p in parts])
            for f in dataclasses.fields(Postings)
        }
    )


# ---------------------------------------------------------------------------- profiles


def draw_profiles(config: WorldConfig, members: Members, block: int) -> Profiles:
    """The job profiles of `block`'s members (static: the same every day).

    title ~ P(t) ∝ exp(-(sen_m - level_t)^2 / 2) over the titles of the member's industry family;
    3-8 skills without replacement from 0.85 profile(title) + 0.15 uniform; company uniform among
    the member's industry's companies weighted by hiring (any company if the industry has none).
    """
    g = job_globals(config)
    tax, comp = g.taxonomy, g.companies
    rng = random_stream(config.seed, STREAM_JOB_PROFILES, block)
    n = len(members.seniority)
    family_titles = members.industry[:, None] * TITLES_PER_FAMILY + np.arange(TITLES_PER_FAMILY)
    gap = members.seniority[:, None] - tax.level[family_titles]
    pick = categorical(rng, np.exp(-0.5 * (gap / TITLE_LEVEL_SD) ** 2))
    title = family_titles[np.arange(n), pick]
    counts = MIN_MEMBER_SKILLS + rng.binomial(MAX_MEMBER_SKILLS - MIN_MEMBER_SKILLS, 0.5, size=n)
    mix = PROFILE_ON_TITLE * tax.skill_profile[title] + (1 - PROFILE_ON_TITLE) / NUM_SKILLS
    skills = _top_skills(rng, np.log(mix), counts, MAX_MEMBER_SKILLS)
    same = comp.industry[None, :] == members.industry[:, None]
    company_w = comp.hiring_weight[None, :] * np.where(same, 1.0, 1e-9)
    company = categorical(rng, company_w) if n else np.zeros(0, dtype=np.int64)
    intent = np.exp(INTENT_SD * rng.standard_normal(n) - 0.5 * INTENT_SD**2)
    return Profiles(
        first=members.first,
        title=title.astype(np.int32),
        skills=skills,
        company=company.astype(np.int64),
        seniority=members.seniority,
        industry=members.industry,
        country=members.country,
        intent=intent,
    )

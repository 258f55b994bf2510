"""The Jobs world (Job Search + JYMBII): postings, profiles, sessions, truth and their tables.

LiRank's Jobs model ranks postings for two channels with one multi-task model predicting
P(click) and P(apply) from five shared embedding matrices (title, skill, company, industry,
seniority), and the product's business metric is qualified applications (paper §1, §17;
Table 7). The paper gives no behavioural model; everything below is OUR simulation, NOT
CONFIRMED by the paper, built so that field matches and seniority fit drive the actions.

Entities (`spark.world.job_entities`; global draws keyed (), postings keyed (d,))
    Taxonomy: 48 standardized titles in 12 families (family = industry, 4 titles each), latent
    t = normalize(c_family + 0.5 n / sqrt(8)) in R^8, a seniority level
    level_t = rank_in_family * 4 / 3 (0, 1.33, 2.67, 4), a skill profile over 96 skills
    softmax(4 [skill in the family's 8 core skills] + N(0, 1)) (~80% mass on core skills).
    Companies (`num_companies`): industry and country (Zipf like the members'), attractiveness
    a_c ~ N(0, 0.5^2), hiring share ~ log-normal(0, 0.8).
    Postings of day d (`jobs_per_day`, job_id = d * 10^6 + i): company ~ hiring share; title in
    the company's family w.p. 0.8, else uniform; seniority = clip(round(level_t + N(0, 0.7^2)));
    1 + Binomial(4, 0.5) required skills (Gumbel-top-k over the title profile, best first);
    industry = the company's; country = the company's w.p. 0.85, else Zipf. A posting is live
    `job_lifetime_days` days from its creation day. The world starts empty (like the feed's
    posts): day d < lifetime has (d + 1) * jobs_per_day live postings, so `jobs_per_day` must be
    at least `job_candidates`.
    Profiles (block b, keys (b,); static, the table is a daily snapshot): seniority, industry,
    country are the feed `Members`' values; title in the industry's family with
    P(t) ∝ exp(-(sen_m - level_t)^2 / 2); 3 + Binomial(5, 0.5) skills from
    0.85 profile(title) + 0.15 uniform; company from the member's industry; job intent
    i_m = exp(0.8 g - 0.32) (log-normal, mean 1). t_m = t_{title_m}.

A day of job sessions (block b on day d, streams STREAM_JOB_* keyed (d, b))
    Member m opens Poisson(`mean_job_sessions_per_member` * i_m) sessions; hour ~ the feed's
    HOUR_PROFILE; platform ~ the member's preference; channel "search" w.p. `job_search_share`
    with a query title q = the member's own title w.p. 0.6, else another title of its family;
    else "jymbii" (query_title_id = -1).
    Retrieval: `job_candidates` live postings without replacement (Gumbel-top-k) by
        search: 3 cos(t_q, t_j) + 0.5 [country_m = country_j]
        jymbii: 2 cos(t_m, t_j) + 0.5 [industry_m = industry_j]
    Truth given examination (`truth_logits`), with overlap = |skills_m ∩ skills_j| / |skills_j|:
        click logit  = b_c + 2.0 cos(t_m, t_j) + 2.0 [search] cos(t_q, t_j) + 1.0 overlap
                       + 0.5 [industry match] + 0.4 [country match] - 0.4 |sen_m - sen_j|
                       + a_company - 0.1 age_days
        apply | click logit = b_a + 1.5 overlap - 0.8 max(0, sen_j - sen_m)
                       - 0.3 max(0, sen_m - sen_j) + 0.8 cos(t_m, t_j) + 0.5 log i_m
        p_click = sigmoid(click logit), q = sigmoid(apply | click logit), p_apply = p_click q,
        p_qualified_apply = p_apply [qualified(m, j)]   (`is_qualified`),
    with b_c = -5.5 and b_a = -2.6: about 11% clicks, 3% applications and 2% qualified
    applications among the impressed rows of the demo world (retrieval already favours
    matching titles, so the served pairs' logits sit well above b_c); Job Search, whose query
    term adds up to 2.0, clicks ~18% and JYMBII ~4%.
    A qualified application (OUR definition, logged in JOB_IMPRESSIONS) is an application whose
    member is within one seniority level of the job and holds at least ceil(|skills_j| / 2) of
    its required skills.
    What a model can learn from the logged fields: the title-title cosines from title embeddings
    crossed between member, query and job (DCN crosses); overlap and the qualified rule from the
    skill embeddings of both sides; the match indicators and seniority fit from industry,
    country and seniority crosses; a_company from the company embedding; age from the posting's
    date. Job intent i_m is not in any raw table: it is member-level noise for a model without
    member ids (the production ranker sees it, through the truth).
    Production ranker: logit(p_click (0.3 + q) / 1.3) + N(0, 1), the top
    `jobs_served_per_session` served, position 0 the best score.
    Scroll depth D = min(Geometric(0.25), N) >= 1, impressed iff position < D; examined given
    impressed w.p. p_examine(i) = 0.95 (1 + i)^-0.5. Click only if examined, apply only if
    clicked (w.p. q), qualified_apply = apply and qualified. Actions are 0 where not impressed.

Tables: `job_postings_table` (global, per creation day), and per block `jobs_block_tables`:
member_profiles (every member of the block), job_impressions and jobs_ground_truth (one row per
served job, in session then position order; the truth has p_examine and the action
probabilities given examination, and is never joined into the raw logs). A block's tables
depend only on the seed, the global entities and the block (shard invariance); job session ids
are `spark.world.ids.job_session_ids`, above every feed session id.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pyarrow as pa

from spark import schemas
from spark.schemas import JOB_CHANNELS
from spark.world.behaviour import EXAMINE_DECAY, EXAMINE_TOP, HOUR_PROFILE
from spark.world.config import PLATFORMS, WorldConfig
from spark.world.context import WorldContext
from spark.world.entities import Members
from spark.world.ids import BLOCK_SESSION_STRIDE, job_session_ids
from spark.world.job_entities import (
    TITLES_PER_FAMILY,
    JobGlobals,
    Postings,
    Profiles,
    draw_profiles,
    job_globals,
    live_postings,
    postings_of,
)
from spark.world.sampling import (
    CHUNK_CELLS,
    STREAM_JOB_ACTIONS,
    STREAM_JOB_CANDIDATES,
    STREAM_JOB_RANKER,
    STREAM_JOB_SESSIONS,
    categorical,
    gumbel,
    random_stream,
    take_columns,
    top_k_unsorted,
)
from spark.world.state import block_members

# ------------------------------------------------------------------- behavioural constants

OWN_TITLE_QUERY = 0.6  # a search queries the member's own title, else another of its family
RETRIEVAL_QUERY, RETRIEVAL_COUNTRY = 3.0, 0.5  # search retrieval score weights
RETRIEVAL_TITLE, RETRIEVAL_INDUSTRY = 2.0, 0.5  # JYMBII retrieval score weights

CLICK_BIAS = -5.5  # b_c: ~11% clicks among impressed rows of the demo world
CLICK_TITLE = 2.0  # cos(t_m, t_j)
CLICK_QUERY = 2.0  # cos(t_q, t_j), search only
CLICK_SKILL = 1.0  # skill overlap fraction
CLICK_INDUSTRY = 0.5
CLICK_COUNTRY = 0.4
CLICK_SENIORITY_GAP = 0.4  # per level of |sen_m - sen_j|
CLICK_AGE = 0.1  # per day of posting age

APPLY_BIAS = -2.6  # b_a: ~3% applications among impressed rows
APPLY_SKILL = 1.5
APPLY_OVERREACH = 0.8  # per level the job is above the member
APPLY_UNDERREACH = 0.3  # per level the job is below the member
APPLY_TITLE = 0.8
APPLY_INTENT = 0.5  # times log intent

RANKER_APPLY_OFFSET = 0.3  # production ranker value: p_click (0.3 + q) / 1.3
RANKER_NOISE_SD = 1.0
SCROLL_CONTINUE = 0.75  # depth ~ Geometric(0.25)
NO_QUERY = -1


# ------------------------------------------------------------------------ qualification


def _check_skills(name: str, skills: np.ndarray, rows: int) -> np.ndarray:
    skills = np.asarray(skills)
    if skills.ndim != 2 or len(skills) != rows:
        raise ValueError(
            f"`{name}` must be a (n, L) int array with one row per pair (n={rows}), -1 padded. "
            f"Received: shape={skills.shape}"
        )
    if skills.size and skills.min() < -1:
        raise ValueError(
            f"`{name}` holds skill ids below -1 (the padding value); skill ids are >= 0. "
            f"Received: min={int(skills.min())}"
        )
    return skills


def skills_held(member_skills: np.ndarray, job_skills: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(held, required) per pair: how many of the job's required skills (-1 padded, distinct)
    the member holds, and how many it requires."""
    held = (job_skills[:, :, None] == member_skills[:, None, :]).any(axis=2) & (job_skills >= 0)
    return held.sum(axis=1), (job_skills >= 0).sum(axis=1)


def is_qualified(
    member_seniority: np.ndarray,
    member_skills: np.ndarray,
    job_seniority: np.ndarray,
    job_skills: np.ndarray,
) -> np.ndarray:
    """The qualified-application rule, per (member, job) pair (OUR definition; the paper only
    names the metric, Table 7): |sen_m - sen_j| <= 1 and the member holds at least
    ceil(|skills_j| / 2) of the job's required skills.

    Args:
        member_seniority, job_seniority: (n,) seniority levels.
        member_skills, job_skills: (n, L_m), (n, L_j) skill ids, -1 padded; a job's skills must
            be distinct.

    Returns:
        (n,) bool.
    """
    sen_m, sen_j = np.asarray(member_seniority), np.asarray(job_seniority)
    if sen_m.ndim != 1 or sen_j.shape != sen_m.shape:
        raise ValueError(
            "`member_seniority` and `job_seniority` must be 1-D arrays of the same length (one "
            f"per pair). Received: shapes {sen_m.shape} and {sen_j.shape}"
        )
    member_skills = _check_skills("member_skills", member_skills, len(sen_m))
    job_skills = _check_skills("job_skills", job_skills, len(sen_m))
    ordered = np.sort(job_skills, axis=1)
    dup = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
    if dup.any():
        row = int(np.nonzero(dup.any(axis=1))[0][0])
        raise ValueError(
            f"`job_skills` row {row} repeats a skill; a job's required skills must be distinct "
            f"(deduplicate them). Received: {job_skills[row].tolist()}"
        )
    held, required = skills_held(member_skills, job_skills)
    return (np.abs(sen_m - sen_j) <= 1) & (2 * held >= required)


# --------------------------------------------------------------------------------- truth


@dataclasses.dataclass(frozen=True)
class PairFeatures:
    """What the truth of a (session, posting) pair depends on; arrays of one shape.

    cos_query is 0 for JYMBII (no query); matches are 0/1; age in days since creation.
    """

    cos_member: np.ndarray
    cos_query: np.ndarray
    skill_overlap: np.ndarray  # fraction of the job's required skills the member holds
    industry_match: np.ndarray
    country_match: np.ndarray
    member_seniority: np.ndarray
    job_seniority: np.ndarray
    attractiveness: np.ndarray
    age_days: np.ndarray
    log_intent: np.ndarray


def truth_logits(f: PairFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(click logit, apply-given-click logit) given examination; see the module docstring."""
    gap = f.job_seniority - f.member_seniority
    click = (
        CLICK_BIAS
        + CLICK_TITLE * f.cos_member
        + CLICK_QUERY * f.cos_query
        + CLICK_SKILL * f.skill_overlap
        + CLICK_INDUSTRY * f.industry_match
        + CLICK_COUNTRY * f.country_match
        - CLICK_SENIORITY_GAP * np.abs(gap)
        + f.attractiveness
        - CLICK_AGE * f.age_days
    )
    apply = (
        APPLY_BIAS
        + APPLY_SKILL * f.skill_overlap
        - APPLY_OVERREACH * np.maximum(0, gap)
        - APPLY_UNDERREACH * np.maximum(0, -gap)
        + APPLY_TITLE * f.cos_member
        + APPLY_INTENT * f.log_intent
    )
    return click, apply


def job_truth(f: PairFeatures) -> tuple[np.ndarray, np.ndarray]:
    """(p_click, p_apply_given_click) given examination."""
    click, apply = truth_logits(f)
    return 1.0 / (1.0 + np.exp(-click)), 1.0 / (1.0 + np.exp(-apply))


def pair_features(
    globals_: JobGlobals,
    profiles: Profiles,
    member: np.ndarray,
    query_title: np.ndarray,
    postings: Postings,
    job: np.ndarray,
    day: int,
) -> PairFeatures:
    """The features of each session's postings.

    Args:
        member, query_title: (S,) index into `profiles`; query title or -1 (JYMBII).
        job: (S, k) index into `postings`.
    """
    cos = globals_.taxonomy.title_cos
    title_m = profiles.title[member][:, None]
    title_j = postings.title[job]
    has_query = (query_title >= 0)[:, None]
    cos_query = np.where(has_query, cos[np.maximum(query_title, 0)[:, None], title_j], 0.0)
    s, k = job.shape
    held, required = skills_held(
        np.repeat(profiles.skills[member], k, axis=0), postings.skills[job.ravel()]
    )
    overlap = (held / np.maximum(required, 1)).reshape(s, k)
    return PairFeatures(
        cos_member=cos[title_m, title_j],
        cos_query=cos_query,
        skill_overlap=overlap,
        industry_match=(profiles.industry[member][:, None] == postings.industry[job]).astype(float),
        country_match=(profiles.country[member][:, None] == postings.country[job]).astype(float),
        member_seniority=profiles.seniority[member][:, None].astype(float),
        job_seniority=postings.seniority[job].astype(float),
        attractiveness=globals_.companies.attractiveness[postings.company[job]],
        age_days=(day - postings.created[job]).astype(float),
        log_intent=np.log(profiles.intent[member])[:, None] + np.zeros((1, k)),
    )


# ------------------------------------------------------------------------------ sessions


@dataclasses.dataclass(frozen=True)
class JobSessions:
    """A block's job sessions of a day, by member then hour; `member` indexes the block."""

    session_id: np.ndarray
    member: np.ndarray
    hour: np.ndarray
    platform: np.ndarray
    query_title: np.ndarray  # -1 for JYMBII

    @property
    def is_search(self) -> np.ndarray:
        return self.query_title >= 0


def open_job_sessions(
    config: WorldConfig, day: int, block: int, members: Members, profiles: Profiles
) -> JobSessions:
    """Poisson(mean * intent) sessions per member, each with an hour, platform and channel."""
    rng = random_stream(config.seed, STREAM_JOB_SESSIONS, day, block)
    counts = rng.poisson(config.mean_job_sessions_per_member * profiles.intent)
    member = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    if len(member) >= BLOCK_SESSION_STRIDE:
        raise ValueError(
            f"block {block} opened {len(member)} job sessions on day {day}, more than session "
            f"ids allow per block ({BLOCK_SESSION_STRIDE}); lower `members_per_block` or "
            f"`mean_job_sessions_per_member`. Received: "
            f"mean_job_sessions_per_member={config.mean_job_sessions_per_member}"
        )
    hour = rng.choice(24, size=len(member), p=HOUR_PROFILE)
    order = np.lexsort((hour, member))
    member, hour = member[order], hour[order].astype(np.int64)
    platform = categorical(rng, members.platform_pref[member])
    search = rng.random(len(member)) < config.job_search_share
    own = rng.random(len(member)) < OWN_TITLE_QUERY
    shift = rng.integers(1, TITLES_PER_FAMILY, size=len(member))  # another title of the family
    title = profiles.title[member].astype(np.int64)
    family_start = title - title % TITLES_PER_FAMILY
    other = family_start + (title % TITLES_PER_FAMILY + shift) % TITLES_PER_FAMILY
    query = np.where(search, np.where(own, title, other), NO_QUERY)
    return JobSessions(
        session_id=job_session_ids(day, block, len(member)),
        member=member,
        hour=hour,
        platform=platform,
        query_title=query.astype(np.int64),
    )


def retrieve(
    config: WorldConfig,
    day: int,
    block: int,
    globals_: JobGlobals,
    profiles: Profiles,
    sessions: JobSessions,
    postings: Postings,
) -> np.ndarray:
    """Each session's `job_candidates` live postings (S, k indices into `postings`), drawn
    without replacement by the channel's retrieval score + Gumbel noise."""
    rng = random_stream(config.seed, STREAM_JOB_CANDIDATES, day, block)
    cos = globals_.taxonomy.title_cos
    n_sess, n_jobs, k = len(sessions.member), len(postings.job_id), config.job_candidates
    chunk = max(1, CHUNK_CELLS // max(n_jobs, 1))
    picked = [np.zeros((0, k), dtype=np.int64)]
    for lo in range(0, n_sess, chunk):
        rows = slice(lo, min(n_sess, lo + chunk))
        m = sessions.member[rows]
        q = sessions.query_title[rows][:, None]
        search = RETRIEVAL_QUERY * cos[np.maximum(q, 0), postings.title[None, :]] + (
            RETRIEVAL_COUNTRY * (profiles.country[m][:, None] == postings.country[None, :])
        )
        jymbii = RETRIEVAL_TITLE * cos[profiles.title[m][:, None], postings.title[None, :]] + (
            RETRIEVAL_INDUSTRY * (profiles.industry[m][:, None] == postings.industry[None, :])
        )
        score = np.where(q >= 0, search, jymbii) + gumbel(rng, (len(m), n_jobs))
        picked.append(top_k_unsorted(score, k))
    return np.concatenate(picked)


# --------------------------------------------------------------------------- block's day


@dataclasses.dataclass(frozen=True)
class JobDayArrays:
    """A block's served jobs (S, N) in position order, their truth and logged actions."""

    sessions: JobSessions
    served: np.ndarray  # (S, N) index into the live postings
    ranker_score: np.ndarray
    p_click: np.ndarray
    p_apply_given_click: np.ndarray
    qualified: np.ndarray
    depth: np.ndarray  # (S,)
    click: np.ndarray  # (S, N) int8, 0 where not impressed
    apply: np.ndarray
    qualified_apply: np.ndarray


def simulate_job_block(
    config: WorldConfig, day: int, block: int, members: Members, profiles: Profiles
) -> JobDayArrays:
    """One block's job day: sessions, retrieval, truth, production ranker, scroll and actions."""
    g = job_globals(config)
    postings = live_postings(config, day)
    sessions = open_job_sessions(config, day, block, members, profiles)
    cand = retrieve(config, day, block, g, profiles, sessions, postings)
    p_click, q = job_truth(
        pair_features(g, profiles, sessions.member, sessions.query_title, postings, cand, day)
    )
    rng = random_stream(config.seed, STREAM_JOB_RANKER, day, block)
    value = p_click * (RANKER_APPLY_OFFSET + q) / (1.0 + RANKER_APPLY_OFFSET)
    score = np.log(value) - np.log1p(-value) + RANKER_NOISE_SD * rng.standard_normal(cand.shape)
    n_served = config.jobs_served_per_session
    top = np.argsort(-score, axis=1, kind="stable")[:, :n_served]
    served = take_columns(cand, top)
    p_click, q = take_columns(p_click, top), take_columns(q, top)
    n_sess = len(served)
    mem = sessions.member[:, None].repeat(n_served, axis=1).ravel()
    qualified = is_qualified(
        profiles.seniority[mem],
        profiles.skills[mem],
        postings.seniority[served.ravel()],
        postings.skills[served.ravel()],
    ).reshape(n_sess, n_served)
    rng = random_stream(config.seed, STREAM_JOB_ACTIONS, day, block)
    depth = np.minimum(rng.geometric(1.0 - SCROLL_CONTINUE, size=n_sess), n_served)
    impressed = np.arange(n_served)[None, :] < depth[:, None]
    examined = impressed & (rng.random((n_sess, n_served)) < examine_curve(n_served)[None, :])
    click = examined & (rng.random((n_sess, n_served)) < p_click)
    apply = click & (rng.random((n_sess, n_served)) < q)
    return JobDayArrays(
        sessions=sessions,
        served=served,
        ranker_score=take_columns(score, top),
        p_click=p_click,
        p_apply_given_click=q,
        qualified=qualified,
        depth=depth,
        click=click.astype(np.int8),
        apply=apply.astype(np.int8),
        qualified_apply=(apply & qualified).astype(np.int8),
    )


def examine_curve(n_served: int) -> np.ndarray:
    """p_examine(i) = 0.95 (1 + i)^-0.5 for positions 0..n_served-1."""
    return EXAMINE_TOP * (1.0 + np.arange(n_served)) ** -EXAMINE_DECAY


# -------------------------------------------------------------------------------- tables


def _dates(date: dt.date, n: int) -> pa.Array:
    days = (date - dt.date(1970, 1, 1)).days
    return pa.array(np.full(n, days, dtype=np.int32)).cast(pa.date32())


def _skill_lists(skills: np.ndarray) -> pa.Array:
    counts = (skills >= 0).sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(skills[skills >= 0], pa.int32()))


def job_postings_table(config: WorldConfig, day: int) -> pa.Table:
    """schemas.JOB_POSTINGS rows: the postings created on `day` (live job_lifetime_days days)."""
    p = postings_of(config, day)
    return pa.Table.from_arrays(
        [
            _dates(config.date_of(day), len(p.job_id)),
            pa.array(p.job_id),
            pa.array(p.company),
            pa.array(p.title, pa.int32()),
            _skill_lists(p.skills),
            pa.array(p.industry, pa.int32()),
            pa.array(p.seniority, pa.int32()),
            pa.array(p.country, pa.int32()),
        ],
        schema=schemas.JOB_POSTINGS,
    )


def member_profiles_table(date: dt.date, profiles: Profiles) -> pa.Table:
    """schemas.MEMBER_PROFILES rows: every member of the block, as of `date`."""
    n = len(profiles.title)
    return pa.Table.from_arrays(
        [
            _dates(date, n),
            pa.array(profiles.first + np.arange(n, dtype=np.int64)),
            pa.array(profiles.title, pa.int32()),
            _skill_lists(profiles.skills),
            pa.array(profiles.company, pa.int64()),
            pa.array(profiles.industry, pa.int32()),
            pa.array(profiles.seniority, pa.int32()),
            pa.array(profiles.country, pa.int32()),
        ],
        schema=schemas.MEMBER_PROFILES,
    )


def _check_block_inputs(
    config: WorldConfig, day: int, block: int, members: Members, interest: np.ndarray
) -> None:
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    first, end = block_members(config, block)
    if members.first != first or len(members.seniority) != end - first:
        raise ValueError(
            f"`members` must be block {block}'s members (ids {first}..{end - 1}); use "
            f"`context.members({block})`. Received: first={members.first}, "
            f"count={len(members.seniority)}"
        )
    if np.shape(interest)[:1] != (end - first,):
        raise ValueError(
            f"`interest` must have one row per member of block {block} ({end - first}). "
            f"Received: shape={np.shape(interest)}"
        )


def jobs_block_tables(
    context: WorldContext, day: int, block: int, members: Members, interest: np.ndarray
) -> dict[str, pa.Table]:
    """A block's Jobs tables of `day`.

    Args:
        context: the world's global entities (only its config is used: the Jobs globals are
            cached per config in `spark.world.job_entities`).
        day: world day index.
        block: the member block.
        members: the block's members (`context.members(block)`).
        interest: the members' feed interests on `day`, (n, K). Checked but NOT used: in this
            world a member's job behaviour is independent of their feed interests (our choice).

    Returns:
        {"member_profiles": MEMBER_PROFILES (every member of the block, snapshot of `day`),
         "job_impressions": JOB_IMPRESSIONS, "jobs_ground_truth": JOBS_GROUND_TRUTH}.
    """
    config = context.config
    _check_block_inputs(config, day, block, members, interest)
    profiles = draw_profiles(config, members, block)
    arr = simulate_job_block(config, day, block, members, profiles)
    date = config.date_of(day)
    postings = live_postings(config, day)
    s = arr.sessions
    n_sess, n_served = arr.served.shape
    rows = n_sess * n_served
    sess = np.repeat(np.arange(n_sess), n_served)
    position = np.tile(np.arange(n_served, dtype=np.int32), n_sess)
    job_id = postings.job_id[arr.served.ravel()]
    impressed = (position < np.repeat(arr.depth, n_served)) if rows else np.zeros(0, bool)
    channel = np.array(JOB_CHANNELS)[np.where(s.is_search, 0, 1)[sess]]
    impressions = pa.Table.from_arrays(
        [
            _dates(date, rows),
            pa.array(s.session_id[sess]),
            pa.array(members.first + s.member[sess]),
            pa.array(channel, pa.string()),
            pa.array(s.query_title[sess], pa.int32()),
            pa.array(np.array(PLATFORMS)[s.platform[sess]], pa.string()),
            pa.array(s.hour[sess], pa.int32()),
            pa.array(position),
            pa.array(job_id),
            pa.array(arr.ranker_score.ravel(), pa.float32()),
            pa.array(impressed),
            pa.array(arr.click.ravel()),
            pa.array(arr.apply.ravel()),
            pa.array(arr.qualified_apply.ravel()),
        ],
        schema=schemas.JOB_IMPRESSIONS,
    )
    p_apply = arr.p_click * arr.p_apply_given_click
    truth = pa.Table.from_arrays(
        [
            _dates(date, rows),
            pa.array(s.session_id[sess]),
            pa.array(job_id),
            pa.array(position),
            pa.array(examine_curve(n_served)[position], pa.float32()),
            pa.array(arr.p_click.ravel(), pa.float32()),
            pa.array(p_apply.ravel(), pa.float32()),
            pa.array((p_apply * arr.qualified).ravel(), pa.float32()),
        ],
        schema=schemas.JOBS_GROUND_TRUTH,
    )
    return {
        "member_profiles": member_profiles_table(date, profiles),
        "job_impressions": impressions,
        "jobs_ground_truth": truth,
    }

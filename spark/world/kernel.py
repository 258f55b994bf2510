"""The simulator kernel: a block of members' day of sessions, and the behavioural model it follows.

The world is the project's ground truth. Same seed and config give byte-identical tables, however
the members are split across processes (see "Randomness, blocks and shards").

Entities (drawn from the seed)
    Topics: 12 random unit centroids c_j in R^K (K = `interest_dim`); 60 hashtags, five per topic,
    h = normalize(c_j + 0.35 n) with n ~ N(0, I/K).
    Members m: interest u_m = normalize(c_z1 + 0.5 c_z2 + 0.5 n), drifting daily as
    u_m(d) = normalize(u_m(0) + 0.08 * sum_{k<=d} n_k); seniority (5 levels), industry (12),
    country (8), log connections ~ N(5, 1.1) (heavy-tailed counts; the comment and share logits
    use it standardized with those population values), activity
    a_m = mean_sessions * exp(0.9 g - 0.405) (log-normal, mean = `mean_sessions_per_member`),
    platform preference ~ Dirichlet(0.9, 0.7, 0.7) over (web, ios, android).
    Authors = members 0..A-1: topic w_a = normalize(u_a + 0.3 n), quality q_a ~ N(0, 0.5),
    post rate ~ log-normal(sd 1), content-type preference ~ Dirichlet(6 * global mix).
    Follows: each member follows 20-40 authors, drawn without replacement (Gumbel-top-k) with
    score 3 cos(u_m, w_a) + 0.8 q_a + N(0, 0.8)_a; followers of a = in-world follow count.

Posts (created each day; post_id = day * 1_000_000 + i)
    author ~ post rate, type ~ author preference, topic v_p = normalize(w_a + 0.4 n), 1-3
    hashtags (Gumbel-top-k over 6 cos(v_p, h)), length ~ LogNormal(log median_type, sd_type),
    quality q_p = q_a + N(0, 0.4), virality r_p = 0.4 q_p + N(0, 0.7), published in the first hour
    of its day and eligible for `post_lifetime_days` days. Popularity at age x hours:
        pop_p(x) = r_p + s_p(day) + 0.5 * [log(1 - exp(-x / 3)) - ln2 * x / halflife_type]
    (rises over a few hours, decays with a type-dependent half-life) where the shock
    s_p(age day j) = 0.3 s_p(j-1) + 0.6 sqrt(1 - 0.09) e_j is volatile and short-lived.

A day of sessions
    Member m opens Poisson(a_m) sessions; platform ~ preference; hour ~ a fixed daily profile.
    Candidates: `candidates_per_session` eligible posts drawn without replacement (Gumbel-top-k)
    with score 2 follows(m, a) + 0.8 pop_p + cos(u_m, v_p) (own and already acted-on posts
    excluded).
    Truth, given examination, for session s (member m, platform f) and post p (type t):
        shared = 3 cos(u_m, v_p)                                      # personal interest
               + SEN_X_TYPE[seniority_m, t] + PLAT_X_TYPE[f, t]        # categorical crosses
               + 0.8 log(1 + #{history entries with author a_p})       # history affinity
               + 1.0 cos(v_p, mean topic of history posts)
               + 0.5 pop_p(x) + 0.5 q_p + 0.3 follows(m, a_p)
        P(click)         = sigmoid(b_click + shared + o_click[t])
        q_k(c)           = sigmoid(b_k + w_k shared + o_k[t] + 0.2 conn_m [k in comment, share]
                                   + lift_k[t] * c)        for k in like, comment, share, vote
        p_k              = P(click) q_k(1) + (1 - P(click)) q_k(0)        (vote: polls only)
        p_contribution   = P(click) [1 - prod_k (1 - q_k(1))]
                           + (1 - P(click)) [1 - prod_k (1 - q_k(0))]
    Sampling follows exactly this model: click first, then each contribution action independently
    given the click; so on articles a like mostly follows a click (lift 2.5).
    Production ranker: logit(p_contribution) + N(0, 1), top `served_per_session` served; a
    `random_bucket_share` of sessions gets its top-N shuffled uniformly. Any other ranker can
    serve instead (`spark.world.serving`): it scores a slate of every candidate, with the same
    draws for everything else.
    Scroll depth D = min(Geometric(0.2), N) >= 1: P(impressed at position i) = 0.8^i.
    Examination given impression: p_examine(i) = 0.95 (1 + i)^-0.5. Actions need examination.
    Dwell (impressed posts): examined ones are
        log dwell ~ N(log median_t + e_t log(length / median length_t) + plat_f - 0.03 i
                      + 0.25 * 3 cos(u_m, v_p) + boost_t click + 0.3 contributed, 0.6)
    and unexamined ones scroll past, log dwell ~ N(log 1.5, 0.4).
    After the day each member's history (last `history_length` actions, oldest first) gets that
    day's clicks and contributions, ordered by session, position and action.

Randomness, blocks and shards
    Members are grouped in blocks of `members_per_block` consecutive ids. Each kind of draw has
    its own generator `np.random.default_rng([seed, stream, *keys])` (`spark.world.sampling`),
    so draws never shift one another:
        global entities (topics, authors, the posts of day d):   keys = () or (d,)
        a block b's members (attributes, follows):               keys = (b,)
        block b on day d (drift, sessions, candidates, ranker, actions, dwell): keys = (d, b)
    A block's day therefore depends on the seed, the global entities, the authors' follower counts
    and the block's own member state (`spark.world.state`), never on which other blocks are
    simulated beside it. `simulate_blocks` is the one simulator kernel: it takes any run of whole
    blocks (a "shard"). `FeedWorld` (`spark.world.in_process`) runs it over all members in one
    process; `SparkWorld` (`spark.world.spark_world`) runs it in one task per shard. The tables
    are the same for any number of shards (rows come block by block), and with one shard
    byte-identical to `FeedWorld`'s. Ids are unique across blocks and days (`spark.world.ids`):
    session_id = d * 10^12 + b * 10^5 + i, post_id = d * 10^6 + i.

State
    The only state carried from day to day is the members' interaction history, kept with the
    (static) follow lists in the member state table; `FeedWorld` caches it per day in memory and,
    with `cache_dir`, on disk in the layout of `spark.world.state`, which the Spark generator
    shares. A day needs the state at the end of the day before, so missing days are computed first.

Where it lives: the constants are in `spark.world.behaviour`, the entities are drawn in
`spark.world.entities`, candidates in `spark.world.candidates`, and a block's day (sessions,
truth, ranker, actions, dwell, history) here; `spark.world.tables` builds its Arrow tables.
The ground-truth table keeps p_examine and the per-action probabilities for every served post;
`expected_top1_contributions` and `expected_session_contributions` (`spark.world.truth`) turn any
ranking of a session's served posts into the contributions it would earn in expectation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa

from spark.world.behaviour import (
    DWELL_CLICK_BOOST,
    DWELL_LENGTH_ELASTICITY,
    DWELL_MEDIAN_S,
    LENGTH_MEDIAN,
    PLATFORM_DWELL,
    RANKER_NOISE_SD,
    SCROLL_CONTINUE,
    position_curve,
)
from spark.world.candidates import draw_candidates
from spark.world.config import WorldConfig
from spark.world.context import WorldContext
from spark.world.entities import Members, Pool, Posts
from spark.world.products import product_block_tables
from spark.world.sampling import (
    STREAM_ACTIONS,
    STREAM_DWELL,
    STREAM_RANKER,
    normalize,
    random_stream,
    take_columns,
)
from spark.world.serving import Ranker, candidate_truth_table, ranker_scores, serve_top
from spark.world.sessions import Sessions, open_sessions
from spark.world.state import BlockState, History, split_blocks
from spark.world.tables import CandidateArrays, DayArrays, block_tables, sessions_table
from spark.world.truth import Truth, shared_logit, truth_given_examination


@dataclasses.dataclass(frozen=True)
class BlockDay:
    """One block's simulated day: its rows of `BLOCK_TABLES` and its state for the next day.

    `tables` is empty when the day was simulated only to advance the state.
    """

    block: int
    tables: dict[str, pa.Table]
    state: pa.Table


def initial_block_states(context: WorldContext, blocks: Iterable[int]) -> Iterator[pa.Table]:
    """The member state at the start of day 0 of each of `blocks`: follows, empty histories."""
    config = context.config
    for block in blocks:
        members = context.members(block)
        offsets, authors = context.follows(members, block)
        n = len(members.interest0)
        yield BlockState(
            member_id=members.first + np.arange(n, dtype=np.int64),
            follow_offsets=offsets,
            follow_authors=authors,
            history=History.empty(n, config.history_length),
        ).to_arrow()


def simulate_blocks(
    context: WorldContext,
    day: int,
    state: Iterable[pa.Table | pa.RecordBatch],
    author_log_followers: np.ndarray,
    emit_tables: bool = True,
    ranker: Ranker | None = None,
) -> Iterator[BlockDay]:
    """Simulate `day` for the blocks of `state`, one block at a time: the simulator kernel.

    Args:
        context: the world's global entities (`world_context(config)`).
        day: world day index.
        state: `spark.world.state.WORLD_STATE` rows at the start of `day`, whole blocks in member
            order, in any chunking (a table, or a Spark task's record batches).
        author_log_followers: log(1 + followers) of every author (`log_followers` over all
            members' follow lists): the only thing a block needs from other blocks.
        emit_tables: build the block's rows of `BLOCK_TABLES` (False: only advance the state).
        ranker: serve with this ranker instead of the production ranker
            (`spark.world.serving`); the block's tables then also hold `feed_candidate_truth`
            (`CANDIDATE_TRUTH`: every candidate's truth). None: the logged world.

    Yields:
        One `BlockDay` per block, in the order of `state`.
    """
    config = context.config
    if not 0 <= day < config.num_days:
        raise ValueError(
            f"`day` must be in [0, {config.num_days}) for this world. Received: day={day}"
        )
    if len(author_log_followers) != config.num_authors:
        raise ValueError(
            f"`author_log_followers` must have one value per author ({config.num_authors}). "
            f"Received: {len(author_log_followers)} values"
        )
    for block, rows in split_blocks(config, state):
        start = BlockState.from_arrow(rows, config.history_length)
        yield _simulate_block(
            context, day, block, start, author_log_followers, emit_tables or ranker is not None,
            ranker,
        )  # fmt: skip


def _simulate_block(
    context: WorldContext,
    day: int,
    block: int,
    start: BlockState,
    author_log_followers: np.ndarray,
    emit_tables: bool,
    ranker: Ranker | None = None,
) -> BlockDay:
    """One block's day, in the order of the model: sessions, candidates, truth, ranker, actions,
    dwell; then the history update and (with `emit_tables`) the block's tables."""
    c = context.config
    members = context.members(block)
    hist = start.history
    sessions = open_sessions(c, day, block, members)
    pool = context.pool(day)
    cand, all_truth = _candidates_and_truth(context, day, block, members, sessions, pool, start)
    production, uniform = _production_scores(c, day, block, all_truth.p_contribution)
    score = production
    if ranker is not None:
        slate = CandidateArrays(
            session_id=sessions.session_id,
            member=sessions.member,
            platform=sessions.platform,
            hour=sessions.hour,
            random_bucket=sessions.random_bucket,
            age_hours=pool.age_hours[sessions.hour[:, None], cand],
        )
        slate_rows = sessions_table(
            c.date_of(day), members, hist, pool.posts, slate, cand, production,
            author_log_followers,
        )  # fmt: skip
        score = ranker_scores(ranker, slate_rows, cand.shape)
    top = serve_top(score, sessions.random_bucket, c.served_per_session, uniform)
    ranker_score = take_columns(score, top)
    served, truth = take_columns(cand, top), all_truth.take(top)
    depth, examined, actions = _scroll_and_act(c, day, block, truth)
    dwell = _dwell(c, day, block, pool.posts, served, sessions.platform, truth, actions, examined)
    arrays = DayArrays(
        session_id=sessions.session_id,
        member=sessions.member,
        platform=sessions.platform,
        hour=sessions.hour,
        random_bucket=sessions.random_bucket,
        served=served,
        ranker_score=ranker_score,
        age_hours=pool.age_hours[sessions.hour[:, None], served],
        depth=depth,
        probs=truth.probs,
        p_contribution=truth.p_contribution,
        actions=actions,
        dwell=dwell,
    )
    end = dataclasses.replace(start, history=_history_after(hist, pool.posts, arrays))
    tables = (
        block_tables(c, day, members, hist, pool.posts, arrays, author_log_followers)
        if emit_tables
        else {}
    )
    if emit_tables and ranker is None:  # the Ads and Jobs products of the block's day
        tables.update(product_block_tables(context, day, block, members, sessions))
    if ranker is not None:
        tables["feed_candidate_truth"] = candidate_truth_table(
            c.date_of(day),
            sessions.session_id,
            pool.posts.post_id[cand],
            sessions.random_bucket,
            top,
            production,
            score,
            all_truth.probs,
            all_truth.p_contribution,
        )
    return BlockDay(block=block, tables=tables, state=end.to_arrow())


def _candidates_and_truth(
    context: WorldContext,
    day: int,
    block: int,
    members: Members,
    sessions: Sessions,
    pool: Pool,
    start: BlockState,
) -> tuple[np.ndarray, Truth]:
    """Each session's candidates (S, k pool indices) and their truth given examination."""
    interest = context.interest_on(members, block, day)
    cand, follows = draw_candidates(
        context.config, day, block, sessions.member, sessions.hour, pool, interest, start
    )
    hist = start.history
    hist_topic = normalize(context.topics_of(hist.post_id).sum(axis=1))
    shared, interest_term = shared_logit(
        context.topics, members, sessions, cand, follows, pool, interest, hist, hist_topic
    )
    conn_std = members.conn_std[sessions.member]
    return cand, truth_given_examination(shared, interest_term, pool.posts.ctype[cand], conn_std)


def _production_scores(
    config: WorldConfig, day: int, block: int, p_contribution: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The production ranker's scores of every candidate (noisy truth: logit(p_contribution) +
    N(0, `RANKER_NOISE_SD`²)) and the uniform draws (S, N) that shuffle the random bucket's top-N.

    Both come from the ranker stream in this order whichever ranker serves, so every ranker sees
    the same production scores and the same shuffle draws.
    """
    rng = random_stream(config.seed, STREAM_RANKER, day, block)
    logit = np.log(p_contribution) - np.log1p(-p_contribution)
    score = logit + RANKER_NOISE_SD * rng.standard_normal(logit.shape)
    uniform = rng.random((len(p_contribution), config.served_per_session))
    return score, uniform


def _scroll_and_act(
    config: WorldConfig, day: int, block: int, truth: Truth
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scroll depth, examination, then a click and each contribution action given the click.

    Returns depth (S,), examined (S, N) and actions (S, N, len(ACTIONS)) int8.
    """
    n_sess, n_served = len(truth.probs), config.served_per_session
    rng = random_stream(config.seed, STREAM_ACTIONS, day, block)
    curve = position_curve(config)
    depth = np.minimum(rng.geometric(1.0 - SCROLL_CONTINUE, size=n_sess), n_served)
    impressed = np.arange(n_served)[None, :] < depth[:, None]
    examined = impressed & (rng.random((n_sess, n_served)) < curve.p_examine[None, :])
    clicked = rng.random((n_sess, n_served)) < truth.probs[..., 0]
    q = np.where(clicked[..., None], truth.q1, truth.q0)
    contrib = rng.random(q.shape) < q
    actions = np.concatenate([clicked[..., None], contrib], axis=-1) & examined[..., None]
    return depth, examined, actions.astype(np.int8)


def _dwell(
    config: WorldConfig,
    day: int,
    block: int,
    posts: Posts,
    served: np.ndarray,
    platform: np.ndarray,
    truth: Truth,
    actions: np.ndarray,
    examined: np.ndarray,
) -> np.ndarray:
    """Dwell seconds of every served post: log-normal around the type's median when examined,
    a short scroll-past otherwise."""
    n_sess, n_served = served.shape
    rng = random_stream(config.seed, STREAM_DWELL, day, block)
    ctype = posts.ctype[served]
    log_mu = (
        np.log(DWELL_MEDIAN_S[ctype])
        + DWELL_LENGTH_ELASTICITY[ctype] * np.log(posts.length[served] / LENGTH_MEDIAN[ctype])
        + PLATFORM_DWELL[platform][:, None]
        - 0.03 * np.arange(n_served)[None, :]
        + 0.25 * truth.interest_term
        + DWELL_CLICK_BOOST[ctype] * actions[..., 0]
        + 0.3 * actions[..., 1:].max(axis=-1, initial=0)
    )
    noise = rng.standard_normal((2, n_sess, n_served))
    return np.where(examined, np.exp(log_mu + 0.6 * noise[0]), np.exp(np.log(1.5) + 0.4 * noise[1]))


def _history_after(hist: History, posts: Posts, arr: DayArrays) -> History:
    """The history with the day's actions appended, by session, position and action."""
    s_idx, pos, act = np.nonzero(arr.actions)
    post = arr.served[s_idx, pos]
    return hist.appended(
        arr.member[s_idx], posts.post_id[post], posts.author[post], act.astype(np.int8)
    )

"""Tests of the Jobs world: determinism, shard invariance, the log contract, truth kept apart,
the field-match behavioural model and the qualified-application rule."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from spark import schemas
from spark.world import FeedWorld, WorldConfig, WorldContext
from spark.world.ids import SESSION_ID_STRIDE
from spark.world.job_entities import (
    NUM_TITLES,
    TITLES_PER_FAMILY,
    Postings,
    Profiles,
    check_jobs_config,
    job_globals,
    live_postings,
    postings_of,
)
from spark.world.jobs import (
    APPLY_OVERREACH,
    APPLY_SKILL,
    APPLY_TITLE,
    APPLY_UNDERREACH,
    CLICK_AGE,
    CLICK_COUNTRY,
    CLICK_INDUSTRY,
    CLICK_QUERY,
    CLICK_SENIORITY_GAP,
    CLICK_SKILL,
    CLICK_TITLE,
    PairFeatures,
    is_qualified,
    job_postings_table,
    job_truth,
    jobs_block_tables,
    pair_features,
    truth_logits,
)
from spark.world.state import num_blocks

TINY = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=3)
# more job sessions per member: enough impressed rows for the statistical checks
BUSY = dataclasses.replace(TINY, mean_job_sessions_per_member=6.0)
BLOCK_TABLE_SCHEMAS = {
    "member_profiles": schemas.MEMBER_PROFILES,
    "job_impressions": schemas.JOB_IMPRESSIONS,
    "jobs_ground_truth": schemas.JOBS_GROUND_TRUTH,
}


def _clear_caches() -> None:
    for cached in (job_globals, postings_of, live_postings):
        cached.cache_clear()


def _block(context: WorldContext, day: int, block: int) -> dict[str, pa.Table]:
    members = context.members(block)
    return jobs_block_tables(context, day, block, members, context.interest_on(members, block, day))


def _world(config: WorldConfig) -> dict[int, dict[str, pa.Table]]:
    """Every day's tables, blocks concatenated in order, postings included."""
    context = WorldContext(config)
    out = {}
    for day in range(config.num_days):
        blocks = [_block(context, day, b) for b in range(num_blocks(config))]
        out[day] = {
            name: pa.concat_tables([t[name] for t in blocks]) for name in BLOCK_TABLE_SCHEMAS
        }
        out[day]["job_postings"] = job_postings_table(config, day)
    return out


@pytest.fixture(scope="module")
def tiny() -> dict[int, dict[str, pa.Table]]:
    return _world(TINY)


@pytest.fixture(scope="module")
def busy() -> pd.DataFrame:
    """BUSY's impressions of all days joined with their ground truth."""
    frames = []
    for tables in _world(BUSY).values():
        imp = tables["job_impressions"].to_pandas()
        truth = tables["jobs_ground_truth"].to_pandas().drop(columns=["date"])
        frames.append(imp.merge(truth, on=["session_id", "position", "job_id"], how="left"))
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------- determinism, shards


def test_same_config_gives_identical_tables(tiny: dict[int, dict[str, pa.Table]]) -> None:
    _clear_caches()
    again = _world(TINY)
    for day, tables in tiny.items():
        for name, table in tables.items():
            assert table.equals(again[day][name]), (day, name)


def test_a_block_does_not_depend_on_other_blocks(tiny: dict[int, dict[str, pa.Table]]) -> None:
    _clear_caches()
    alone = _block(WorldContext(TINY), 2, 1)  # block 1 only, fresh caches
    rows = TINY.members_per_block
    assert alone["member_profiles"].equals(tiny[2]["member_profiles"].slice(rows, rows))
    for name in ("job_impressions", "jobs_ground_truth"):
        full = tiny[2][name].to_pandas()
        block_ids = alone[name].to_pandas()["session_id"]
        part = full[full["session_id"].isin(set(block_ids))].reset_index(drop=True)
        assert len(part) > 0
        pd.testing.assert_frame_equal(alone[name].to_pandas(), part)


def test_a_block_is_the_same_in_another_process(tmp_path, tiny) -> None:
    path = tmp_path / "block1.arrow"
    code = (
        "import pyarrow as pa, dataclasses, datetime as dt\n"
        "from spark.world import WorldConfig, WorldContext\n"
        "from spark.world.jobs import jobs_block_tables\n"
        "c = WorldConfig(num_members=300, num_authors=60, posts_per_day=100, num_days=3)\n"
        "ctx = WorldContext(c); m = ctx.members(1)\n"
        "t = jobs_block_tables(ctx, 1, 1, m, ctx.interest_on(m, 1, 1))['job_impressions']\n"
        f"with pa.OSFile({str(path)!r}, 'wb') as f:\n"
        "    w = pa.ipc.new_file(f, t.schema); w.write_table(t); w.close()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    other = pa.ipc.open_file(str(path)).read_all()
    here = _block(WorldContext(TINY), 1, 1)["job_impressions"]
    assert other.num_rows > 0
    assert other.equals(here)


# ------------------------------------------------------------------------------- contract


def test_tables_match_the_log_contract(tiny: dict[int, dict[str, pa.Table]]) -> None:
    for tables in tiny.values():
        assert tables["job_postings"].schema.equals(schemas.JOB_POSTINGS)
        for name, schema in BLOCK_TABLE_SCHEMAS.items():
            assert tables[name].schema.equals(schema), name
            assert tables[name].num_rows > 0
    assert set(BLOCK_TABLE_SCHEMAS) | {"job_postings"} == set(
        schemas.PRODUCT_RAW_TABLES["jobs"]
    ) | {schemas.PRODUCT_GROUND_TRUTH["jobs"][0]}


def test_no_sessions_give_empty_tables_with_the_schema() -> None:
    config = dataclasses.replace(TINY, mean_job_sessions_per_member=0.0)
    tables = _block(WorldContext(config), 0, 0)
    for name, schema in BLOCK_TABLE_SCHEMAS.items():
        assert tables[name].schema.equals(schema), name
    assert tables["job_impressions"].num_rows == 0
    assert tables["jobs_ground_truth"].num_rows == 0
    assert tables["member_profiles"].num_rows == TINY.members_per_block


def test_postings_are_created_daily_with_valid_fields(tiny) -> None:
    for day, tables in tiny.items():
        post = tables["job_postings"].to_pandas()
        assert len(post) == TINY.jobs_per_day
        assert (post["date"] == TINY.date_of(day)).all()
        assert post["job_id"].is_unique
        counts = post["skill_ids"].map(len)
        assert counts.between(1, 5).all()
        assert post["skill_ids"].map(lambda s: len(set(s)) == len(s)).all()
        assert post["seniority"].between(0, 4).all()
        assert post["title_id"].between(0, NUM_TITLES - 1).all()
        assert post["company_id"].between(0, TINY.num_companies - 1).all()
    industry = job_globals(TINY).companies.industry
    post = tiny[0]["job_postings"].to_pandas()
    assert (post["industry"] == industry[post["company_id"]]).all()
    # mostly a title of the company's family
    assert (post["title_id"] // TITLES_PER_FAMILY == post["industry"]).mean() > 0.75


def test_job_session_ids_are_above_feed_ids_and_unique(tiny) -> None:
    feed = FeedWorld(TINY).simulate_day(0).feed_sessions.column("session_id").to_numpy()
    ids = np.concatenate(
        [
            t["job_impressions"].to_pandas().drop_duplicates("session_id")["session_id"]
            for t in tiny.values()
        ]
    )
    assert ids.min() > feed.max()
    assert ids.min() > TINY.num_days * SESSION_ID_STRIDE  # above every feed id of any day
    assert len(np.unique(ids)) == len(ids)


def test_served_jobs_are_live_that_day(tiny) -> None:
    created = pd.concat([t["job_postings"].to_pandas() for t in tiny.values()])
    created = created.set_index("job_id")["date"]
    for day, tables in tiny.items():
        served = tables["job_impressions"].to_pandas()["job_id"]
        assert served.isin(created.index).all()
        age = (pd.Timestamp(TINY.date_of(day)) - pd.to_datetime(created[served])).dt.days
        assert age.between(0, TINY.job_lifetime_days - 1).all()


def test_profiles_agree_with_members(tiny) -> None:
    context = WorldContext(TINY)
    profiles = tiny[1]["member_profiles"].to_pandas()
    assert profiles["member_id"].tolist() == list(range(TINY.num_members))
    members = [context.members(b) for b in range(num_blocks(TINY))]
    for field in ("seniority", "industry", "country"):
        expected = np.concatenate([getattr(m, field) for m in members])
        np.testing.assert_array_equal(profiles[field].to_numpy(), expected)
    # static: the same profile every day, only the snapshot date moves
    day0 = tiny[0]["member_profiles"].to_pandas().drop(columns="date")
    pd.testing.assert_frame_equal(day0, profiles.drop(columns="date"))
    assert (profiles["title_id"] // TITLES_PER_FAMILY == profiles["industry"]).all()
    assert profiles["skill_ids"].map(len).between(3, 8).all()
    company_industry = job_globals(TINY).companies.industry[profiles["company_id"]]
    assert (company_industry == profiles["industry"]).mean() > 0.95


def test_sessions_have_a_channel_and_a_query_of_the_members_family(tiny) -> None:
    imp = tiny[0]["job_impressions"].to_pandas()
    profiles = tiny[0]["member_profiles"].to_pandas().set_index("member_id")
    assert set(imp["channel"]) == set(schemas.JOB_CHANNELS)
    search = imp[imp["channel"] == "search"]
    assert (imp.loc[imp["channel"] == "jymbii", "query_title_id"] == -1).all()
    family = profiles.loc[search["member_id"], "industry"].to_numpy()
    assert (search["query_title_id"].to_numpy() // TITLES_PER_FAMILY == family).all()
    by_session = imp.groupby("session_id")[["channel", "member_id", "hour", "platform"]]
    assert (by_session.nunique() == 1).all().all()


# ----------------------------------------------------------------------------- ranker


def test_served_jobs_are_in_ranker_order(tiny) -> None:
    for tables in tiny.values():
        imp = tables["job_impressions"].to_pandas()
        n = TINY.jobs_served_per_session
        assert (imp.groupby("session_id").size() == n).all()
        assert (imp["position"].to_numpy() == np.tile(np.arange(n), len(imp) // n)).all()
        assert imp["session_id"].is_monotonic_increasing
        score = imp["ranker_score"].to_numpy().reshape(-1, n)
        assert (np.diff(score, axis=1) <= 0).all()
        assert imp.groupby("session_id")["job_id"].nunique().eq(n).all()


# ------------------------------------------------------------------- truth kept apart


def test_impressions_hold_no_truth(tiny) -> None:
    names = tiny[0]["job_impressions"].schema.names
    assert not [n for n in names if n.startswith("p_")]


def test_actions_follow_the_funnel(busy: pd.DataFrame) -> None:
    assert (busy["apply"] <= busy["click"]).all()
    assert (busy["qualified_apply"] <= busy["apply"]).all()
    not_impressed = busy[~busy["impressed"]]
    assert (not_impressed[["click", "apply", "qualified_apply"]] == 0).all().all()
    # impressions are a prefix of the served list: position 0 always impressed
    assert busy.loc[busy["position"] == 0, "impressed"].all()
    first_gap = busy.groupby("session_id")["impressed"].apply(lambda s: s.is_monotonic_decreasing)
    assert first_gap.all()


@pytest.mark.parametrize(
    ("action", "truth"),
    [("click", "p_click"), ("apply", "p_apply"), ("qualified_apply", "p_qualified_apply")],
)
def test_logged_actions_match_the_truth(busy: pd.DataFrame, action: str, truth: str) -> None:
    imp = busy[busy["impressed"]]
    expected = (imp["p_examine"] * imp[truth]).to_numpy(dtype=float)
    observed = imp[action].to_numpy(dtype=float)
    se = np.sqrt((expected * (1 - expected)).sum()) / len(imp)
    assert len(imp) > 15_000
    assert abs(observed.mean() - expected.mean()) < 4 * se
    assert observed.sum() > 200


def test_truth_probabilities_are_consistent(busy: pd.DataFrame) -> None:
    assert busy[["p_examine", "p_click", "p_apply"]].gt(0).all().all()
    assert busy[["p_examine", "p_click", "p_apply"]].lt(1).all().all()
    assert (busy["p_apply"] <= busy["p_click"]).all()
    qualified = busy["p_qualified_apply"] > 0
    assert np.allclose(busy.loc[qualified, "p_qualified_apply"], busy.loc[qualified, "p_apply"])
    assert (busy.loc[busy["qualified_apply"] == 1].index.isin(busy.index[qualified])).all()
    assert np.allclose(busy["p_examine"], 0.95 * (1 + busy["position"]) ** -0.5)


def test_qualified_apply_is_the_rule_on_the_logged_tables(tiny) -> None:
    """Recompute qualification from the raw postings and profiles tables alone."""
    day = 2
    imp = tiny[day]["job_impressions"].to_pandas()
    truth = tiny[day]["jobs_ground_truth"].to_pandas()
    posts = pd.concat([t["job_postings"].to_pandas() for t in tiny.values()])
    posts = posts.set_index("job_id").loc[imp["job_id"]]
    prof = tiny[day]["member_profiles"].to_pandas().set_index("member_id").loc[imp["member_id"]]

    def padded(lists: pd.Series, width: int) -> np.ndarray:
        return np.array([list(s) + [-1] * (width - len(s)) for s in lists])

    qualified = is_qualified(
        prof["seniority"].to_numpy(),
        padded(prof["skill_ids"], 8),
        posts["seniority"].to_numpy(),
        padded(posts["skill_ids"], 5),
    )
    assert 0.1 < qualified.mean() < 0.95
    np.testing.assert_array_equal(imp["qualified_apply"], imp["apply"] * qualified)
    np.testing.assert_array_equal(truth["p_qualified_apply"] > 0, qualified)


# ------------------------------------------------------------------ the field-match model


def _features(**overrides: float) -> PairFeatures:
    base = {
        "cos_member": 0.0,
        "cos_query": 0.0,
        "skill_overlap": 0.0,
        "industry_match": 0.0,
        "country_match": 0.0,
        "member_seniority": 2.0,
        "job_seniority": 2.0,
        "attractiveness": 0.0,
        "age_days": 0.0,
        "log_intent": 0.0,
    }
    base.update(overrides)
    return PairFeatures(**{k: np.array([v]) for k, v in base.items()})


@pytest.mark.parametrize(
    ("change", "click_delta", "apply_delta"),
    [
        ({"cos_member": 1.0}, CLICK_TITLE, APPLY_TITLE),
        ({"cos_query": 1.0}, CLICK_QUERY, 0.0),
        ({"skill_overlap": 1.0}, CLICK_SKILL, APPLY_SKILL),
        ({"industry_match": 1.0}, CLICK_INDUSTRY, 0.0),
        ({"country_match": 1.0}, CLICK_COUNTRY, 0.0),
        ({"job_seniority": 3.0}, -CLICK_SENIORITY_GAP, -APPLY_OVERREACH),
        ({"job_seniority": 4.0}, -2 * CLICK_SENIORITY_GAP, -2 * APPLY_OVERREACH),
        ({"job_seniority": 1.0}, -CLICK_SENIORITY_GAP, -APPLY_UNDERREACH),
        ({"attractiveness": 0.7}, 0.7, 0.0),
        ({"age_days": 3.0}, -3 * CLICK_AGE, 0.0),
        ({"log_intent": 1.0}, 0.0, 0.5),
    ],
)
def test_each_field_moves_the_logits_as_documented(
    change: dict[str, float], click_delta: float, apply_delta: float
) -> None:
    click0, apply0 = truth_logits(_features())
    click1, apply1 = truth_logits(_features(**change))
    np.testing.assert_allclose(click1 - click0, click_delta, atol=1e-12)
    np.testing.assert_allclose(apply1 - apply0, apply_delta, atol=1e-12)
    # the documented direction, on the probabilities too
    p0, q0 = job_truth(_features())
    p1, q1 = job_truth(_features(**change))
    assert np.sign(p1 - p0) == np.sign(click_delta)
    assert np.sign(q1 - q0) == np.sign(apply_delta)


def test_a_title_match_raises_p_click_from_raw_ids() -> None:
    """Same member, two postings equal in every field but the title: its own title wins."""
    g = job_globals(TINY)
    cos = g.taxonomy.title_cos
    other = int(np.argmin(cos[0]))  # the least similar title
    assert cos[0, other] < 0.5
    profiles = Profiles(
        first=0,
        title=np.array([0]),
        skills=np.array([[1, 2, 3, -1, -1, -1, -1, -1]]),
        company=np.array([0]),
        seniority=np.array([2]),
        industry=np.array([0]),
        country=np.array([0]),
        intent=np.array([1.0]),
    )
    postings = Postings(
        job_id=np.array([0, 1]),
        created=np.array([0, 0]),
        company=np.array([0, 0]),
        title=np.array([0, other]),
        skills=np.array([[1, 2, 9, -1, -1], [1, 2, 9, -1, -1]]),
        industry=np.array([0, 0]),
        seniority=np.array([2, 2]),
        country=np.array([0, 0]),
    )
    f = pair_features(
        g, profiles, np.array([0, 0]), np.array([-1, 0]), postings, np.array([[0, 1]] * 2), 1
    )
    np.testing.assert_allclose(f.skill_overlap, 2 / 3)
    np.testing.assert_allclose(f.cos_member[:, 0], 1.0)
    np.testing.assert_allclose(f.cos_query[0], 0.0)  # JYMBII: no query term
    np.testing.assert_allclose(f.cos_query[1], [1.0, cos[0, other]])
    np.testing.assert_allclose(f.age_days, 1.0)
    p_click, q = job_truth(f)
    assert (p_click[:, 0] > p_click[:, 1]).all()
    assert (q[:, 0] > q[:, 1]).all()
    # the search session's query adds a second title term on top of the member's
    assert p_click[1, 0] > p_click[0, 0]
    click, _ = truth_logits(f)
    np.testing.assert_allclose(click[0, 0] - click[0, 1], CLICK_TITLE * (1 - cos[0, other]))


def test_logged_clicks_favour_title_matches(busy: pd.DataFrame) -> None:
    """In the logs, the probability of a click given examination is higher when the posting's
    title is the member's own."""
    profiles = _world_profiles(BUSY)
    posts = pd.concat([job_postings_table(BUSY, d).to_pandas() for d in range(BUSY.num_days)])
    title_j = posts.set_index("job_id").loc[busy["job_id"], "title_id"].to_numpy()
    title_m = profiles.loc[busy["member_id"], "title_id"].to_numpy()
    same = title_j == title_m
    assert 0.05 < same.mean() < 0.95
    assert busy.loc[same, "p_click"].mean() > busy.loc[~same, "p_click"].mean() + 0.02


def _world_profiles(config: WorldConfig) -> pd.DataFrame:
    context = WorldContext(config)
    return pd.concat(
        [_block(context, 0, b)["member_profiles"].to_pandas() for b in range(num_blocks(config))]
    ).set_index("member_id")


# ----------------------------------------------------------------------- qualification


@pytest.mark.parametrize(
    ("sen_m", "sen_j", "member_skills", "job_skills", "expected"),
    [
        (2, 3, [1, 2, -1], [1, 2, -1, -1], True),  # |Δsen| = 1, all skills
        (2, 4, [1, 2, -1], [1, 2, -1, -1], False),  # |Δsen| = 2
        (3, 2, [1, 2, -1], [1, 2, -1, -1], True),  # one level below is fine too
        (3, 1, [1, 2, -1], [1, 2, -1, -1], False),
        (2, 2, [1, 3, -1], [1, 2, 3, 4], True),  # exactly half of 4
        (2, 2, [1, 5, -1], [1, 2, 3, 4], False),  # 1 of 4, below half
        (2, 2, [5, 6, -1], [1, 2, 3, 4], False),  # none of 4
        (2, 2, [1, 7, 8], [1, 2, 3, -1], False),  # 1 of 3 < ceil(3/2) = 2
        (2, 2, [1, 2, 8], [1, 2, 3, -1], True),  # 2 of 3
        (2, 2, [9, 8, 7], [9, -1, -1, -1], True),  # 1 of 1
        (2, 2, [-1, -1, -1], [9, -1, -1, -1], False),  # no skills
    ],
)
def test_is_qualified_on_hand_made_cases(
    sen_m: int, sen_j: int, member_skills: list[int], job_skills: list[int], expected: bool
) -> None:
    out = is_qualified(
        np.array([sen_m]), np.array([member_skills]), np.array([sen_j]), np.array([job_skills])
    )
    assert out.tolist() == [expected]


def test_is_qualified_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        is_qualified(np.array([1, 2]), np.zeros((2, 3)), np.array([1]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="member_skills.*shape"):
        is_qualified(np.array([1]), np.zeros(3), np.array([1]), np.zeros((1, 3)))
    with pytest.raises(ValueError, match="below -1"):
        is_qualified(np.array([1]), np.array([[-2, 1]]), np.array([1]), np.array([[1, -1]]))
    with pytest.raises(ValueError, match="repeats a skill"):
        is_qualified(np.array([1]), np.array([[1, 2]]), np.array([1]), np.array([[3, 3]]))


def test_config_and_block_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="jobs_per_day=50, job_candidates=60"):
        check_jobs_config(dataclasses.replace(TINY, jobs_per_day=50))
    context = WorldContext(TINY)
    members = context.members(0)
    with pytest.raises(ValueError, match="block 1's members"):
        jobs_block_tables(context, 0, 1, members, np.zeros((TINY.members_per_block, 12)))
    with pytest.raises(ValueError, match="`day` must be in"):
        jobs_block_tables(context, 3, 0, members, np.zeros((TINY.members_per_block, 12)))
    with pytest.raises(ValueError, match="`interest` must have one row per member"):
        jobs_block_tables(context, 0, 0, members, np.zeros((3, 12)))

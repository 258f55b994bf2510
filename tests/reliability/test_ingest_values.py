"""Value rules at ingest (issue 11 item 1): each bad value either quarantines the day with an error
naming file, table, column, rule and count, leaving earlier written data byte-identical, or, under
the `drop_rows` policy, is dropped and counted per rule."""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import materialize

from lirank_assets.assets.world import build_raw_log_assets
from lirank_assets.partitions import DailyCalendar
from lirank_assets.resources import CheckedTable, DataRoot, FileLogs, SparkResource
from lirank_assets.settings import WORLD_PRESETS
from spark.ingest import (
    IMPRESSIONS_OF_DROPPED_SESSIONS,
    QUARANTINE_DIR,
    QuarantinedPartitionError,
    check_value_policy,
    validate_raw_day,
)
from spark.log_rules import RULES_BY_NAME, VALUE_RULES, _invalid_utf8, rule_violations
from spark.schemas import RAW_TABLES
from spark.storage import partition_dir
from spark.world import FeedWorld

GOOD_DAY = dt.date(2026, 1, 1)
DAY = dt.date(2026, 1, 2)
Rows = dict[str, list[dict]]


def _served(session: int) -> list[dict]:
    return [
        {
            "post_id": 100 + 3 * session + position,
            "position": position,
            "author_id": 50 + position,
            "content_type": "image",
            "hashtag_ids": [position, 7],
            "length": 20.0 + position,
            "post_age_hours": 3.5,
            "author_log_followers": 4.0,
            "ranker_score": -0.5 + position,
        }
        for position in range(3)
    ]


def valid_rows(date: dt.date = DAY) -> Rows:
    """Three sessions (ids 10..12, members 0..2) serving 3 posts each, 2 impressed per session."""
    history = {"hist_post_ids": [5, 6], "hist_author_ids": [50, 51], "hist_actions": [0, 4]}
    sessions = [
        {
            "date": date,
            "session_id": 10 + s,
            "member_id": s,
            "platform": ["web", "ios", "android"][s],
            "hour": 8 + s,
            "random_bucket": s == 0,
            "member_seniority": s,
            "member_industry": 2,
            "member_country": 1,
            "member_log_connections": 3.0,
            **history,
            "served": _served(s),
        }
        for s in range(3)
    ]
    impressions = [
        {
            "date": date,
            "session_id": 10 + s,
            "member_id": s,
            "post_id": 100 + 3 * s + position,
            "position": position,
            "click": position,
            "like": 0,
            "comment": 0,
            "share": 0,
            "vote": 1 - position,
            "dwell_seconds": 2.5 + s + position,
        }
        for s in range(3)
        for position in range(2)
    ]
    posts = [
        {
            "date": date,
            "post_id": 200 + p,
            "author_id": 50,
            "content_type": "video",
            "hashtag_ids": [p],
            "length": 30.0,
        }
        for p in range(3)
    ]
    members = [
        {
            "date": date,
            "member_id": m,
            "seniority": 1,
            "industry": 2,
            "country": 3,
            "log_connections": 2.0,
            **history,
        }
        for m in range(3)
    ]
    return {
        "feed_sessions": sessions,
        "feed_impressions": impressions,
        "posts": posts,
        "members": members,
    }


def _binary(type_: pa.DataType) -> pa.DataType:
    """`type_` with every string replaced by binary (to build invalid UTF-8 from bytes)."""
    if pa.types.is_string(type_):
        return pa.binary()
    if pa.types.is_list(type_):
        return pa.list_(_binary(type_.value_type))
    if pa.types.is_struct(type_):
        return pa.struct([(field.name, _binary(field.type)) for field in type_])
    return type_


def arrow_table(rows: list[dict], table: str) -> pa.Table:
    """Rows as the raw table; string values may be `bytes` (kept as is, even if not UTF-8)."""
    schema = RAW_TABLES[table]
    raw = pa.Table.from_pylist(rows, schema=pa.schema([(f.name, _binary(f.type)) for f in schema]))
    return pa.Table.from_arrays(
        [raw.column(f.name).combine_chunks().view(f.type) for f in schema], schema=schema
    )


def write_logs(logs: Path, rows: Rows, date: dt.date = DAY) -> None:
    for table, table_rows in rows.items():
        path = partition_dir(logs, table, date)
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow_table(table_rows, table), path / "part-0.parquet")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def world(tmp_path):
    """FileLogs over `logs/`, with GOOD_DAY already written to the data root."""
    logs, root = tmp_path / "logs", tmp_path / "data"
    write_logs(logs, valid_rows(GOOD_DAY), GOOD_DAY)

    def source(**policy: str) -> FileLogs:
        return FileLogs(data_root=DataRoot(path=str(root)), path=str(logs), value_policy=policy)

    written = source().write_day(None, GOOD_DAY)
    assert [table.rows for table in written] == [3, 6, 3, 3]
    return logs, root, source


# ------------------------------------------------------------------------------ corruptions


def _set(table: str, row: int, **values) -> Callable[[Rows], None]:
    def corrupt(rows: Rows) -> None:
        rows[table][row].update(values)

    return corrupt


def _set_served(row: int, entry: int, **values) -> Callable[[Rows], None]:
    def corrupt(rows: Rows) -> None:
        rows["feed_sessions"][row]["served"][entry].update(values)

    return corrupt


def _duplicate(table: str, row: int) -> Callable[[Rows], None]:
    def corrupt(rows: Rows) -> None:
        rows[table].append(copy.deepcopy(rows[table][row]))

    return corrupt


NAN, INF = math.nan, math.inf
IMP, SES = "feed_impressions", "feed_sessions"

# (case id, corruption, table at fault, column, rule, bad rows, text of a sample)
CASES = [
    (
        "negative_dwell",
        _set(IMP, 1, dwell_seconds=-3.0),
        IMP,
        "dwell_seconds",
        "dwell_range",
        1,
        "-3.0",
    ),
    ("nan_dwell", _set(IMP, 1, dwell_seconds=NAN), IMP, "dwell_seconds", "finite", 1, "nan"),
    ("inf_dwell", _set(IMP, 2, dwell_seconds=INF), IMP, "dwell_seconds", "finite", 1, "inf"),
    (
        "dwell_over_a_day",
        _set(IMP, 2, dwell_seconds=1e6),
        IMP,
        "dwell_seconds",
        "dwell_range",
        1,
        "",
    ),
    ("click_count", _set(IMP, 0, click=2), IMP, "click", "domain_0_1", 1, "click=2"),
    ("like_count", _set(IMP, 3, like=5), IMP, "like", "domain_0_1", 1, "like=5"),
    ("vote_negative", _set(IMP, 3, vote=-1), IMP, "vote", "domain_0_1", 1, "vote=-1"),
    ("position_negative", _set(IMP, 0, position=-5), IMP, "position", "position_range", 1, "-5"),
    (
        "position_huge",
        _set(IMP, 0, position=100000),
        IMP,
        "position",
        "position_range",
        1,
        "100000",
    ),
    ("duplicate_impression", _duplicate(IMP, 4), IMP, "session_id,post_id", "unique", 2, ""),
    ("negative_post_id", _set(IMP, 1, post_id=-1), IMP, "post_id", "id_range", 1, "post_id=-1"),
    ("huge_member_id", _set(IMP, 1, member_id=2**62 + 1), IMP, "member_id", "id_range", 1, ""),
    (
        "null_impression_session",
        _set(IMP, 5, session_id=None),
        IMP,
        "session_id",
        "not_null",
        1,
        "",
    ),
    ("null_label", _set(IMP, 5, share=None), IMP, "share", "not_null", 1, "share=None"),
    (
        "orphan_impression",
        _set(IMP, 5, session_id=99),
        IMP,
        "session_id",
        "session_exists",
        1,
        "99",
    ),
    ("member_mismatch", _set(IMP, 0, member_id=2), IMP, "member_id", "matches_session", 1, ""),
    ("post_not_served", _set(IMP, 0, post_id=109), IMP, "position", "matches_served", 1, ""),
    ("wrong_position", _set(IMP, 0, position=2), IMP, "position", "matches_served", 1, ""),
    ("null_session_id", _set(SES, 1, session_id=None), SES, "session_id", "not_null", 1, ""),
    (
        "duplicate_session",
        _set(SES, 1, session_id=10, member_id=0),
        SES,
        "session_id",
        "unique",
        2,
        "",
    ),
    ("negative_member", _set(SES, 2, member_id=-7), SES, "member_id", "id_range", 1, "-7"),
    ("hour_24", _set(SES, 0, hour=24), SES, "hour", "hour_range", 1, "hour=24"),
    (
        "negative_seniority",
        _set(SES, 0, member_seniority=-1),
        SES,
        "member_seniority",
        "non_negative",
        1,
        "",
    ),
    (
        "inf_connections",
        _set(SES, 0, member_log_connections=INF),
        SES,
        "member_log_connections",
        "finite",
        1,
        "inf",
    ),
    (
        "platform_not_utf8",
        _set(SES, 1, platform=b"w\xffb"),
        SES,
        "platform",
        "valid_utf8",
        1,
        "\\xff",
    ),
    (
        "platform_huge",
        _set(SES, 1, platform="x" * 1_000_000),
        SES,
        "platform",
        "byte_length",
        1,
        "1000000 bytes",
    ),
    ("platform_empty", _set(SES, 1, platform=""), SES, "platform", "byte_length", 1, "platform=''"),
    ("platform_null", _set(SES, 1, platform=None), SES, "platform", "not_null", 1, ""),
    (
        "hist_action_out_of_range",
        _set(SES, 0, hist_actions=[0, 5]),
        SES,
        "hist_actions[]",
        "action_index",
        1,
        "[0, 5]",
    ),
    (
        "hist_lengths_differ",
        _set(SES, 0, hist_author_ids=[50]),
        SES,
        "hist_post_ids,hist_author_ids,hist_actions",
        "same_length",
        1,
        "len(hist_author_ids)=1",
    ),
    (
        "served_too_long",
        _set(
            SES,
            0,
            served=_served(0)[:2] + [_served(0)[2] | {"position": p} for p in range(2, 1001)],
        ),
        SES,
        "served",
        "max_length",
        1,
        "len(served)=1001",
    ),
    (
        "served_position_outside_list",
        _set_served(0, 2, position=3),
        SES,
        "served[].position",
        "in_served_list",
        1,
        "[0, 1, 3]",
    ),
    (
        "served_position_repeated",
        _set_served(2, 2, position=1),
        SES,
        "served[].position",
        "unique_in_session",
        1,
        "",
    ),
    (
        "served_ranker_score_inf",
        _set_served(0, 1, ranker_score=-INF),
        SES,
        "served[].ranker_score",
        "finite",
        1,
        "-inf",
    ),
    ("served_length_nan", _set_served(1, 0, length=NAN), SES, "served[].length", "finite", 1, ""),
    (
        "served_post_age_negative",
        _set_served(1, 0, post_age_hours=-2.0),
        SES,
        "served[].post_age_hours",
        "non_negative",
        1,
        "",
    ),
    (
        "served_followers_nan",
        _set_served(1, 2, author_log_followers=NAN),
        SES,
        "served[].author_log_followers",
        "finite",
        1,
        "",
    ),
    (
        "served_content_type_not_utf8",
        _set_served(2, 0, content_type=b"\xc3("),
        SES,
        "served[].content_type",
        "valid_utf8",
        1,
        "\\xc3",
    ),
    (
        "served_hashtag_negative",
        _set_served(2, 0, hashtag_ids=[-4]),
        SES,
        "served[].hashtag_ids[]",
        "non_negative",
        1,
        "",
    ),
    ("post_length_inf", _set("posts", 0, length=INF), "posts", "length", "finite", 1, "inf"),
    (
        "post_content_type_empty",
        _set("posts", 1, content_type=""),
        "posts",
        "content_type",
        "byte_length",
        1,
        "",
    ),
    (
        "post_hashtag_negative",
        _set("posts", 2, hashtag_ids=[1, -1]),
        "posts",
        "hashtag_ids[]",
        "non_negative",
        1,
        "",
    ),
    ("duplicate_post", _set("posts", 2, post_id=200), "posts", "post_id", "unique", 2, ""),
    (
        "member_log_connections_nan",
        _set("members", 1, log_connections=NAN),
        "members",
        "log_connections",
        "finite",
        1,
        "",
    ),
    ("duplicate_member", _duplicate("members", 0), "members", "member_id", "unique", 2, ""),
    (
        "member_country_negative",
        _set("members", 0, country=-3),
        "members",
        "country",
        "non_negative",
        1,
        "",
    ),
]


@pytest.mark.parametrize(
    ("corrupt", "table", "column", "check", "count", "sample"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_bad_value_quarantines_the_day_and_changes_nothing(
    world, corrupt, table, column, check, count, sample
):
    logs, root, source = world
    rows = valid_rows()
    corrupt(rows)
    write_logs(logs, rows)
    before = _files(root)
    partition = partition_dir(logs, table, DAY)
    original = (partition / "part-0.parquet").read_bytes()
    with pytest.raises(QuarantinedPartitionError) as info:
        source().write_day(None, DAY)
    message = str(info.value)
    rule = f"{table}.{column}.{check}"
    assert rule in RULES_BY_NAME
    assert f"{partition} (`{table}`, value_policy quarantine)" in message
    assert f"rule `{rule}`: {count} of {len(rows[table])} rows (part-0.parquet: {count})" in message
    assert "part-0.parquet row" in message and sample in message
    assert f"What to do: {RULES_BY_NAME[rule].fix}" in message
    assert "nothing was written for this day" in message
    target = logs / QUARANTINE_DIR / table / f"date={DAY.isoformat()}"
    assert (partition, target) in info.value.moves
    assert not partition.exists() and (target / "part-0.parquet").read_bytes() == original
    assert _files(root) == before  # the earlier day's written partitions are byte-identical
    assert not partition_dir(root / "raw", table, DAY).exists()


def test_every_rule_case_is_tested_once_per_kind():
    tested = {f"{case[2]}.{case[3]}.{case[4]}" for case in CASES}
    checks = {name.rsplit(".", 1)[1] for name in RULES_BY_NAME}
    assert {name.rsplit(".", 1)[1] for name in tested} == checks
    assert len(RULES_BY_NAME) == sum(len(rules) for rules in VALUE_RULES.values())
    for rule in RULES_BY_NAME.values():
        assert rule.description and rule.fix and rule.table in RAW_TABLES


def test_a_valid_day_passes_unchanged_with_an_empty_report(world):
    logs, root, source = world
    write_logs(logs, valid_rows())
    written = source().write_day(None, DAY)
    for table in written:
        assert isinstance(table, CheckedTable)
        assert pq.read_table(table.path).equals(arrow_table(valid_rows()[table.name], table.name))
        metadata = table.value_metadata()
        assert (metadata["dropped_rows"], metadata["value_policy"]) == (0, "quarantine")
        assert metadata["value_rules"].data == {}


def test_the_simulated_world_passes_every_rule(tmp_path):
    world = FeedWorld(WORLD_PRESETS["tiny"])
    for day in range(WORLD_PRESETS["tiny"].num_days):
        simulated = world.simulate_day(day)
        partitions = {}
        for table in RAW_TABLES:
            path = partition_dir(tmp_path, table, simulated.date)
            path.mkdir(parents=True)
            pq.write_table(getattr(simulated, table), path / "part-0.parquet")
            partitions[table] = path
        checked = validate_raw_day(partitions)
        for table, report in checked.reports.items():
            assert report.violations == () and report.rules_checked == len(VALUE_RULES[table])
            assert checked.tables[table].equals(getattr(simulated, table).combine_chunks())


def test_drop_rows_removes_exactly_the_bad_rows_and_counts_them_per_rule(world):
    logs, root, source = world
    rows = valid_rows()
    rows[IMP][0]["click"] = 2
    rows[IMP][1]["dwell_seconds"] = NAN
    rows[IMP][2]["dwell_seconds"] = -1.0
    rows[IMP][2]["like"] = 3  # one row, two rules
    rows[IMP].append(copy.deepcopy(rows[IMP][4]))  # rows 4 and 6 share (session_id, post_id)
    write_logs(logs, rows)
    written = {t.name: t for t in source(feed_impressions="drop_rows").write_day(None, DAY)}
    impressions = written[IMP]
    assert impressions.report.rule_counts() == {
        "feed_impressions.click.domain_0_1": 1,
        "feed_impressions.like.domain_0_1": 1,
        "feed_impressions.dwell_seconds.finite": 1,
        "feed_impressions.dwell_seconds.dwell_range": 1,
        "feed_impressions.session_id,post_id.unique": 2,
    }
    assert impressions.report.dropped_rows == 5 and impressions.rows == 2
    kept = pq.read_table(impressions.path)
    assert kept.equals(arrow_table([rows[IMP][3], rows[IMP][5]], IMP))
    metadata = impressions.value_metadata()
    assert metadata["dropped_rows"] == 5 and metadata["value_policy"] == "drop_rows"
    click = metadata["value_rules"].data["feed_impressions.click.domain_0_1"]
    assert click == {
        "bad_rows": 1,
        "files": {"part-0.parquet": 1},
        "samples": ["part-0.parquet row 0: click=2 (session_id=10, post_id=100)"],
    }
    assert written[SES].rows == 3 and written[SES].report.dropped_rows == 0
    assert (logs / IMP / f"date={DAY.isoformat()}").exists()  # nothing quarantined


def test_dropping_a_session_drops_its_impressions_too(world):
    logs, root, source = world
    rows = valid_rows()
    rows[SES][1]["hour"] = 31
    rows[SES][2]["served"][0]["ranker_score"] = NAN
    write_logs(logs, rows)
    written = {t.name: t for t in source(feed_sessions="drop_rows").write_day(None, DAY)}
    assert written[SES].report.rule_counts() == {
        "feed_sessions.hour.hour_range": 1,
        "feed_sessions.served[].ranker_score.finite": 1,
    }
    assert pq.read_table(written[SES].path).column("session_id").to_pylist() == [10]
    # impressions keep the quarantine policy: the cascade is not a violation of theirs
    assert written[IMP].report.rule_counts() == {IMPRESSIONS_OF_DROPPED_SESSIONS: 4}
    assert written[IMP].report.dropped_rows == 4
    assert pq.read_table(written[IMP].path).equals(arrow_table(rows[IMP][:2], IMP))


def test_drop_rows_that_leaves_a_table_empty_quarantines_it(world):
    logs, root, source = world
    rows = valid_rows()
    for post in rows["posts"]:
        post["length"] = -1.0
    write_logs(logs, rows)
    before = _files(root)
    with pytest.raises(QuarantinedPartitionError, match="every one of its 3 rows was dropped"):
        source(posts="drop_rows").write_day(None, DAY)
    assert not partition_dir(logs, "posts", DAY).exists() and _files(root) == before


def test_every_failing_table_is_named_and_quarantined(world):
    logs, root, source = world
    rows = valid_rows()
    rows[IMP][0]["click"] = 4
    rows["members"][0]["seniority"] = -2
    write_logs(logs, rows)
    with pytest.raises(QuarantinedPartitionError) as info:
        source().write_day(None, DAY)
    message = str(info.value)
    assert "feed_impressions.click.domain_0_1" in message
    assert "members.seniority.non_negative" in message
    assert [source.parent.name for source, _ in info.value.moves] == [IMP, "members"]
    assert partition_dir(logs, SES, DAY).exists() and not partition_dir(logs, IMP, DAY).exists()
    assert "value_policy={'feed_impressions': 'drop_rows', 'members': 'drop_rows'}" in message


def test_a_quarantined_day_restored_after_a_fix_is_written(world):
    logs, root, source = world
    rows = valid_rows()
    rows[IMP][0]["click"] = 2
    write_logs(logs, rows)
    with pytest.raises(QuarantinedPartitionError) as info:
        source().write_day(None, DAY)
    ((partition, moved),) = info.value.moves
    moved.rename(partition)  # the README's restore: move the directory back ...
    rows[IMP][0]["click"] = 1
    write_logs(logs, {IMP: rows[IMP]})  # ... after fixing the file
    assert [t.rows for t in source().write_day(None, DAY)] == [3, 6, 3, 3]


@pytest.mark.parametrize(
    ("policy", "match"),
    [
        ({"feed_impressions": "drop"}, r"must be one of \['quarantine', 'drop_rows'\]"),
        ({"impressions": "drop_rows"}, r"unknown tables \['impressions'\]"),
    ],
)
def test_an_unknown_policy_is_a_config_error_that_touches_nothing(world, policy, match):
    logs, root, source = world
    write_logs(logs, valid_rows())
    before, logs_before = _files(root), _files(logs)
    with pytest.raises(ValueError, match=match):
        source(**policy).write_day(None, DAY)
    with pytest.raises(ValueError, match=match):
        check_value_policy(policy)
    assert _files(root) == before and _files(logs) == logs_before


def test_invalid_utf8_is_found_by_bisection_in_a_large_column():
    values = [b"web"] * 5000
    for index in (0, 1234, 4999):
        values[index] = b"\xe2\x82"  # truncated 3-byte sequence
    strings = pa.array(values, pa.binary()).view(pa.string())
    assert np.flatnonzero(_invalid_utf8(strings)).tolist() == [0, 1234, 4999]
    assert not _invalid_utf8(pa.array(["ok", None, "é"])).any()


def test_rule_masks_are_vectorized_over_a_million_impressions():
    n = 1_000_000
    sessions = arrow_table(valid_rows()[SES], SES)
    impressions = arrow_table(valid_rows()[IMP], IMP).take(pa.array(np.arange(n) % 6))
    dwell = np.full(n, 1.0, np.float32)
    dwell[::1000] = -1.0
    impressions = impressions.set_column(
        impressions.schema.get_field_index("dwell_seconds"), "dwell_seconds", pa.array(dwell)
    )
    masks = rule_violations(IMP, {SES: sessions, IMP: impressions})
    assert masks["feed_impressions.dwell_seconds.dwell_range"].sum() == n // 1000
    assert masks["feed_impressions.session_id,post_id.unique"].sum() == n  # 6 keys repeated
    assert masks["feed_impressions.position.matches_served"].sum() == 0


class _NoSpark(SparkResource):
    """FileLogs reads with Arrow: the asset needs no Spark session."""

    def session(self):
        return None


def test_the_asset_records_dropped_rows_and_rule_counts_as_metadata(tmp_path):
    logs, root = tmp_path / "logs", tmp_path / "data"
    rows = valid_rows()
    rows[IMP][0]["click"] = 2
    write_logs(logs, rows)
    calendar = DailyCalendar(DAY, DAY + dt.timedelta(days=1), cold_start_days=1)
    source = FileLogs(data_root=DataRoot(path=str(root)), path=str(logs))
    # the policy set at launch, in the run config (as in the launchpad)
    policy = {"path": str(logs), "value_policy": {"feed_impressions": "drop_rows"}}
    result = materialize(
        [build_raw_log_assets(calendar, tuple(RAW_TABLES))],
        resources={"log_source": source, "spark": _NoSpark()},
        partition_key=DAY.isoformat(),
        run_config={"resources": {"log_source": {"config": policy}}},
    )
    assert result.success
    events = result.get_asset_materialization_events()
    materializations = [event.event_specific_data.materialization for event in events]
    metadata = {m.asset_key.path[-1]: m.metadata for m in materializations}
    assert metadata[IMP]["dropped_rows"].value == 1
    assert metadata[IMP]["value_policy"].value == "drop_rows"
    assert metadata[IMP]["value_rules"].data["feed_impressions.click.domain_0_1"]["bad_rows"] == 1
    assert metadata[SES]["dropped_rows"].value == 0 and metadata[SES]["value_rules"].data == {}

"""Users' own Ads and Jobs logs (issue 13): the products' raw tables are validated like the feed's,
files then values, each value rule naming table, column, rule, count and samples; `drop_rows`
drops exactly the bad rows (and the rows referencing a dropped ad or profile); `FileLogs`
validates and writes the products it is given."""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Callable
from pathlib import Path

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lirank_assets.resources import DataRoot, FileLogs
from lirank_assets.settings import WORLD_PRESETS, list_setting, settings_from_env
from spark.ingest import (
    IMPRESSIONS_OF_DROPPED_ADS,
    IMPRESSIONS_OF_DROPPED_PROFILES,
    QUARANTINE_DIR,
    LogValueError,
    QuarantinedPartitionError,
    check_value_policy,
    log_tables,
    validate_raw_day,
    validate_raw_partition,
)
from spark.log_rules import (
    LOG_TABLES,
    PRODUCT_RULES_BY_NAME,
    PRODUCT_TABLES,
    PRODUCT_VALUE_RULES,
    rule_violations,
    rules_of,
)
from spark.schemas import AD_ACTIONS, CHARGEABILITY_GROUPS, PRODUCT_RAW_TABLES, RAW_TABLES
from spark.storage import partition_dir
from tests.reliability.test_ingest_values import _binary
from tests.reliability.test_ingest_values import valid_rows as feed_rows
from tests.reliability.test_ingest_values import write_logs as write_feed_logs

DAY = dt.date(2026, 1, 2)
Rows = dict[str, list[dict]]
NAN, INF = math.nan, math.inf
CAT, ADS, POST, PROF, JOBS = (
    "ad_catalog",
    "ad_impressions",
    "job_postings",
    "member_profiles",
    "job_impressions",
)
AD_TABLES = tuple(PRODUCT_RAW_TABLES["ads"])
# (website_visit, social_action, video_view) of the six ad slots; slot 5 is not impressed
AD_ACTION_ROWS = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1), (0, 0, 0), (0, 0, 0)]
# (click, apply, qualified_apply) of the six served jobs; row 5 is not impressed
JOB_ACTION_ROWS = [(1, 1, 1), (1, 1, 0), (0, 0, 0), (1, 0, 0), (0, 0, 0), (0, 0, 0)]


def product_rows(date: dt.date = DAY) -> Rows:
    """Ads: ads 500..502, one per chargeability group, in six slots of sessions 10..12 (members
    0..2, the feed's `valid_rows`). Jobs: a search session (20, member 0) and a JYMBII one (21,
    member 1), three jobs each; job 902 was posted on an earlier day (not in `job_postings`)."""
    catalog = [
        {
            "date": date,
            "ad_id": 500 + group,
            "campaign_id": 40 + group,
            "advertiser_id": 30,
            "advertiser_industry": group,
            "chargeability_group": CHARGEABILITY_GROUPS[group],
            "creative_type": ["image", "video", "text"][group],
            "bid": 1.5 + group,
        }
        for group in range(3)
    ]
    impressions = []
    for row, actions in enumerate(AD_ACTION_ROWS):
        session, slot = divmod(row, 2)
        group = row % 3  # ad 500 + g has group g
        pctr = 0.02 * (row + 1)
        impressions.append(
            {
                "date": date,
                "session_id": 10 + session,
                "member_id": session,
                "platform": "web",
                "hour": 9,
                "slot": slot,
                "feed_position": 3 + 4 * slot,
                "ad_id": 500 + group,
                "ranker_pctr": pctr,
                "ranker_score": pctr * (1.5 + group),
                "impressed": row != 5,
                **dict(zip(AD_ACTIONS, actions, strict=True)),
                "chargeable_click": int(any(actions[: group + 1])),
            }
        )
    fields = {"industry": 2, "seniority": 1, "country": 3}
    postings = [
        {"date": date, "job_id": 900 + j, "company_id": 60 + j, "title_id": 4 + j}
        | {"skill_ids": [1, 2 + j], **fields}
        for j in range(2)
    ]
    profiles = [
        {"date": date, "member_id": m, "title_id": 4, "skill_ids": [1, 2], "company_id": 60}
        | fields
        for m in range(3)
    ]
    jobs = []
    for row, (click, apply, qualified) in enumerate(JOB_ACTION_ROWS):
        session, position = divmod(row, 3)
        jobs.append(
            {
                "date": date,
                "session_id": 20 + session,
                "member_id": session,
                "channel": ["search", "jymbii"][session],
                "query_title_id": [5, -1][session],
                "platform": "ios",
                "hour": 18,
                "position": position,
                "job_id": 900 + position,
                "ranker_score": 2.0 - position,
                "impressed": row != 5,
                "click": click,
                "apply": apply,
                "qualified_apply": qualified,
            }
        )
    return {CAT: catalog, ADS: impressions, POST: postings, PROF: profiles, JOBS: jobs}


def arrow(rows: list[dict], table: str) -> pa.Table:
    """Rows as the table; string values may be `bytes` (kept as is, even if not UTF-8)."""
    schema = LOG_TABLES[table]
    raw = pa.Table.from_pylist(rows, schema=pa.schema([(f.name, _binary(f.type)) for f in schema]))
    return pa.Table.from_arrays(
        [raw.column(f.name).combine_chunks().view(f.type) for f in schema], schema=schema
    )


def write(logs: Path, rows: Rows, date: dt.date = DAY) -> dict[str, Path]:
    """Each table's rows as `<logs>/<table>/date=.../part-0.parquet`; table -> partition."""
    partitions = {}
    for table, table_rows in rows.items():
        path = partition_dir(logs, table, date)
        path.mkdir(parents=True, exist_ok=True)
        pq.write_table(arrow(table_rows, table), path / "part-0.parquet")
        partitions[table] = path
    return partitions


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# ------------------------------------------------------------------------------ good days


def test_good_product_partitions_validate_and_round_trip(tmp_path):
    rows = product_rows()
    partitions = write(tmp_path, rows)
    for table, path in partitions.items():
        data = validate_raw_partition(path, table)
        assert data.schema.equals(PRODUCT_TABLES[table]) and data.equals(arrow(rows[table], table))
    day = validate_raw_day(partitions)
    assert set(day.tables) == set(PRODUCT_TABLES)
    for table, report in day.reports.items():
        assert day.tables[table].equals(arrow(rows[table], table))
        assert report.violations == () and report.dropped_rows == 0
        assert report.rules_checked == len(PRODUCT_VALUE_RULES[table])
    # a job posted on an earlier day is no error: postings stay live for days
    assert 902 not in {row["job_id"] for row in rows[POST]}
    assert 902 in day.tables[JOBS].column("job_id").to_pylist()


def test_the_chargeable_click_follows_each_ads_group():
    """chargeable_click of group g = any of AD_ACTIONS[:g+1]: a social action charges groups 1
    and 2 but not 0, a video view only group 2."""
    rows = product_rows()[ADS]
    assert [row["chargeable_click"] for row in rows] == [1, 1, 1, 0, 0, 0]
    masks = rule_violations(ADS, {ADS: arrow(rows, ADS), CAT: arrow(product_rows()[CAT], CAT)})
    assert not masks["ad_impressions.chargeable_click.matches_group"].any()
    for group, expected in enumerate([0, 1, 1]):  # the actions (0, 1, 1) under each group
        swapped = copy.deepcopy(product_rows())
        swapped[CAT][0]["chargeability_group"] = CHARGEABILITY_GROUPS[group]  # ad 500: row 3
        day = {ADS: arrow(rows, ADS), CAT: arrow(swapped[CAT], CAT)}
        bad = rule_violations(ADS, day)["ad_impressions.chargeable_click.matches_group"]
        assert bool(bad[3]) is (expected != rows[3]["chargeable_click"])


def test_log_tables_add_each_products_tables_to_the_feeds():
    assert log_tables() == tuple(RAW_TABLES)
    assert log_tables(["ads"]) == (*RAW_TABLES, CAT, ADS)
    assert log_tables(["jobs", "ads"]) == (*RAW_TABLES, POST, PROF, JOBS, CAT, ADS)
    with pytest.raises(ValueError, match=r"unknown products \['video'\].*\['ads', 'jobs'\]"):
        log_tables(["ads", "video"])
    with pytest.raises(ValueError, match=r"products \['ads'\] are listed more than once"):
        log_tables(["ads", "ads"])
    with pytest.raises(ValueError, match="not a raw table"):
        rules_of("clicks")


def test_value_policies_accept_product_tables():
    policies = check_value_policy({ADS: "drop_rows"})
    assert policies[ADS] == "drop_rows" and policies[JOBS] == "quarantine"
    assert set(policies) == set(RAW_TABLES) | set(PRODUCT_TABLES)
    with pytest.raises(ValueError, match=r"unknown tables \['ad_clicks'\]"):
        check_value_policy({"ad_clicks": "drop_rows"})


def test_the_simulated_world_passes_every_product_rule(tmp_path):
    from spark.world import FeedWorld

    simulated = FeedWorld(WORLD_PRESETS["tiny"]).simulate_day(1)
    partitions = {}
    for table in PRODUCT_TABLES:
        path = partition_dir(tmp_path, table, simulated.date)
        path.mkdir(parents=True)
        pq.write_table(simulated.products[table], path / "part-0.parquet")
        partitions[table] = path
    day = validate_raw_day(partitions)
    for table, report in day.reports.items():
        assert report.rule_counts() == {} and report.rows_read > 0, table


# ------------------------------------------------------------------------------ bad values


def _set(table: str, row: int, **values) -> Callable[[Rows], None]:
    def corrupt(rows: Rows) -> None:
        rows[table][row].update(values)

    return corrupt


def _duplicate(table: str, row: int) -> Callable[[Rows], None]:
    def corrupt(rows: Rows) -> None:
        rows[table].append(copy.deepcopy(rows[table][row]))

    return corrupt


# (case id, corruption, table at fault, column, check, bad rows of that table, text of a sample)
CASES = [
    ("duplicate_ad", _duplicate(CAT, 0), CAT, "ad_id", "unique", [0, 3], "ad_id=500"),
    ("bid_zero", _set(CAT, 0, bid=0.0), CAT, "bid", "positive", [0], "bid=0.0"),
    ("bid_negative", _set(CAT, 1, bid=-2.0), CAT, "bid", "positive", [1], "bid=-2.0"),
    ("bid_nan", _set(CAT, 2, bid=NAN), CAT, "bid", "finite", [2], "bid=nan"),
    ("bid_inf", _set(CAT, 2, bid=INF), CAT, "bid", "finite", [2], "bid=inf"),
    ("bid_null", _set(CAT, 2, bid=None), CAT, "bid", "not_null", [2], "bid=None"),
    (
        "unknown_group",
        _set(CAT, 1, chargeability_group="visits"),
        CAT,
        "chargeability_group",
        "in_domain",
        [1],
        "chargeability_group='visits'",
    ),
    (
        "negative_advertiser",
        _set(CAT, 0, advertiser_id=-1),
        CAT,
        "advertiser_id",
        "id_range",
        [0],
        "",
    ),
    (
        "empty_creative",
        _set(CAT, 0, creative_type=""),
        CAT,
        "creative_type",
        "byte_length",
        [0],
        "",
    ),
    (
        "duplicate_slot",
        _set(ADS, 1, slot=0),
        ADS,
        "session_id,slot",
        "unique",
        [0, 1],
        "session_id=10, slot=0",
    ),
    (
        "pctr_zero",
        _set(ADS, 0, ranker_pctr=0.0),
        ADS,
        "ranker_pctr",
        "open_unit_interval",
        [0],
        "ranker_pctr=0.0",
    ),
    (
        "pctr_one",
        _set(ADS, 1, ranker_pctr=1.0),
        ADS,
        "ranker_pctr",
        "open_unit_interval",
        [1],
        "",
    ),
    (
        "pctr_percent",
        _set(ADS, 2, ranker_pctr=4.0),
        ADS,
        "ranker_pctr",
        "open_unit_interval",
        [2],
        "",
    ),
    ("pctr_nan", _set(ADS, 3, ranker_pctr=NAN), ADS, "ranker_pctr", "finite", [3], "nan"),
    ("score_inf", _set(ADS, 3, ranker_score=-INF), ADS, "ranker_score", "finite", [3], "-inf"),
    (
        "visit_count",
        _set(ADS, 0, website_visit=2),
        ADS,
        "website_visit",
        "domain_0_1",
        [0],
        "website_visit=2",
    ),
    (
        "chargeable_count",
        _set(ADS, 0, chargeable_click=3),
        ADS,
        "chargeable_click",
        "domain_0_1",
        [0],
        "",
    ),
    (
        "ad_action_not_impressed",
        _set(ADS, 5, video_view=1, chargeable_click=1),
        ADS,
        "impressed",
        "no_action_unimpressed",
        [5],
        "impressed=False, website_visit=0, social_action=0, video_view=1, chargeable_click=1",
    ),
    (
        "chargeable_outside_group",
        _set(ADS, 3, chargeable_click=1),
        ADS,
        "chargeable_click",
        "matches_group",
        [3],
        "chargeable_click=1, ad_id=500, website_visit=0, social_action=1, video_view=1",
    ),
    (
        "chargeable_missing",
        _set(ADS, 1, chargeable_click=0),
        ADS,
        "chargeable_click",
        "matches_group",
        [1],
        "chargeable_click=0, ad_id=501",
    ),
    ("unknown_ad", _set(ADS, 4, ad_id=999), ADS, "ad_id", "in_catalog", [4], "ad_id=999"),
    ("slot_negative", _set(ADS, 2, slot=-1), ADS, "slot", "position_range", [2], "slot=-1"),
    ("ad_hour_25", _set(ADS, 2, hour=25), ADS, "hour", "hour_range", [2], "hour=25"),
    ("duplicate_job", _duplicate(POST, 1), POST, "job_id", "unique", [1, 2], "job_id=901"),
    (
        "job_seniority_negative",
        _set(POST, 0, seniority=-1),
        POST,
        "seniority",
        "non_negative",
        [0],
        "seniority=-1",
    ),
    (
        "job_skill_negative",
        _set(POST, 1, skill_ids=[3, -2]),
        POST,
        "skill_ids[]",
        "non_negative",
        [1],
        "skill_ids[]=[3, -2]",
    ),
    (
        "duplicate_profile",
        _duplicate(PROF, 2),
        PROF,
        "member_id",
        "unique",
        [2, 3],
        "member_id=2",
    ),
    (
        "profile_company_negative",
        _set(PROF, 1, company_id=-1),
        PROF,
        "company_id",
        "id_range",
        [1],
        "company_id=-1",
    ),
    (
        "duplicate_job_position",
        _set(JOBS, 1, position=0),
        JOBS,
        "session_id,position",
        "unique",
        [0, 1],
        "session_id=20, position=0",
    ),
    (
        "unknown_channel",
        _set(JOBS, 0, channel="feed"),
        JOBS,
        "channel",
        "in_domain",
        [0],
        "channel='feed'",
    ),
    (
        "jymbii_with_query",
        _set(JOBS, 3, query_title_id=7),
        JOBS,
        "query_title_id",
        "matches_channel",
        [3],
        "query_title_id=7, channel='jymbii'",
    ),
    (
        "search_without_query",
        _set(JOBS, 0, query_title_id=-1),
        JOBS,
        "query_title_id",
        "matches_channel",
        [0],
        "query_title_id=-1, channel='search'",
    ),
    ("click_count", _set(JOBS, 1, click=2), JOBS, "click", "domain_0_1", [1], "click=2"),
    (
        "platform_not_utf8",
        _set(JOBS, 4, platform=b"i\xffos"),
        JOBS,
        "platform",
        "valid_utf8",
        [4],
        "\\xff",
    ),
    (
        "apply_without_click",
        _set(JOBS, 3, click=0, apply=1),
        JOBS,
        "apply",
        "needs_click",
        [3],
        "apply=1, click=0",
    ),
    (
        "qualified_without_apply",
        _set(JOBS, 1, apply=0, qualified_apply=1),
        JOBS,
        "qualified_apply",
        "needs_apply",
        [1],
        "qualified_apply=1, apply=0",
    ),
    (
        "job_action_not_impressed",
        _set(JOBS, 5, click=1),
        JOBS,
        "impressed",
        "no_action_unimpressed",
        [5],
        "impressed=False, click=1",
    ),
    (
        "job_score_nan",
        _set(JOBS, 2, ranker_score=NAN),
        JOBS,
        "ranker_score",
        "finite",
        [2],
        "nan",
    ),
    (
        "member_without_profile",
        _set(JOBS, 0, member_id=7),
        JOBS,
        "member_id",
        "has_profile",
        [0],
        "member_id=7",
    ),
    (
        "job_position_huge",
        _set(JOBS, 4, position=1000),
        JOBS,
        "position",
        "position_range",
        [4],
        "position=1000",
    ),
]


@pytest.mark.parametrize(
    ("corrupt", "table", "column", "check", "bad", "sample"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_a_bad_product_value_fails_the_day_naming_table_rule_count_and_sample(
    tmp_path, corrupt, table, column, check, bad, sample
):
    rows = product_rows()
    corrupt(rows)
    partitions = write(tmp_path, rows)
    rule = f"{table}.{column}.{check}"
    assert rule in PRODUCT_RULES_BY_NAME
    with pytest.raises(LogValueError) as info:
        validate_raw_day(partitions)
    message = str(info.value)
    count, total = len(bad), len(rows[table])
    assert f"{partitions[table]} (`{table}`, value_policy quarantine)" in message
    assert f"rule `{rule}`: {count} of {total} rows (part-0.parquet: {count})" in message
    assert f"part-0.parquet row {bad[0]}: " in message and sample in message
    assert f"What to do: {PRODUCT_RULES_BY_NAME[rule].fix}" in message
    assert table in info.value.tables and partitions[table] in info.value.partitions


@pytest.mark.parametrize(
    ("corrupt", "table", "column", "check", "bad"),
    [pytest.param(*case[1:6], id=case[0]) for case in CASES],
)
def test_drop_rows_drops_exactly_the_bad_product_rows(tmp_path, corrupt, table, column, check, bad):
    rows = product_rows()
    corrupt(rows)
    partitions = write(tmp_path, rows)
    day = validate_raw_day(partitions, {name: "drop_rows" for name in PRODUCT_TABLES})
    report = day.reports[table]
    assert report.rule_counts()[f"{table}.{column}.{check}"] == len(bad)
    assert report.dropped_rows == len(bad) and report.policy == "drop_rows"
    kept = [row for index, row in enumerate(rows[table]) if index not in bad]
    assert day.tables[table].equals(arrow(kept, table))
    assert partitions[table].exists()  # nothing quarantined


def test_every_product_rule_kind_and_every_cross_table_rule_is_tested():
    tested = {f"{case[2]}.{case[3]}.{case[4]}" for case in CASES}
    assert {name.rsplit(".", 1)[1] for name in tested} == {
        name.rsplit(".", 1)[1] for name in PRODUCT_RULES_BY_NAME
    }
    required = {
        "ad_catalog.ad_id.unique",
        "ad_catalog.bid.finite",
        "ad_catalog.bid.positive",
        "ad_catalog.chargeability_group.in_domain",
        "ad_impressions.session_id,slot.unique",
        "ad_impressions.ranker_pctr.finite",
        "ad_impressions.ranker_pctr.open_unit_interval",
        "ad_impressions.ranker_score.finite",
        *(
            f"ad_impressions.{action}.domain_0_1"
            for action in ("website_visit", "chargeable_click")
        ),
        "ad_impressions.impressed.no_action_unimpressed",
        "ad_impressions.chargeable_click.matches_group",
        "ad_impressions.ad_id.in_catalog",
        "job_postings.job_id.unique",
        "job_postings.seniority.non_negative",
        "member_profiles.member_id.unique",
        "job_impressions.session_id,position.unique",
        "job_impressions.channel.in_domain",
        "job_impressions.query_title_id.matches_channel",
        "job_impressions.click.domain_0_1",
        "job_impressions.apply.needs_click",
        "job_impressions.qualified_apply.needs_apply",
        "job_impressions.impressed.no_action_unimpressed",
        "job_impressions.ranker_score.finite",
        "job_impressions.member_id.has_profile",
    }
    assert required <= tested
    for rule in PRODUCT_RULES_BY_NAME.values():
        assert rule.description and rule.fix and rule.table in PRODUCT_TABLES
        assert rule.references in (None, *PRODUCT_TABLES)


def test_an_unknown_ad_is_named_with_its_slot(tmp_path):
    rows = product_rows()
    rows[ADS][4]["ad_id"] = 77
    with pytest.raises(LogValueError) as info:
        validate_raw_day(write(tmp_path, rows))
    message = str(info.value)
    assert "rule `ad_impressions.ad_id.in_catalog`: 1 of 6 rows" in message
    assert "part-0.parquet row 4: ad_id=77 (session_id=12, slot=0)" in message
    assert "export the day's live ads (ad_catalog)" in message
    assert info.value.tables == (ADS,)


def test_dropping_an_ad_or_a_profile_drops_the_impressions_that_reference_it(tmp_path):
    rows = product_rows()
    rows[CAT][1]["bid"] = -1.0  # ad 501: its impressions are rows 1 and 4
    rows[PROF][1]["seniority"] = -3  # member 1: the JYMBII session, rows 3..5
    policy = {CAT: "drop_rows", PROF: "drop_rows"}
    day = validate_raw_day(write(tmp_path, rows), policy)
    assert day.tables[CAT].column("ad_id").to_pylist() == [500, 502]
    assert day.reports[ADS].rule_counts() == {IMPRESSIONS_OF_DROPPED_ADS: 2}
    assert day.reports[ADS].policy == "quarantine" and day.reports[ADS].broken_rules() == ()
    assert day.tables[ADS].equals(arrow([rows[ADS][i] for i in (0, 2, 3, 5)], ADS))
    assert day.reports[ADS].rules_checked == len(PRODUCT_VALUE_RULES[ADS])
    assert day.reports[JOBS].rule_counts() == {IMPRESSIONS_OF_DROPPED_PROFILES: 3}
    assert day.tables[JOBS].equals(arrow(rows[JOBS][:3], JOBS))
    sample = day.reports[JOBS].as_json()[IMPRESSIONS_OF_DROPPED_PROFILES]["samples"][0]
    assert sample == "part-0.parquet row 3: member_id=1 (session_id=21, position=0)"


def test_a_product_table_in_avro_with_an_enum_group_is_read(tmp_path):
    schema = {
        "type": "record",
        "name": "Ad",
        "fields": [
            {"name": "date", "type": {"type": "int", "logicalType": "date"}},
            *({"name": name, "type": "long"} for name in ("ad_id", "campaign_id", "advertiser_id")),
            {"name": "advertiser_industry", "type": "int"},
            {
                "name": "chargeability_group",
                "type": {"type": "enum", "name": "Group", "symbols": list(CHARGEABILITY_GROUPS)},
            },
            {"name": "creative_type", "type": "string"},
            {"name": "bid", "type": "float"},
        ],
    }
    rows = product_rows()[CAT]
    path = partition_dir(tmp_path, CAT, DAY)
    path.mkdir(parents=True)
    with (path / "part-0.avro").open("wb") as handle:
        fastavro.writer(handle, fastavro.parse_schema(schema), rows)
    assert validate_raw_partition(path, CAT).equals(arrow(rows, CAT))


# ------------------------------------------------------------------------------ FileLogs


def _file_logs(tmp_path: Path, products: list[str], **policy: str) -> FileLogs:
    root, logs = tmp_path / "data", tmp_path / "logs"
    return FileLogs(
        data_root=DataRoot(path=str(root)), path=str(logs), products=products, value_policy=policy
    )


def test_file_logs_with_ads_lists_and_writes_the_feed_and_ads_tables(tmp_path):
    logs = tmp_path / "logs"
    write_feed_logs(logs, feed_rows(DAY), DAY)
    rows = product_rows()
    write(logs, rows)  # the jobs tables are there too, but jobs is not enabled
    source = _file_logs(tmp_path, ["ads"])
    assert source.tables == (*RAW_TABLES, CAT, ADS)
    assert source.description == f"logs in {logs} (with ads)"
    written = {table.name: table for table in source.write_day(None, DAY)}
    assert tuple(written) == source.tables
    assert [written[t].rows for t in (CAT, ADS)] == [3, 6]
    for table in AD_TABLES:
        assert written[table].path == source.data_root.layout.raw_table(table, DAY)
        assert pq.read_table(written[table].path).equals(arrow(rows[table], table))
        assert written[table].value_metadata()["dropped_rows"] == 0
    assert not (tmp_path / "data" / "raw" / JOBS).exists()
    assert _file_logs(tmp_path, []).tables == tuple(RAW_TABLES)


def test_file_logs_quarantine_a_bad_ads_partition_and_write_nothing(tmp_path):
    logs = tmp_path / "logs"
    write_feed_logs(logs, feed_rows(DAY), DAY)
    rows = product_rows()
    rows[ADS][3]["chargeable_click"] = 1
    partitions = write(logs, {table: rows[table] for table in AD_TABLES})
    original = (partitions[ADS] / "part-0.parquet").read_bytes()
    with pytest.raises(QuarantinedPartitionError) as info:
        _file_logs(tmp_path, ["ads"]).write_day(None, DAY)
    assert "ad_impressions.chargeable_click.matches_group" in str(info.value)
    target = logs / QUARANTINE_DIR / ADS / f"date={DAY.isoformat()}"
    assert info.value.moves == ((partitions[ADS], target),)
    assert (target / "part-0.parquet").read_bytes() == original
    assert not (tmp_path / "data" / "raw").exists()  # nothing written, the feed's tables neither


def test_file_logs_drop_rows_policy_for_a_product_table(tmp_path):
    logs = tmp_path / "logs"
    write_feed_logs(logs, feed_rows(DAY), DAY)
    rows = product_rows()
    rows[JOBS][3].update(click=0, apply=1)
    write(logs, rows)
    written = {
        t.name: t
        for t in _file_logs(tmp_path, ["jobs"], job_impressions="drop_rows").write_day(None, DAY)
    }
    assert tuple(written) == (*RAW_TABLES, POST, PROF, JOBS)
    assert written[JOBS].rows == 5
    metadata = written[JOBS].value_metadata()
    assert metadata["dropped_rows"] == 1
    assert metadata["value_rules"].data["job_impressions.apply.needs_click"]["bad_rows"] == 1


def test_an_unknown_product_fails_naming_it_before_any_file_is_touched(tmp_path):
    logs = tmp_path / "logs"
    write_feed_logs(logs, feed_rows(DAY), DAY)
    before = _files(logs)
    source = _file_logs(tmp_path, ["ads", "videos"])
    with pytest.raises(ValueError, match=r"unknown products \['videos'\].*\['ads', 'jobs'\]"):
        source.tables  # noqa: B018 (the property raises)
    with pytest.raises(ValueError, match=r"unknown products \['videos'\]"):
        source.write_day(None, DAY)
    assert _files(logs) == before and not (tmp_path / "data").exists()


def test_lirank_products_reaches_file_logs_and_an_unknown_one_fails_at_load(tmp_path):
    from lirank_assets.definitions import build_resources  # loads the whole graph

    assert list_setting("LIRANK_PRODUCTS", {}) == []
    assert list_setting("LIRANK_PRODUCTS", {"LIRANK_PRODUCTS": " ads , jobs "}) == ["ads", "jobs"]
    with pytest.raises(ValueError, match=r"LIRANK_PRODUCTS=.*'ads,'"):
        list_setting("LIRANK_PRODUCTS", {"LIRANK_PRODUCTS": "ads,"})
    env = {"LIRANK_LOGS_PATH": str(tmp_path), "LIRANK_PRODUCTS": "jobs,ads"}
    source = build_resources(settings_from_env(env), str(tmp_path), env)["log_source"]
    assert isinstance(source, FileLogs) and source.products == ["jobs", "ads"]
    assert source.tables == (*RAW_TABLES, POST, PROF, JOBS, CAT, ADS)
    unset = {"LIRANK_LOGS_PATH": str(tmp_path)}
    assert (
        build_resources(settings_from_env(unset), str(tmp_path), unset)["log_source"].products == []
    )
    bad = {"LIRANK_LOGS_PATH": str(tmp_path), "LIRANK_PRODUCTS": "ads,feed2"}
    with pytest.raises(ValueError, match=r"unknown products \['feed2'\]"):
        build_resources(settings_from_env(bad), str(tmp_path), bad)

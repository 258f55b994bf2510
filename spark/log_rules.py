"""Value rules of the raw-log contract: what every value of a user's logs must satisfy.

`spark.schemas` fixes the columns and types of the raw tables (the feed's four, `RAW_TABLES`, and
each product's, `PRODUCT_RAW_TABLES`: Ads and Jobs, paper §1, §17); this module fixes their
values. Each `ValueRule` is declared for one table and one column (dotted for nested fields:
`served[].position` is the `position` of every element of the `served` list) and returns, for a
whole table at once, which rows break it. Rules are vectorized Arrow compute (no Python loop per
row: a day can hold millions of rows); `spark.ingest.validate_raw_day` applies them to a day and
a per-table policy decides what a violation does (quarantine the day, or drop the rows).

Why these rules (each one stops a silent corruption downstream):

* labels are 0 or 1: a count (`click=2`) would train as a target of 2;
* dwell is finite, >= 0 and at most a day: a negative or NaN dwell moves the long-dwell
  thresholds (NaN writes `inf` thresholds);
* positions lie in the served list: position -5 or 100000 creates a new dwell cluster;
* ids are in [0, 2**62]: negative ids are the models' padding value (-1) and vanish;
* keys are unique and not null: a duplicate impression trains twice, a null id vanishes in a join;
* every impression belongs to a logged session of the same member and matches one of that
  session's served entries (same post at the same position);
* floats are finite (NaN/inf features pass the quality checks and fail at cold start);
* strings are valid UTF-8, non-empty and at most `MAX_STRING_BYTES` bytes. Categorical values
  (`content_type`, `platform`) are open: an unknown value is fine (the model maps it to its
  out-of-vocabulary bucket), an empty or null one is not;
* history lists have equal lengths and actions index `schemas.ACTIONS`.

The Ads and Jobs tables (`PRODUCT_VALUE_RULES`; a user's logs bring them per product enabled):

* `ad_catalog`: one row per `ad_id`, `bid` finite and > 0 (the auction ranks by pCTR x bid),
  `chargeability_group` one of `CHARGEABILITY_GROUPS` (a closed domain: it picks the model head);
* `ad_impressions`: one row per (session_id, slot), `ranker_pctr` finite in (0, 1),
  `ranker_score` finite, actions 0/1 and all 0 where `impressed` is false, every `ad_id` in the
  day's `ad_catalog`, and `chargeable_click` = any of `AD_ACTIONS[:g+1]` for the ad's group g
  (`spark.schemas`: the label of the ad's own head, so a mismatch trains that head on the wrong
  target);
* `job_postings` / `member_profiles`: one row per `job_id` / `member_id`, ids in range,
  taxonomy codes (title, skills, industry, seniority, country) >= 0;
* `job_impressions`: one row per (session_id, position), `channel` one of `JOB_CHANNELS`,
  `query_title_id` = -1 exactly for "jymbii" (a search has a query title >= 0), actions 0/1 and
  all 0 where not impressed, apply => click, qualified_apply => apply, every `member_id` in the
  day's `member_profiles`. A `job_id` is NOT required in the same day's `job_postings`: a
  posting stays live for days after the day it was created (its partition); the examples stage
  checks it against the live postings.

NOT CONFIRMED by the paper (our decisions): the paper names the products' tasks, not their log
format; these rules follow our log contract (`spark.schemas`), and the closed domains
(chargeability groups, job channels) are closed because a value outside them has no model head
or no meaning, unlike the feed's open categories.

Nulls in a top-level column are reported once, by that column's `not_null` rule; the column's
other rules ignore them. A null inside a list (a served entry's field, a list element) is
reported by that field's first rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from spark.schemas import (
    ACTIONS,
    AD_ACTIONS,
    CHARGEABILITY_GROUPS,
    JOB_CHANNELS,
    PRODUCT_RAW_TABLES,
    RAW_TABLES,
)

PRODUCT_TABLES: dict[str, pa.Schema] = {
    table: schema for tables in PRODUCT_RAW_TABLES.values() for table, schema in tables.items()
}
"""The raw tables of the Ads and Jobs products (`spark.schemas.PRODUCT_RAW_TABLES`, flattened)."""
LOG_TABLES: dict[str, pa.Schema] = {**RAW_TABLES, **PRODUCT_TABLES}
"""Every raw table a user's logs may bring: the feed's (`RAW_TABLES`) and the products'."""

MAX_ID = 2**62
"""Largest id accepted (ids are int64; the upper quarter is left for hashing headroom)."""
MAX_SERVED = 1_000
"""Most posts served in one session; impression positions are below it."""
MAX_HISTORY = 10_000
"""Longest member interaction history accepted in one row."""
MAX_STRING_BYTES = 64
"""Longest categorical string value (`content_type`, `platform`), in UTF-8 bytes."""
MAX_DWELL_SECONDS = 86_400.0
"""Longest dwell accepted: a day (anything longer is a logging error: a session left open)."""

KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "feed_sessions": ("session_id",),
    "feed_impressions": ("session_id", "post_id"),
    "posts": ("post_id",),
    "members": ("member_id",),
    "ad_catalog": ("ad_id",),
    "ad_impressions": ("session_id", "slot"),
    "job_postings": ("job_id",),
    "member_profiles": ("member_id",),
    "job_impressions": ("session_id", "position"),
}
"""The key of each raw table: shown beside every sample bad row."""

BadRows = Callable[[pa.Table, Mapping[str, pa.Table]], np.ndarray]
"""Given a table and the whole day (table name -> table), a bool per row: True breaks the rule."""


@dataclasses.dataclass(frozen=True)
class ValueRule:
    """One rule on the values of one column of one raw table.

    Args:
        table: the raw table (`LOG_TABLES`: the feed's or a product's).
        column: the column, dotted for nested fields (`served[].position`) or comma-joined for a
            rule on several columns (`session_id,post_id`).
        check: short name of the check (`domain_0_1`, `unique`, ...).
        description: what a good value is.
        fix: what to do about bad rows.
        bad_rows: which rows break it (see `BadRows`).
        references: the other table the rule reads (it is skipped when that table is absent).
        shown: other columns shown beside the rule's in each sample bad row (e.g. the actions of
            an impression whose `impressed` is false).
    """

    table: str
    column: str
    check: str
    description: str
    fix: str
    bad_rows: BadRows
    references: str | None = None
    shown: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`<table>.<column>.<check>`, e.g. `feed_impressions.click.domain_0_1`."""
        return f"{self.table}.{self.column}.{self.check}"


# ------------------------------------------------------------------------------ masks


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _bad(ok: pa.Array | pa.ChunkedArray, null_is_bad: bool) -> np.ndarray:
    """True where `ok` is false; a null `ok` counts as bad when `null_is_bad`."""
    filled = pc.fill_null(_as_array(ok), not null_is_bad)
    return ~np.asarray(filled.to_numpy(zero_copy_only=False), dtype=bool)


def resolve(table: pa.Table, path: str) -> tuple[pa.Array, np.ndarray | None]:
    """The values at `path` and, for values inside lists, the row each one belongs to.

    `path` is a column (`dwell_seconds`), a list's elements (`hist_actions[]`) or a field of a
    list of structs (`served[].position`, `served[].hashtag_ids[]`). The row index is None for a
    top-level column (value i is row i).
    """
    parts = path.replace("[]", ".[]").split(".")
    values = _as_array(table.column(parts[0]))
    rows: np.ndarray | None = None
    for part in parts[1:]:
        if part == "[]":
            parents = pc.list_parent_indices(values).to_numpy()
            rows = parents if rows is None else rows[parents]
            values = pc.list_flatten(values)
        else:
            values = pc.struct_field(values, part)
    return values, rows


def _rows_of(element_bad: np.ndarray, rows: np.ndarray, num_rows: int) -> np.ndarray:
    mask = np.zeros(num_rows, dtype=bool)
    mask[rows[element_bad]] = True
    return mask


def _values_rule(
    path: str, ok: Callable[[pa.Array], pa.Array], *, null_is_bad: bool = True
) -> BadRows:
    """Rows where some value at `path` fails `ok` (null list elements count when `null_is_bad`)."""

    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        values, rows = resolve(table, path)
        if rows is None:
            return _bad(ok(values), null_is_bad=False)
        return _rows_of(_bad(ok(values), null_is_bad), rows, table.num_rows)

    return bad_rows


def _invalid_utf8(values: pa.Array) -> np.ndarray:
    """True per string that is not valid UTF-8 (Parquet readers do not check; Arrow fails later).

    Arrow validates a whole array at once (`validate(full=True)`), so the bad strings are found by
    bisection: a valid slice costs one call, and only slices holding a bad string are split.
    """
    bad = np.zeros(len(values), dtype=bool)
    pending = [(0, len(values))]
    while pending:
        start, stop = pending.pop()
        try:
            values.slice(start, stop - start).validate(full=True)
        except pa.ArrowInvalid:
            if stop - start == 1:
                bad[start] = True
            else:
                middle = (start + stop) // 2
                pending += [(start, middle), (middle, stop)]
    return bad


def _utf8_rule(path: str) -> BadRows:
    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        values, rows = resolve(table, path)
        bad = _invalid_utf8(values)
        if rows is None:
            return bad
        return _rows_of(
            bad | np.asarray(values.is_null().to_numpy(zero_copy_only=False)), rows, table.num_rows
        )

    return bad_rows


def _not_null(column: str) -> BadRows:
    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        return np.asarray(table.column(column).is_null().to_numpy(), dtype=bool)

    return bad_rows


def _no_null_keys(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    mask = np.ones(table.num_rows, dtype=bool)
    for key in keys:
        mask &= np.asarray(table.column(key).is_valid().to_numpy(), dtype=bool)
    return mask


def _missing_from(table: pa.Table, keys: tuple[str, ...], reference: pa.Table) -> np.ndarray:
    """Rows of `table` (null keys excluded) whose `keys` appear in no row of `reference`."""
    numbered = table.select(list(keys)).append_column(
        "__row", pa.array(np.arange(table.num_rows, dtype=np.int64))
    )
    absent = numbered.join(reference.select(list(keys)), keys=list(keys), join_type="left anti")
    mask = np.zeros(table.num_rows, dtype=bool)
    mask[absent.column("__row").to_numpy()] = True
    return mask & _no_null_keys(table, keys)


def duplicated(table: pa.Table, keys: tuple[str, ...]) -> np.ndarray:
    """Rows whose non-null `keys` another row shares: all copies (which one is right is unknown)."""
    complete = _no_null_keys(table, keys)
    counts = (
        table.select(list(keys))
        .filter(pa.array(complete))
        .group_by(list(keys))
        .aggregate([([], "count_all")])
    )
    repeated = counts.filter(pc.greater(counts.column("count_all"), 1)).select(list(keys))
    if repeated.num_rows == 0:
        return np.zeros(table.num_rows, dtype=bool)
    return ~_missing_from(table, keys, repeated) & complete


def _unique(keys: tuple[str, ...]) -> BadRows:
    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        return duplicated(table, keys)

    return bad_rows


def _list_max_length(column: str, maximum: int) -> BadRows:
    return _values_rule(column, lambda v: pc.less_equal(pc.list_value_length(v), maximum))


def _same_length(columns: tuple[str, ...]) -> BadRows:
    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        first = pc.list_value_length(table.column(columns[0]))
        mask = np.zeros(table.num_rows, dtype=bool)
        for other in columns[1:]:
            mask |= _bad(pc.equal(first, pc.list_value_length(table.column(other))), False)
        return mask

    return bad_rows


def _served_entries(table: pa.Table) -> tuple[pa.Table, np.ndarray]:
    """One row per served entry (session_id, post_id, position) and the session row of each."""
    served, rows = resolve(table, "served[]")
    entries = pa.table(
        {
            "session_id": pc.take(_as_array(table.column("session_id")), pa.array(rows)),
            "post_id": pc.struct_field(served, "post_id"),
            "position": pc.struct_field(served, "position"),
        }
    )
    return entries, rows


def _position_in_served_list(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    del day
    served, rows = resolve(table, "served[]")
    position = pc.struct_field(served, "position").to_numpy(zero_copy_only=False)
    position = np.nan_to_num(np.asarray(position, dtype=np.float64), nan=-1.0)
    length = pc.list_value_length(table.column("served")).to_numpy(zero_copy_only=False)
    element_bad = (position < 0) | (position >= np.asarray(length)[rows])
    return _rows_of(element_bad, rows, table.num_rows)


def _position_unique_in_session(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    del day
    served, rows = resolve(table, "served[]")
    entries = pa.table(
        {"row": pa.array(rows, pa.int64()), "position": pc.struct_field(served, "position")}
    )
    return _rows_of(duplicated(entries, ("row", "position")), rows, table.num_rows)


def _session_exists(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    return _missing_from(table, ("session_id",), day["feed_sessions"])


def _member_matches_session(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    sessions = day["feed_sessions"]
    pair = _missing_from(table, ("session_id", "member_id"), sessions)
    return pair & ~_missing_from(table, ("session_id",), sessions)


def _impression_matches_served(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    sessions = day["feed_sessions"]
    entries, _ = _served_entries(sessions)
    triple = _missing_from(table, ("session_id", "post_id", "position"), entries)
    return triple & ~_missing_from(table, ("session_id",), sessions)


# ------------------------------------------------------------------------------ product masks

JYMBII = "jymbii"
"""The job channel without a query (`spark.schemas.JOB_CHANNELS`): its `query_title_id` is -1."""
if JYMBII not in JOB_CHANNELS or len(CHARGEABILITY_GROUPS) != len(AD_ACTIONS):
    raise ImportError(
        "spark.schemas changed: expected 'jymbii' in JOB_CHANNELS and one AD_ACTIONS entry per "
        f"chargeability group; found JOB_CHANNELS={JOB_CHANNELS}, "
        f"CHARGEABILITY_GROUPS={CHARGEABILITY_GROUPS}, AD_ACTIONS={AD_ACTIONS}. Update the "
        "product rules of spark/log_rules.py with the contract"
    )


def _numbers(table: pa.Table, column: str, fill: object) -> np.ndarray:
    """A top-level column as numpy, nulls replaced by `fill` (the `not_null` rule reports them)."""
    values = pc.fill_null(_as_array(table.column(column)), fill)
    return np.asarray(values.to_numpy(zero_copy_only=False))


def _valid(table: pa.Table, *columns: str) -> np.ndarray:
    """True where every one of `columns` is not null."""
    return _no_null_keys(table, columns)


def _no_action_unless_impressed(actions: tuple[str, ...]) -> BadRows:
    """Rows not impressed (`impressed` false) with some action other than 0."""

    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        acted = np.zeros(table.num_rows, dtype=bool)
        for action in actions:
            acted |= _numbers(table, action, 0) != 0
        return acted & ~_numbers(table, "impressed", True).astype(bool)

    return bad_rows


def _implies(action: str, needs: str) -> BadRows:
    """Rows with `action` = 1 and `needs` = 0 (an apply without the click that opened the job)."""

    def bad_rows(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
        del day
        return (_numbers(table, action, 0) == 1) & (_numbers(table, needs, 1) == 0)

    return bad_rows


def _query_matches_channel(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    """JYMBII rows whose `query_title_id` is not -1, and rows of the other (search) channels
    whose query title is negative; rows of an unknown channel are the channel rule's."""
    del day
    channel = _as_array(table.column("channel"))
    jymbii = np.asarray(
        pc.fill_null(pc.equal(channel, JYMBII), False).to_numpy(zero_copy_only=False), dtype=bool
    )
    known = np.asarray(
        pc.is_in(channel, value_set=pa.array(JOB_CHANNELS, pa.string())).to_numpy(
            zero_copy_only=False
        ),
        dtype=bool,
    )
    query = _numbers(table, "query_title_id", 0)
    bad = np.where(jymbii, query != -1, known & (query < 0))
    return bad & _valid(table, "channel", "query_title_id")


def _chargeable_matches_group(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    """Rows whose `chargeable_click` is not "any of AD_ACTIONS[:g+1]", g the chargeability group
    of the row's ad in the day's `ad_catalog` (rows of an ad missing from the catalog, or of a
    catalog row with an unknown group, are left to those rules; a repeated ad_id takes its first
    catalog row)."""
    catalog = day["ad_catalog"]
    group = pc.index_in(
        _as_array(catalog.column("chargeability_group")),
        value_set=pa.array(CHARGEABILITY_GROUPS, pa.string()),
    )
    listed = _valid(catalog, "ad_id") & np.asarray(
        group.is_valid().to_numpy(zero_copy_only=False), dtype=bool
    )
    ids = _numbers(catalog, "ad_id", 0)[listed]
    groups = np.asarray(pc.fill_null(group, 0).to_numpy(zero_copy_only=False))[listed]
    known_ids, first = np.unique(ids, return_index=True)
    mask = np.zeros(table.num_rows, dtype=bool)
    if len(known_ids) == 0:
        return mask
    ad = _numbers(table, "ad_id", 0)
    where = np.minimum(np.searchsorted(known_ids, ad), len(known_ids) - 1)
    found = known_ids[where] == ad
    acted = np.stack([_numbers(table, action, 0) != 0 for action in AD_ACTIONS], axis=1)
    chargeable_of_group = np.logical_or.accumulate(acted, axis=1)  # column g: any of [:g+1]
    expected = chargeable_of_group[np.arange(table.num_rows), groups[first][where]]
    logged = _numbers(table, "chargeable_click", 0)
    checked = found & _valid(table, "ad_id", "chargeable_click", *AD_ACTIONS)
    return checked & (logged != expected.astype(logged.dtype))


def _ad_in_catalog(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    return _missing_from(table, ("ad_id",), day["ad_catalog"])


def _member_has_profile(table: pa.Table, day: Mapping[str, pa.Table]) -> np.ndarray:
    return _missing_from(table, ("member_id",), day["member_profiles"])


# ------------------------------------------------------------------------------ predicates


def _between(low: float, high: float) -> Callable[[pa.Array], pa.Array]:
    return lambda v: pc.and_(pc.greater_equal(v, low), pc.less_equal(v, high))


def _finite(values: pa.Array) -> pa.Array:
    return pc.is_finite(values)


def _finite_between(low: float, high: float) -> Callable[[pa.Array], pa.Array]:
    """In [low, high], or not finite (non-finite values are the `finite` rule's)."""
    return lambda v: pc.or_(pc.invert(pc.is_finite(v)), _between(low, high)(v))


def _byte_length(values: pa.Array) -> pa.Array:
    return _between(1, MAX_STRING_BYTES)(pc.binary_length(values))


def _in_domain(*allowed: int) -> Callable[[pa.Array], pa.Array]:
    return lambda v: pc.is_in(v, value_set=pa.array(allowed, v.type))


def _positive(values: pa.Array) -> pa.Array:
    """> 0, or not finite (non-finite values are the `finite` rule's)."""
    return pc.or_(pc.invert(pc.is_finite(values)), pc.greater(values, 0))


def _open_unit_interval(values: pa.Array) -> pa.Array:
    """In (0, 1), or not finite (non-finite values are the `finite` rule's)."""
    inside = pc.and_(pc.greater(values, 0), pc.less(values, 1))
    return pc.or_(pc.invert(pc.is_finite(values)), inside)


def _one_of(allowed: tuple[str, ...]) -> Callable[[pa.Array], pa.Array]:
    """One of `allowed` (a null stays null: it is the `not_null` rule's)."""
    value_set = pa.array(allowed, pa.string())
    return lambda v: pc.if_else(
        pc.is_valid(v), pc.is_in(v, value_set=value_set), pa.scalar(None, pa.bool_())
    )


# ------------------------------------------------------------------------------ declarations

_FIX_REEXPORT = "re-export the rows with a valid value, or drop them (`value_policy` drop_rows)"


def _rule(
    table: str,
    column: str,
    check: str,
    description: str,
    fix: str,
    bad_rows: BadRows,
    references: str | None = None,
    shown: tuple[str, ...] = (),
) -> ValueRule:
    return ValueRule(table, column, check, description, fix, bad_rows, references, shown)


def _not_null_rules(table: str) -> list[ValueRule]:
    return [
        _rule(
            table,
            field.name,
            "not_null",
            f"`{field.name}` is never null",
            "log the value (a null id vanishes in a join, a null label or feature has no "
            "meaning), or drop the rows (`value_policy` drop_rows)",
            _not_null(field.name),
        )
        for field in LOG_TABLES[table]
        if field.name != "date"  # checked per file against the partition date
    ]


def _id_rule(table: str, path: str) -> ValueRule:
    return _rule(
        table,
        path,
        "id_range",
        "ids are integers in [0, 2**62] (-1 is the models' padding, so a negative id would vanish)",
        "log the real id; never -1 or another sentinel for 'unknown'",
        _values_rule(path, _between(0, MAX_ID)),
    )


def _non_negative(table: str, path: str, *, null_is_bad: bool = True) -> ValueRule:
    return _rule(
        table,
        path,
        "non_negative",
        f"`{path}` is >= 0",
        _FIX_REEXPORT,
        _values_rule(path, _finite_between(0, float("inf")), null_is_bad=null_is_bad),
    )


def _finite_rule(table: str, path: str) -> ValueRule:
    return _rule(
        table,
        path,
        "finite",
        f"`{path}` is a finite number (not NaN or +-inf)",
        "log a finite value (NaN/inf features fail at cold start and rank rows first "
        "at serving), or drop the rows (`value_policy` drop_rows)",
        _values_rule(path, _finite),
    )


def _string_rules(table: str, path: str) -> list[ValueRule]:
    return [
        _rule(
            table,
            path,
            "valid_utf8",
            f"`{path}` is valid UTF-8",
            "re-export the strings as UTF-8 (Arrow fails on invalid UTF-8 downstream)",
            _utf8_rule(path),
        ),
        _rule(
            table,
            path,
            "byte_length",
            f"`{path}` has 1 to {MAX_STRING_BYTES} UTF-8 bytes (unknown categories are fine: "
            "they map to the out-of-vocabulary bucket; empty ones are not)",
            "log the category's short name; use a category such as 'unknown' for a missing one",
            _values_rule(path, _byte_length, null_is_bad=False),
        ),
    ]


def _history_rules(table: str) -> list[ValueRule]:
    columns = ("hist_post_ids", "hist_author_ids", "hist_actions")
    return [
        _id_rule(table, "hist_post_ids[]"),
        _id_rule(table, "hist_author_ids[]"),
        _rule(
            table,
            "hist_actions[]",
            "action_index",
            f"history actions index ACTIONS {ACTIONS}: 0..{len(ACTIONS) - 1}",
            "log each action as its index in spark.schemas.ACTIONS",
            _values_rule("hist_actions[]", _between(0, len(ACTIONS) - 1)),
        ),
        _rule(
            table,
            "hist_post_ids",
            "max_length",
            f"a history holds at most {MAX_HISTORY} interactions",
            "keep the most recent interactions only",
            _list_max_length("hist_post_ids", MAX_HISTORY),
        ),
        _rule(
            table,
            ",".join(columns),
            "same_length",
            "hist_post_ids, hist_author_ids and hist_actions have one entry per interaction",
            "log the three lists together, one entry per interaction",
            _same_length(columns),
        ),
    ]


def _sessions_rules() -> list[ValueRule]:
    t = "feed_sessions"
    return [
        *_not_null_rules(t),
        _id_rule(t, "session_id"),
        _rule(
            t,
            "session_id",
            "unique",
            "one row per session_id",
            "log each session once (all copies are reported: which one is right is unknown)",
            _unique(("session_id",)),
        ),
        _id_rule(t, "member_id"),
        *_string_rules(t, "platform"),
        _hour_rule(t),
        _non_negative(t, "member_seniority"),
        _non_negative(t, "member_industry"),
        _non_negative(t, "member_country"),
        _finite_rule(t, "member_log_connections"),
        _non_negative(t, "member_log_connections"),
        *_history_rules(t),
        _rule(
            t,
            "served",
            "max_length",
            f"a session serves at most {MAX_SERVED} posts",
            "log the served list only (not the candidate pool)",
            _list_max_length("served", MAX_SERVED),
        ),
        _id_rule(t, "served[].post_id"),
        _rule(
            t,
            "served[].position",
            "in_served_list",
            "served positions are 0-based indexes into the served list: 0 <= position < "
            "len(served)",
            "log the 0-based position at which each post was served",
            _position_in_served_list,
        ),
        _rule(
            t,
            "served[].position",
            "unique_in_session",
            "no two served entries of a session share a position",
            "log one entry per served slot",
            _position_unique_in_session,
        ),
        _id_rule(t, "served[].author_id"),
        *_string_rules(t, "served[].content_type"),
        _non_negative(t, "served[].hashtag_ids[]"),
        _finite_rule(t, "served[].length"),
        _non_negative(t, "served[].length", null_is_bad=False),
        _finite_rule(t, "served[].post_age_hours"),
        _non_negative(t, "served[].post_age_hours", null_is_bad=False),
        _finite_rule(t, "served[].author_log_followers"),
        _non_negative(t, "served[].author_log_followers", null_is_bad=False),
        _finite_rule(t, "served[].ranker_score"),
    ]


def _impressions_rules() -> list[ValueRule]:
    t = "feed_impressions"
    labels = [_label_rule(t, label) for label in ACTIONS]
    return [
        *_not_null_rules(t),
        _id_rule(t, "session_id"),
        _id_rule(t, "member_id"),
        _id_rule(t, "post_id"),
        _rule(
            t,
            "position",
            "position_range",
            f"`position` is a 0-based served position: 0 <= position < {MAX_SERVED}",
            "log the 0-based position at which the post was served",
            _values_rule("position", _between(0, MAX_SERVED - 1)),
        ),
        *labels,
        _finite_rule(t, "dwell_seconds"),
        _rule(
            t,
            "dwell_seconds",
            "dwell_range",
            f"`dwell_seconds` is in [0, {MAX_DWELL_SECONDS:.0f}] (a day)",
            "log the seconds the post was on screen; clip or drop sessions left open",
            _values_rule("dwell_seconds", _finite_between(0.0, MAX_DWELL_SECONDS)),
        ),
        _rule(
            t,
            "session_id,post_id",
            "unique",
            "one impression per (session_id, post_id)",
            "log each impression once (all copies are reported: which one is right is "
            "unknown); a duplicate would train twice",
            _unique(("session_id", "post_id")),
        ),
        _rule(
            t,
            "session_id",
            "session_exists",
            "every impression's session_id is a row of that day's feed_sessions",
            "export the day's sessions and impressions together",
            _session_exists,
            references="feed_sessions",
        ),
        _rule(
            t,
            "member_id",
            "matches_session",
            "an impression's member_id is its session's member_id",
            "log the session's member on each impression",
            _member_matches_session,
            references="feed_sessions",
        ),
        _rule(
            t,
            "position",
            "matches_served",
            "(session_id, post_id, position) is one of the session's served entries",
            "log impressions of served posts only, at the position they were served",
            _impression_matches_served,
            references="feed_sessions",
        ),
    ]


def _posts_rules() -> list[ValueRule]:
    t = "posts"
    return [
        *_not_null_rules(t),
        _id_rule(t, "post_id"),
        _rule(
            t,
            "post_id",
            "unique",
            "one row per post_id",
            "log each post once (all copies are reported)",
            _unique(("post_id",)),
        ),
        _id_rule(t, "author_id"),
        *_string_rules(t, "content_type"),
        _non_negative(t, "hashtag_ids[]"),
        _finite_rule(t, "length"),
        _non_negative(t, "length"),
    ]


def _members_rules() -> list[ValueRule]:
    t = "members"
    return [
        *_not_null_rules(t),
        _id_rule(t, "member_id"),
        _rule(
            t,
            "member_id",
            "unique",
            "one row per member_id",
            "log each member once (all copies are reported)",
            _unique(("member_id",)),
        ),
        _non_negative(t, "seniority"),
        _non_negative(t, "industry"),
        _non_negative(t, "country"),
        _finite_rule(t, "log_connections"),
        _non_negative(t, "log_connections"),
        *_history_rules(t),
    ]


def _label_rule(table: str, label: str) -> ValueRule:
    return _rule(
        table,
        label,
        "domain_0_1",
        f"`{label}` is 0 or 1 (whether the action happened)",
        "log whether the action happened (0/1), not how many times: a count trains as a "
        "target above 1",
        _values_rule(label, _in_domain(0, 1)),
    )


def _hour_rule(table: str) -> ValueRule:
    return _rule(
        table,
        "hour",
        "hour_range",
        "`hour` is the hour of day, 0..23",
        "log the local hour of the session start",
        _values_rule("hour", _between(0, 23)),
    )


def _position_rule(table: str, column: str, what: str) -> ValueRule:
    return _rule(
        table,
        column,
        "position_range",
        f"`{column}` is a 0-based {what}: 0 <= {column} < {MAX_SERVED}",
        f"log the 0-based {what}",
        _values_rule(column, _between(0, MAX_SERVED - 1)),
    )


def _unique_rule(table: str, keys: tuple[str, ...], what: str) -> ValueRule:
    return _rule(
        table,
        ",".join(keys),
        "unique",
        f"one row per ({', '.join(keys)})" if len(keys) > 1 else f"one row per {keys[0]}",
        f"log each {what} once (all copies are reported: which one is right is unknown); a "
        "duplicate would train twice or make a join ambiguous",
        _unique(keys),
    )


def _closed_domain_rule(table: str, column: str, allowed: tuple[str, ...], why: str) -> ValueRule:
    return _rule(
        table,
        column,
        "in_domain",
        f"`{column}` is one of {list(allowed)} (a closed domain: {why})",
        f"map each value to one of {list(allowed)} in the export (spark/schemas.py documents "
        "each), or drop the rows (`value_policy` drop_rows)",
        _values_rule(column, _one_of(allowed)),
    )


def _no_action_rule(table: str, actions: tuple[str, ...]) -> ValueRule:
    return _rule(
        table,
        "impressed",
        "no_action_unimpressed",
        f"a row with `impressed` false has every action ({', '.join(actions)}) 0: a slot that "
        "was served but never on screen cannot be acted on",
        "log actions on impressed rows only (or set `impressed` true where the item was seen)",
        _no_action_unless_impressed(actions),
        shown=actions,
    )


def _ad_catalog_rules() -> list[ValueRule]:
    t = "ad_catalog"
    return [
        *_not_null_rules(t),
        _id_rule(t, "ad_id"),
        _unique_rule(t, ("ad_id",), "ad"),
        _id_rule(t, "campaign_id"),
        _id_rule(t, "advertiser_id"),
        _non_negative(t, "advertiser_industry"),
        _closed_domain_rule(
            t,
            "chargeability_group",
            CHARGEABILITY_GROUPS,
            "each group is one head of the Ads model",
        ),
        *_string_rules(t, "creative_type"),
        _finite_rule(t, "bid"),
        _rule(
            t,
            "bid",
            "positive",
            "`bid` is > 0 (the advertiser's bid per chargeable click; the auction ranks by "
            "pCTR x bid, so a bid <= 0 never wins)",
            "log the bid in the account currency; drop ads that are not bidding",
            _values_rule("bid", _positive),
        ),
    ]


def _ad_impressions_rules() -> list[ValueRule]:
    t = "ad_impressions"
    actions = (*AD_ACTIONS, "chargeable_click")
    return [
        *_not_null_rules(t),
        _id_rule(t, "session_id"),
        _id_rule(t, "member_id"),
        _id_rule(t, "ad_id"),
        *_string_rules(t, "platform"),
        _hour_rule(t),
        _position_rule(t, "slot", "ad slot of the session"),
        _position_rule(t, "feed_position", "position in the feed"),
        _unique_rule(t, ("session_id", "slot"), "served ad slot"),
        _finite_rule(t, "ranker_pctr"),
        _rule(
            t,
            "ranker_pctr",
            "open_unit_interval",
            "`ranker_pctr` is a probability in (0, 1) (the production ranker's predicted "
            "chargeable CTR; 0 or 1 has infinite log loss)",
            "log the ranker's calibrated probability, not a score or a percentage",
            _values_rule("ranker_pctr", _open_unit_interval),
        ),
        _finite_rule(t, "ranker_score"),
        *[_label_rule(t, action) for action in actions],
        _no_action_rule(t, actions),
        _rule(
            t,
            "ad_id",
            "in_catalog",
            "every impression's ad_id is a row of that day's ad_catalog",
            "export the day's live ads (ad_catalog) with its impressions; an unknown ad has no "
            "chargeability group, so no head to train",
            _ad_in_catalog,
            references="ad_catalog",
        ),
        _rule(
            t,
            "chargeable_click",
            "matches_group",
            "`chargeable_click` is 1 exactly when one of the actions of the ad's chargeability "
            f"group happened: group g of {list(CHARGEABILITY_GROUPS)} (ad_catalog) counts any "
            f"of {list(AD_ACTIONS)}[:g+1]",
            "derive chargeable_click from the actions and the ad's group in the export (or fix "
            "the ad's chargeability_group in ad_catalog)",
            _chargeable_matches_group,
            references="ad_catalog",
            shown=("ad_id", *AD_ACTIONS),
        ),
    ]


def _job_fields_rules(t: str, key: str) -> list[ValueRule]:
    """The fields job postings and member profiles share (ids, then taxonomy codes)."""
    return [
        *_not_null_rules(t),
        _id_rule(t, key),
        _unique_rule(t, (key,), key.removesuffix("_id")),
        _id_rule(t, "company_id"),
        _non_negative(t, "title_id"),
        _non_negative(t, "skill_ids[]"),
        _non_negative(t, "industry"),
        _non_negative(t, "seniority"),
        _non_negative(t, "country"),
    ]


def _job_impressions_rules() -> list[ValueRule]:
    t = "job_impressions"
    actions = ("click", "apply", "qualified_apply")
    return [
        *_not_null_rules(t),
        _id_rule(t, "session_id"),
        _id_rule(t, "member_id"),
        _id_rule(t, "job_id"),
        _closed_domain_rule(
            t, "channel", JOB_CHANNELS, "Job Search has a query, JYMBII recommends without one"
        ),
        _rule(
            t,
            "query_title_id",
            "matches_channel",
            f"`query_title_id` is -1 exactly for channel {JYMBII!r} (no query); a search's is "
            "the searched title, >= 0",
            "log -1 for JYMBII rows and the standardized title searched for search rows",
            _query_matches_channel,
            shown=("channel",),
        ),
        *_string_rules(t, "platform"),
        _hour_rule(t),
        _position_rule(t, "position", "served position"),
        _unique_rule(t, ("session_id", "position"), "served position of a session"),
        _finite_rule(t, "ranker_score"),
        *[_label_rule(t, action) for action in actions],
        _rule(
            t,
            "apply",
            "needs_click",
            "`apply` = 1 only where `click` = 1 (a member opens a job to apply)",
            "log the click of every application",
            _implies("apply", "click"),
            shown=("click",),
        ),
        _rule(
            t,
            "qualified_apply",
            "needs_apply",
            "`qualified_apply` = 1 only where `apply` = 1 (a qualified application is an "
            "application, spark/schemas.py)",
            "set qualified_apply from the application and the posting's bar",
            _implies("qualified_apply", "apply"),
            shown=("apply",),
        ),
        _no_action_rule(t, actions),
        _rule(
            t,
            "member_id",
            "has_profile",
            "every impression's member_id is a row of that day's member_profiles",
            "export the day's member_profiles snapshot with the impressions (the model reads "
            "the member's fields from it)",
            _member_has_profile,
            references="member_profiles",
        ),
    ]


VALUE_RULES: dict[str, tuple[ValueRule, ...]] = {
    "feed_sessions": tuple(_sessions_rules()),
    "feed_impressions": tuple(_impressions_rules()),
    "posts": tuple(_posts_rules()),
    "members": tuple(_members_rules()),
}
"""The value rules of each of the feed's raw tables, in the order they are reported."""

PRODUCT_VALUE_RULES: dict[str, tuple[ValueRule, ...]] = {
    "ad_catalog": tuple(_ad_catalog_rules()),
    "ad_impressions": tuple(_ad_impressions_rules()),
    "job_postings": tuple(_job_fields_rules("job_postings", "job_id")),
    "member_profiles": tuple(_job_fields_rules("member_profiles", "member_id")),
    "job_impressions": tuple(_job_impressions_rules()),
}
"""The value rules of each product table (`PRODUCT_TABLES`), in the order they are reported."""


def rules_of(table: str) -> tuple[ValueRule, ...]:
    """The value rules of `table`, a feed or product raw table (`LOG_TABLES`).

    Raises:
        ValueError: `table` is no raw table.
    """
    rules = VALUE_RULES.get(table, PRODUCT_VALUE_RULES.get(table))
    if rules is None:
        raise ValueError(
            f"no value rules for table {table!r}: it is not a raw table; expected one of "
            f"{sorted(LOG_TABLES)} (spark/schemas.py)"
        )
    return rules


def rule_violations(table: str, day: Mapping[str, pa.Table]) -> dict[str, np.ndarray]:
    """The bad-row mask of every rule of `table` (rules whose reference table is absent skipped).

    Args:
        table: a raw table name (feed or product, `LOG_TABLES`), a key of `day`.
        day: the day's tables, cast to their schemas (table name -> table).

    Returns:
        Rule name -> bool per row of `day[table]` (True: the row breaks the rule).
    """
    data = day[table]
    return {
        rule.name: rule.bad_rows(data, day)
        for rule in rules_of(table)
        if rule.references is None or rule.references in day
    }


RULES_BY_NAME: dict[str, ValueRule] = {
    rule.name: rule for rules in VALUE_RULES.values() for rule in rules
}
"""The feed's rules by name (`ALL_RULES_BY_NAME` adds the products')."""
PRODUCT_RULES_BY_NAME: dict[str, ValueRule] = {
    rule.name: rule for rules in PRODUCT_VALUE_RULES.values() for rule in rules
}
ALL_RULES_BY_NAME: dict[str, ValueRule] = {**RULES_BY_NAME, **PRODUCT_RULES_BY_NAME}

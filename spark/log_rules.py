"""Value rules of the raw-log contract: what every value of a user's logs must satisfy.

`spark.schemas` fixes the columns and types of the four raw tables; this module fixes their
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

from spark.schemas import ACTIONS, RAW_TABLES

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
}
"""The key of each raw table: shown beside every sample bad row."""

BadRows = Callable[[pa.Table, Mapping[str, pa.Table]], np.ndarray]
"""Given a table and the whole day (table name -> table), a bool per row: True breaks the rule."""


@dataclasses.dataclass(frozen=True)
class ValueRule:
    """One rule on the values of one column of one raw table.

    Args:
        table: the raw table (`spark.schemas.RAW_TABLES`).
        column: the column, dotted for nested fields (`served[].position`) or comma-joined for a
            rule on several columns (`session_id,post_id`).
        check: short name of the check (`domain_0_1`, `unique`, ...).
        description: what a good value is.
        fix: what to do about bad rows.
        bad_rows: which rows break it (see `BadRows`).
        references: the other table the rule reads (it is skipped when that table is absent).
    """

    table: str
    column: str
    check: str
    description: str
    fix: str
    bad_rows: BadRows
    references: str | None = None

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
) -> ValueRule:
    return ValueRule(table, column, check, description, fix, bad_rows, references)


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
        for field in RAW_TABLES[table]
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
        _rule(
            t,
            "hour",
            "hour_range",
            "`hour` is the hour of day, 0..23",
            "log the local hour of the session start",
            _values_rule("hour", _between(0, 23)),
        ),
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
    labels = [
        _rule(
            t,
            label,
            "domain_0_1",
            f"`{label}` is 0 or 1 (whether the action happened)",
            "log whether the action happened (0/1), not how many times: a count trains as a "
            "target above 1",
            _values_rule(label, _in_domain(0, 1)),
        )
        for label in ACTIONS
    ]
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


VALUE_RULES: dict[str, tuple[ValueRule, ...]] = {
    "feed_sessions": tuple(_sessions_rules()),
    "feed_impressions": tuple(_impressions_rules()),
    "posts": tuple(_posts_rules()),
    "members": tuple(_members_rules()),
}
"""The value rules of each raw table, in the order they are reported."""


def rule_violations(table: str, day: Mapping[str, pa.Table]) -> dict[str, np.ndarray]:
    """The bad-row mask of every rule of `table` (rules whose reference table is absent skipped).

    Args:
        table: a raw table name, a key of `day`.
        day: the day's tables, cast to `spark.schemas.RAW_TABLES` (table name -> table).

    Returns:
        Rule name -> bool per row of `day[table]` (True: the row breaks the rule).
    """
    data = day[table]
    return {
        rule.name: rule.bad_rows(data, day)
        for rule in VALUE_RULES[table]
        if rule.references is None or rule.references in day
    }


RULES_BY_NAME: dict[str, ValueRule] = {
    rule.name: rule for rules in VALUE_RULES.values() for rule in rules
}

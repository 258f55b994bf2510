"""Validation of user-supplied raw log partitions (Parquet or Avro) against the raw-log schemas.

A user can point the project at their own logs instead of the simulated world: the feed's and,
per product enabled, the Ads and Jobs products' (paper §1, §17). Each daily partition
`<logs>/<table>/date=YYYY-MM-DD/` holds `.parquet` and/or `.avro` files that must match the
table's schema: `spark.schemas.RAW_TABLES[table]` for the feed's tables,
`spark.schemas.PRODUCT_RAW_TABLES[product][table]` for a product's (`log_tables` lists the
tables of a choice of products; `spark.log_rules.LOG_TABLES` maps every one to its schema).
`validate_raw_partition` reads them, reports every problem with the file, the column, the
expected type and what to do, and returns one Arrow table cast to the exact schema.
`quarantine_partition` moves a bad partition aside so nothing downstream reads it;
`quarantine_bad_partition` does that for the partition a validation error names and returns the
error to raise (what the `raw_feed_logs` asset does).

`validate_raw_day` does this for the tables of a day it is given (the feed's four, plus the
tables of the products enabled) and then checks their values against the value rules of
`spark.log_rules` (ranges, label domains, uniqueness, referential integrity, UTF-8, finite
numerics; the products' cross-table rules: every ad impression's ad in the day's `ad_catalog`
with a chargeable click matching the ad's group, every job impression's member in the day's
`member_profiles`), applying each table's policy (`VALUE_POLICIES`): "quarantine" (default)
fails the day like a malformed file, "drop_rows" removes the bad rows and reports them
(`ValueReport`: counts per rule and sample rows). Dropping a parent row drops the rows that
reference it (`CASCADES`: a session's feed impressions, an ad's impressions, a member profile's
job impressions), so nothing written references a row that was not.

What happens to a bad day (nothing is written for it, so every downstream partition stays as it
was):

* malformed (a file unreadable, a column missing or of the wrong type, rows of another date):
  `LogValidationError`; the partition directory is moved to
  `<logs>/_quarantine/<table>/date=YYYY-MM-DD` (`QUARANTINE_DIR`, beside the tables, so the move
  is one rename on the same filesystem) and the error says where;
* bad values under the "quarantine" policy (or a table "drop_rows" left empty):
  `LogValueError`, naming the files, rules, counts and sample rows; each failing table's
  partition is moved to quarantine the same way;
* empty (no data file, or zero rows): `EmptyPartitionError`, reported but not moved (an export
  may still be filling the directory);
* missing: `FileNotFoundError`.

Type changes accepted (each one loses no value; anything else is an error):

* integer -> any integer type, when every value fits (checked at the cast: Avro has no int8, so
  a `click` column arrives as Avro `int`; an out-of-range value is an error naming the column);
* float16/float32 -> float64, float16 -> float32 (widening only: float64 -> float32 is rejected,
  since it rounds values; cast it in your export if that is what you want);
* large_string/string_view -> string, large_list -> list (same values, other offsets);
* the same rules recursively inside lists and structs; extra columns and struct fields are dropped.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from spark.log_rules import ALL_RULES_BY_NAME, KEY_COLUMNS, LOG_TABLES, resolve, rule_violations
from spark.schemas import PRODUCT_RAW_TABLES, RAW_TABLES

DATA_SUFFIXES: tuple[str, ...] = (".parquet", ".avro")
QUARANTINE_DIR = "_quarantine"
"""Quarantine root under the logs directory: `<logs>/_quarantine/<table>/date=YYYY-MM-DD`."""

_PARTITION_NAME = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")


def log_tables(products: Iterable[str] = ()) -> tuple[str, ...]:
    """The raw tables a user's logs bring each day: the feed's (`RAW_TABLES`), then the tables of
    each product in `products` (`PRODUCT_RAW_TABLES`, e.g. "ads": ad_catalog, ad_impressions).

    Raises:
        ValueError: a product that is not in `PRODUCT_RAW_TABLES`, or one listed twice; the
            message names it and the known products.
    """
    products = list(products)
    unknown = [product for product in products if product not in PRODUCT_RAW_TABLES]
    if unknown:
        raise ValueError(
            f"unknown products {unknown}: the products whose logs can be read are "
            f"{sorted(PRODUCT_RAW_TABLES)} (LIRANK_PRODUCTS, e.g. `ads,jobs`; empty: the feed "
            f"only). Received: products={products!r}"
        )
    repeated = sorted({product for product in products if products.count(product) > 1})
    if repeated:
        raise ValueError(
            f"products {repeated} are listed more than once; list each product once. "
            f"Received: products={products!r}"
        )
    return (*RAW_TABLES, *(table for product in products for table in PRODUCT_RAW_TABLES[product]))


class BadLogPartitionError(ValueError):
    """A raw log partition that must not be read downstream (quarantine it or fix it).

    Args:
        message: what is wrong (file, column, expected type) and what to do.
        partition: the partition directory (or file) that was validated.
        table: the raw table it belongs to.
    """

    def __init__(self, message: str, partition: Path | None = None, table: str | None = None):
        super().__init__(message)
        self.partition = partition
        self.table = table


class LogValidationError(BadLogPartitionError):
    """A file of the partition is unreadable or does not match the raw-log schema."""


class EmptyPartitionError(BadLogPartitionError):
    """The partition holds no rows."""


class QuarantinedPartitionError(LogValidationError):
    """A malformed partition that was moved to quarantine (`quarantined_to`; `moves` lists every
    partition moved, several when several tables of a day break value rules)."""

    def __init__(
        self,
        message: str,
        partition: Path,
        table: str | None,
        quarantined_to: Path,
        moves: tuple[tuple[Path, Path], ...] = (),
    ) -> None:
        super().__init__(message, partition, table)
        self.quarantined_to = quarantined_to
        self.moves = moves or ((partition, quarantined_to),)  # (partition, where it went)


def validate_raw_partition(path: Path, table: str) -> pa.Table:
    """Read and validate one raw log partition (a `date=YYYY-MM-DD` directory, or one file).

    Every `.parquet` / `.avro` file (names starting with `.` or `_` are skipped) is checked
    against the table's schema (`spark.log_rules.LOG_TABLES[table]`) on its own, so an error
    names the file at fault.

    Args:
        path: the partition directory, or a single data file.
        table: one of `spark.schemas.RAW_TABLES` or a product's table (`PRODUCT_RAW_TABLES`).

    Returns:
        All rows of the partition, cast to the exact schema, columns in schema order.

    Raises:
        ValueError: `table` is not a raw table (feed or product).
        FileNotFoundError: `path` does not exist.
        LogValidationError: a file is unreadable, misses a column, has a column of the wrong type,
            a value out of range of its type, or rows dated outside the partition's date.
        EmptyPartitionError: the partition has no data file or no rows.
    """
    return _load_partition(path, table).data


def _load_partition(path: Path, table: str) -> _Partition:
    if table not in LOG_TABLES:
        raise ValueError(f"`table` must be one of {sorted(LOG_TABLES)}. Received: table={table!r}")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"raw log partition {path} of `{table}` does not exist; write the day's logs there "
            f"(`<logs>/{table}/date=YYYY-MM-DD/*.parquet|*.avro`) or point the source elsewhere"
        )
    files = _data_files(path)
    if not files:
        raise EmptyPartitionError(
            f"raw log partition {path} of `{table}` has no .parquet or .avro file; "
            "write the day's logs there or quarantine the partition",
            path,
            table,
        )
    return _read_partition(path, table, files)


@dataclasses.dataclass(frozen=True)
class _Partition:
    """A validated partition: its rows and the file each row came from (for error messages)."""

    path: Path
    table: str
    data: pa.Table
    files: tuple[Path, ...]
    starts: np.ndarray  # first row of each file in `data`

    def where(self, row: int) -> str:
        """`<file> row <n>` of row `row` of `data` (n counted within the file, from 0)."""
        index = int(np.searchsorted(self.starts, row, side="right")) - 1
        return f"{self.files[index].name} row {row - int(self.starts[index])}"


def _read_partition(path: Path, table: str, files: list[Path]) -> _Partition:
    schema = LOG_TABLES[table]
    partition_date = _partition_date(path)
    try:
        tables = [
            _conform(_read_file(file, table), schema, file, table, partition_date) for file in files
        ]
    except LogValidationError as error:
        error.partition, error.table = path, table  # raised per file: name the partition too
        raise
    combined = pa.concat_tables(tables)
    if combined.num_rows == 0:
        where = f"date {partition_date.isoformat()}" if partition_date else "the partition"
        raise EmptyPartitionError(
            f"raw log partition {path} of `{table}` has zero rows for {where} "
            f"(files: {', '.join(file.name for file in files)}); an empty day would silently "
            "train on nothing: re-export the day's logs or quarantine the partition",
            path,
            table,
        )
    starts = np.cumsum([0] + [part.num_rows for part in tables[:-1]])
    return _Partition(path, table, combined.combine_chunks(), tuple(files), starts)


VALUE_POLICIES: tuple[str, ...] = ("quarantine", "drop_rows")
"""What rows breaking a value rule (`spark.log_rules`) do to their table's day:

* "quarantine" (default): the day fails, the table's partition moves to `<logs>/_quarantine` and
  nothing is written for the day; the error names the files, rules, counts and samples;
* "drop_rows": the bad rows are removed and reported (counts per rule, sample rows). Dropping a
  parent row drops the rows that reference it (`CASCADES`: a session's feed impressions,
  `IMPRESSIONS_OF_DROPPED_SESSIONS`; an ad's impressions; a member profile's job impressions),
  whatever the referencing table's policy. A table left with no row fails as under "quarantine".
"""
DEFAULT_VALUE_POLICY = "quarantine"
MAX_SAMPLES = 3
"""Sample bad rows shown per rule."""
IMPRESSIONS_OF_DROPPED_SESSIONS = "feed_impressions.session_id.dropped_with_session"
"""Report entry of impressions removed because their session was dropped (not a rule)."""
IMPRESSIONS_OF_DROPPED_ADS = "ad_impressions.ad_id.dropped_with_ad"
"""Report entry of ad impressions removed because their ad's catalog row was dropped."""
IMPRESSIONS_OF_DROPPED_PROFILES = "job_impressions.member_id.dropped_with_profile"
"""Report entry of job impressions removed because their member's profile row was dropped."""


@dataclasses.dataclass(frozen=True)
class Cascade:
    """Rows of `child` removed because the `parent` rows their `key` references were dropped.

    A key that some kept parent row still carries keeps its children (of duplicated parents, the
    copies are all dropped, so their children go too).
    """

    child: str
    key: str
    parent: str
    entry: str  # the report entry (`<child>.<key>.dropped_with_<what>`; no rule's name)
    description: str
    fix: str


CASCADES: tuple[Cascade, ...] = (
    Cascade(
        "feed_impressions",
        "session_id",
        "feed_sessions",
        IMPRESSIONS_OF_DROPPED_SESSIONS,
        "the impression's session was dropped by the feed_sessions policy",
        "fix the session's rows (see the feed_sessions rules) to keep its impressions",
    ),
    Cascade(
        "ad_impressions",
        "ad_id",
        "ad_catalog",
        IMPRESSIONS_OF_DROPPED_ADS,
        "the impression's ad was dropped by the ad_catalog policy (no chargeability group left "
        "to train its head)",
        "fix the ad's catalog row (see the ad_catalog rules) to keep its impressions",
    ),
    Cascade(
        "job_impressions",
        "member_id",
        "member_profiles",
        IMPRESSIONS_OF_DROPPED_PROFILES,
        "the impression's member profile was dropped by the member_profiles policy (the model "
        "reads the member's fields from it)",
        "fix the member's profile row (see the member_profiles rules) to keep the impressions",
    ),
)
"""What a dropped parent row takes with it. NOT CONFIRMED by the paper (our decision): job
impressions of a dropped job posting are kept, since postings live several days and the examples
stage checks each job against the postings live that day."""
CASCADE_ENTRIES: frozenset[str] = frozenset(cascade.entry for cascade in CASCADES)


class LogValueError(LogValidationError):
    """Values of a day break value rules under the "quarantine" policy; every partition named in
    `partitions` (one per failing table) is to be quarantined."""

    def __init__(self, message: str, partitions: tuple[Path, ...], tables: tuple[str, ...]):
        super().__init__(message, partitions[0], tables[0])
        self.partitions = partitions
        self.tables = tables


@dataclasses.dataclass(frozen=True)
class RuleViolation:
    """The rows of one table that break one rule.

    Args:
        rule: the rule's name, `<table>.<column>.<check>`.
        description: what a good value is.
        fix: what to do.
        bad_rows: how many rows break it.
        files: bad rows per file name.
        samples: up to `MAX_SAMPLES` bad rows, each `<file> row <n>: <column>=<value> (<key>)`.
    """

    rule: str
    description: str
    fix: str
    bad_rows: int
    files: dict[str, int]
    samples: tuple[str, ...]

    def describe(self, rows: int) -> str:
        files = ", ".join(f"{name}: {count}" for name, count in self.files.items())
        return (
            f"rule `{self.rule}`: {self.bad_rows} of {rows} rows ({files}) break it: "
            f"{self.description}. E.g. {'; '.join(self.samples)}. What to do: {self.fix}"
        )


@dataclasses.dataclass(frozen=True)
class ValueReport:
    """What the value rules found in one table of a day and what its policy did."""

    table: str
    policy: str
    rows_read: int
    rows_kept: int
    rules_checked: int
    violations: tuple[RuleViolation, ...]

    @property
    def dropped_rows(self) -> int:
        return self.rows_read - self.rows_kept

    def broken_rules(self) -> tuple[RuleViolation, ...]:
        """The violations of rules (rows dropped with their parent, `CASCADES`, are no rule's)."""
        return tuple(v for v in self.violations if v.rule not in CASCADE_ENTRIES)

    def rule_counts(self) -> dict[str, int]:
        """Rule -> bad rows, for the rules some row broke (a row may break several)."""
        return {violation.rule: violation.bad_rows for violation in self.violations}

    def as_json(self) -> dict[str, Any]:
        """Rule -> bad rows, files and samples (materialization metadata)."""
        return {
            violation.rule: {
                "bad_rows": violation.bad_rows,
                "files": violation.files,
                "samples": list(violation.samples),
            }
            for violation in self.violations
        }


@dataclasses.dataclass(frozen=True)
class ValidatedDay:
    """A day of raw logs that passed every check: the tables to write and what was dropped."""

    tables: dict[str, pa.Table]
    reports: dict[str, ValueReport]


def check_value_policy(value_policy: Mapping[str, str] | None) -> dict[str, str]:
    """The policy of every raw table, the feed's and the products' (`LOG_TABLES`):
    `value_policy`'s where given, else "quarantine".

    Raises:
        ValueError: a table that is not a raw table, or a policy not in `VALUE_POLICIES`.
    """
    value_policy = dict(value_policy or {})
    unknown = sorted(set(value_policy) - set(LOG_TABLES))
    if unknown:
        raise ValueError(
            f"`value_policy` names unknown tables {unknown}; its keys must be among "
            f"{sorted(LOG_TABLES)}. Received: value_policy={value_policy!r}"
        )
    bad = {table: policy for table, policy in value_policy.items() if policy not in VALUE_POLICIES}
    if bad:
        raise ValueError(
            f"`value_policy` values must be one of {list(VALUE_POLICIES)}. Received: {bad!r}"
        )
    return {table: value_policy.get(table, DEFAULT_VALUE_POLICY) for table in LOG_TABLES}


def validate_raw_day(
    partitions: Mapping[str, Path], value_policy: Mapping[str, str] | None = None
) -> ValidatedDay:
    """Validate the raw tables of one day, files then values, before anything is written.

    Every partition is read and checked as `validate_raw_partition` does; then every value rule
    of the table (`spark.log_rules.rules_of`) runs on it (the referential rules against the
    day's other tables: impressions against sessions, ad impressions against the ad catalog,
    job impressions against the member profiles; a rule whose other table is not given is
    skipped), each table's policy (`VALUE_POLICIES`) applies, and rows whose parent was dropped
    go too (`CASCADES`).

    Args:
        partitions: table name -> its partition directory for the day: the tables the caller
            validates (`log_tables(products)`: the feed's and the products enabled), any known
            raw table (`spark.log_rules.LOG_TABLES`).
        value_policy: table name -> "quarantine" (default) or "drop_rows".

    Returns:
        The tables to write (bad rows removed under "drop_rows") and a report per table.

    Raises:
        ValueError: an unknown table or policy.
        LogValidationError, EmptyPartitionError, FileNotFoundError: as `validate_raw_partition`.
        LogValueError: a table under "quarantine" has a bad value, or "drop_rows" left a table
            empty; it names the partitions, files, rules, counts, samples and what to do.
    """
    policies = check_value_policy(value_policy)
    loaded = {table: _load_partition(Path(path), table) for table, path in partitions.items()}
    day = {table: partition.data for table, partition in loaded.items()}
    masks = {table: rule_violations(table, day) for table in day}
    keep = {
        table: ~np.logical_or.reduce([np.zeros(day[table].num_rows, bool), *masks[table].values()])
        if policies[table] == "drop_rows"
        else np.ones(day[table].num_rows, dtype=bool)
        for table in day
    }
    for cascade in CASCADES:
        dropped = _children_of_dropped_parents(day, keep, cascade)
        if dropped is not None:
            keep[cascade.child] &= ~dropped
            masks[cascade.child][cascade.entry] = dropped
    reports = {
        table: ValueReport(
            table=table,
            policy=policies[table],
            rows_read=day[table].num_rows,
            rows_kept=int(keep[table].sum()),
            rules_checked=len(set(masks[table]) - CASCADE_ENTRIES),
            violations=tuple(
                _violation(loaded[table], name, mask)
                for name, mask in masks[table].items()
                if mask.any()
            ),
        )
        for table in day
    }
    failing = [
        table
        for table, report in reports.items()
        if (report.policy == "quarantine" and report.broken_rules()) or report.rows_kept == 0
    ]
    if failing:
        raise LogValueError(
            _value_error_message(loaded, reports, failing),
            tuple(loaded[table].path for table in failing),
            tuple(failing),
        )
    tables = {
        table: data if keep[table].all() else data.filter(pa.array(keep[table]))
        for table, data in day.items()
    }
    return ValidatedDay(tables, reports)


def _children_of_dropped_parents(
    day: Mapping[str, pa.Table], keep: Mapping[str, np.ndarray], cascade: Cascade
) -> np.ndarray | None:
    """Rows of `cascade.child` whose key only dropped parent rows carry (None: no parent
    dropped, or either table absent)."""
    if cascade.parent not in day or cascade.child not in day:
        return None
    if keep[cascade.parent].all():
        return None
    ids = day[cascade.parent].column(cascade.key).combine_chunks()
    dropped = ids.filter(pa.array(~keep[cascade.parent]))
    kept = ids.filter(pa.array(keep[cascade.parent]))
    key = day[cascade.child].column(cascade.key)
    of_dropped = pc.is_in(key, value_set=dropped.drop_null())
    of_kept = pc.is_in(key, value_set=kept.drop_null())
    return np.asarray(pc.and_(of_dropped, pc.invert(of_kept)).to_numpy(), dtype=bool)


def _violation(partition: _Partition, name: str, mask: np.ndarray) -> RuleViolation:
    rows = np.flatnonzero(mask)
    rule = ALL_RULES_BY_NAME.get(name)
    if rule is None:  # a cascade entry
        cascade = next(cascade for cascade in CASCADES if cascade.entry == name)
        description, fix, columns = cascade.description, cascade.fix, [cascade.key]
    else:
        description, fix = rule.description, rule.fix
        columns = [*rule.column.split(","), *rule.shown]
    file_index = np.searchsorted(partition.starts, rows, side="right") - 1
    counts = np.bincount(file_index, minlength=len(partition.files))
    return RuleViolation(
        rule=name,
        description=description,
        fix=fix,
        bad_rows=len(rows),
        files={file.name: int(n) for file, n in zip(partition.files, counts, strict=True) if n},
        samples=tuple(_sample(partition, int(row), columns) for row in rows[:MAX_SAMPLES]),
    )


def _sample(partition: _Partition, row: int, columns: list[str]) -> str:
    """`<file> row <n>: <column>=<value> (<key>=<value>)`, values shortened, bytes escaped."""
    one = partition.data.slice(row, 1)
    shown = []
    for path in columns:
        values, nested = resolve(one, path)
        if nested is None and pa.types.is_list(values.type):
            shown.append(f"len({path})={pc.list_value_length(values)[0].as_py()}")
        elif nested is None:
            shown.append(f"{path}={_shown(values)[0]}")
        else:
            items = _shown(values.slice(0, 10))
            more = ", ..." if len(values) > 10 else ""
            shown.append(f"{path}=[{', '.join(items)}{more}]")
    keys = [key for key in KEY_COLUMNS[partition.table] if key not in columns]
    key_text = ", ".join(f"{key}={_shown(one.column(key).combine_chunks())[0]}" for key in keys)
    return f"{partition.where(row)}: {', '.join(shown)}" + (f" ({key_text})" if keys else "")


def _shown(values: pa.Array, limit: int = 40) -> list[str]:
    """Values as short text; strings via their bytes, so invalid UTF-8 shows escaped."""
    if pa.types.is_string(values.type):
        values = values.view(pa.binary())
    shown = []
    for value in values.to_pylist():
        if isinstance(value, bytes):
            text = repr(value[:limit].decode("utf-8", "backslashreplace"))
            shown.append(text + (f"... ({len(value)} bytes)" if len(value) > limit else ""))
        else:
            shown.append(repr(value))
    return shown


def _value_error_message(
    loaded: Mapping[str, _Partition], reports: Mapping[str, ValueReport], failing: list[str]
) -> str:
    date = next(iter(loaded.values())).path.name
    parts = [f"bad values in the raw logs ({date}); nothing was written for this day."]
    for table in failing:
        report = reports[table]
        where = f"{loaded[table].path} (`{table}`, value_policy {report.policy})"
        if report.rows_kept == 0 and report.policy == "drop_rows":
            parts.append(f"{where}: every one of its {report.rows_read} rows was dropped:")
        else:
            parts.append(f"{where}:")
        parts += [f"- {violation.describe(report.rows_read)}" for violation in report.violations]
    tables = {table: "drop_rows" for table in failing}
    parts.append(
        "Correct these rows and re-export the day, or drop and report such rows instead with "
        f"FileLogs(value_policy={tables!r})."
    )
    return "\n".join(parts)


def quarantine_bad_partition(
    error: BadLogPartitionError, quarantine_root: Path | None = None
) -> BadLogPartitionError:
    """Quarantine the malformed partition `error` names; return the error to raise in its place.

    A `LogValidationError` partition is moved by `quarantine_partition` to `quarantine_root`
    (default: `<logs>/_quarantine`, the logs directory being two levels above the partition,
    `<logs>/<table>/date=...`), and a `QuarantinedPartitionError` is returned whose message is the
    validation error (file, column, expected type) plus where the files went and how to put them
    back. An `EmptyPartitionError`, or an error without a partition, is returned unchanged:
    nothing is moved.

    Args:
        error: what `validate_raw_partition` raised.
        quarantine_root: where quarantined partitions go (same filesystem as the logs).
    """
    if not isinstance(error, LogValidationError) or error.partition is None:
        return error
    if isinstance(error, QuarantinedPartitionError):
        return error
    sources = error.partitions if isinstance(error, LogValueError) else (error.partition,)
    moves = []
    for source in map(Path, sources):
        root = Path(quarantine_root) if quarantine_root else source.parent.parent / QUARANTINE_DIR
        moves.append((source, quarantine_partition(source, root)))
    moved = "; ".join(f"moved {source} to {target}" for source, target in moves)
    back = ", ".join(str(source) for source, _ in moves)
    return QuarantinedPartitionError(
        f"{error} QUARANTINED: {moved}; nothing was written for this day and every downstream "
        f"partition is unchanged. After fixing the files, move them back to {back} and "
        "materialize the day again.",
        Path(error.partition),
        error.table,
        moves[0][1],
        moves=tuple(moves),
    )


def quarantine_partition(path: Path, quarantine_root: Path) -> Path:
    """Move a bad partition directory aside, atomically, so nothing downstream reads it.

    The partition `<...>/<table>/date=YYYY-MM-DD` moves to
    `<quarantine_root>/<table>/date=YYYY-MM-DD` (with a unique suffix if that is taken) by one
    rename, so readers see the whole partition or none of it.

    Returns:
        The new location.

    Raises:
        FileNotFoundError: `path` does not exist.
        OSError: `quarantine_root` is on another filesystem (a rename cannot cross filesystems;
            choose a quarantine root on the same one as the logs).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"cannot quarantine {path}: it does not exist")
    target_dir = Path(quarantine_root) / path.parent.name
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / path.name
    if target.exists():
        target = target_dir / f"{path.name}.{uuid.uuid4().hex[:8]}"
    try:
        os.rename(path, target)
    except OSError as exc:
        raise OSError(
            f"could not move {path} to quarantine {target} ({exc}); the quarantine root must be on "
            "the same filesystem as the logs so that the move is one atomic rename"
        ) from exc
    return target


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        file
        for file in path.iterdir()
        if file.is_file() and file.suffix in DATA_SUFFIXES and not file.name.startswith((".", "_"))
    )


def _partition_date(path: Path) -> dt.date | None:
    directory = path if path.is_dir() else path.parent
    match = _PARTITION_NAME.match(directory.name)
    if match is None:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _read_file(file: Path, table: str) -> pa.Table:
    """Read one Parquet or Avro file; any read failure becomes a LogValidationError."""
    try:
        if file.suffix == ".avro":
            return _read_avro(file)
        return pq.ParquetFile(file).read()  # one file: no hive `date=` inference
    # Decoders signal corrupt input with many exception types; each is re-raised naming the file.
    except (
        pa.ArrowException,
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        IndexError,
    ) as exc:
        raise LogValidationError(
            f"cannot read {file} ({table}): {type(exc).__name__}: {str(exc).rstrip('. ?')}. "
            "The file is corrupt or not a valid Parquet/Avro file; re-export it or quarantine "
            "the partition"
        ) from exc


def _read_avro(file: Path) -> pa.Table:
    with file.open("rb") as handle:
        reader = fastavro.reader(handle)
        schema = _avro_to_arrow_schema(reader.writer_schema)
        records = list(reader)
    return pa.Table.from_pylist(records, schema=schema)


_AVRO_PRIMITIVES: dict[str, pa.DataType] = {
    "null": pa.null(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "long": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "string": pa.string(),
    "bytes": pa.binary(),
}


def _avro_to_arrow_schema(avro_schema: dict[str, Any]) -> pa.Schema:
    named: dict[str, pa.DataType] = {}
    record = _avro_to_arrow(avro_schema, named)
    if not pa.types.is_struct(record):
        raise ValueError(f"top-level Avro schema must be a record, found {avro_schema!r}")
    return pa.schema(list(record))


def _avro_to_arrow(avro: Any, named: dict[str, pa.DataType]) -> pa.DataType:
    if isinstance(avro, str):
        if avro in _AVRO_PRIMITIVES:
            return _AVRO_PRIMITIVES[avro]
        if avro in named:
            return named[avro]
        raise ValueError(f"unsupported Avro type {avro!r}")
    if isinstance(avro, list):
        members = [member for member in avro if member != "null"]
        if len(members) != 1:
            raise ValueError(f"unsupported Avro union {avro!r} (only [null, T] is supported)")
        return _avro_to_arrow(members[0], named)
    kind = avro["type"]
    logical = avro.get("logicalType")
    if logical == "date" and kind == "int":
        return pa.date32()
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return pa.timestamp("ms" if logical == "timestamp-millis" else "us", tz="UTC")
    if kind == "array":
        return pa.list_(_avro_to_arrow(avro["items"], named))
    if kind == "enum":
        result: pa.DataType = pa.string()
    elif kind == "record":
        result = pa.struct(
            [(field["name"], _avro_to_arrow(field["type"], named)) for field in avro["fields"]]
        )
    else:
        return _avro_to_arrow(kind, named)
    if "name" in avro:
        named[avro["name"]] = result
    return result


def _type_problem(expected: pa.DataType, found: pa.DataType, column: str) -> list[str]:
    """What is wrong with `found` as `expected` (empty when accepted); nested columns dotted."""
    if found.equals(expected):
        return []
    if pa.types.is_integer(expected) and pa.types.is_integer(found):
        return []
    if pa.types.is_floating(expected) and pa.types.is_floating(found):
        if found.bit_width <= expected.bit_width:
            return []
    if pa.types.is_string(expected) and (
        pa.types.is_large_string(found) or pa.types.is_string_view(found)
    ):
        return []
    if pa.types.is_list(expected) and (pa.types.is_list(found) or pa.types.is_large_list(found)):
        return _type_problem(expected.value_type, found.value_type, f"{column}[]")
    if pa.types.is_struct(expected) and pa.types.is_struct(found):
        problems = []
        for field in expected:
            nested = f"{column}.{field.name}"
            index = found.get_field_index(field.name)
            if index < 0:
                problems.append(f"column `{nested}` is missing (expected type {field.type})")
            else:
                problems += _type_problem(field.type, found.field(index).type, nested)
        return problems
    return [f"column `{column}` has type {found}, expected type {expected}"]


def _conform(
    data: pa.Table, schema: pa.Schema, file: Path, table: str, date: dt.date | None
) -> pa.Table:
    """Check one file's table against `schema` and cast it; errors name file, column and type."""
    problems = []
    for field in schema:
        if field.name not in data.column_names:
            problems.append(f"column `{field.name}` is missing (expected type {field.type})")
        else:
            problems += _type_problem(field.type, data.schema.field(field.name).type, field.name)
    if problems:
        raise LogValidationError(
            f"{file} does not match the `{table}` schema (version in spark/schemas.py): "
            + "; ".join(problems)
            + ". Re-export the file with these columns and types, or quarantine the partition"
        )
    columns = []
    for field in schema:
        try:
            columns.append(data.column(field.name).cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise LogValidationError(
                f"{file}: column `{field.name}` (type {data.schema.field(field.name).type}) "
                f"cannot be converted to the expected type {field.type}: {exc}. Fix the values "
                "or quarantine the partition"
            ) from exc
    conformed = pa.Table.from_arrays(columns, schema=schema)
    if date is not None and conformed.num_rows:
        dates = conformed.column("date").unique().to_pylist()
        if dates != [date]:
            shown = ", ".join(str(value) for value in dates[:5])
            raise LogValidationError(
                f"{file}: column `date` (expected type date32[day]) must equal the partition date "
                f"{date.isoformat()} on every row; found {shown}. Move the rows to their own "
                "partitions or quarantine this one"
            )
    return conformed

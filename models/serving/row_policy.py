"""The served model's per-row policy: which request rows it scores, which it rejects, and why.

A serving request is a batch of candidate rows (`saved_model.raw_signature`). One bad row must
neither fail the batch nor win it: a NaN or infinite dense value (or a negative `length`, whose
log1p is NaN) used to send its row to rank #1 with no error. The serving signature therefore
checks every row in the graph (TensorFlow ops, `row_status`) and returns, next to the scores, an
int32 `status` per row: 0 when the row was scored, else the bit mask of the rules it failed.

Policy (documented, and tested in tests/reliability/test_serving_safety.py):

* **Rejected row** (``status != 0``): every head probability is 0 and the score is
  `rejected_score(score_weights)` (-1 with the default non-negative weights): strictly below any
  score a valid row can get, so rejected rows sort last; every output is finite. The row's bad
  values are replaced by neutral ones before the model runs (`neutral_values`), so no op sees a
  NaN, an infinity or an out-of-range index.
* **Every other row** scores exactly as without the checks (bit-identical): the checks only read
  the request, and the model treats rows independently.
* **Unknown category** (a `content_type` or `platform` outside the model's learned vocabulary,
  or ""): not rejected; imputed to the out-of-vocabulary bucket (row 0 of its table, the same
  mapping as training) and scored. The `imputed` output says which rows (bit 1: content_type,
  bit 2: platform); `explain_imputed` names them.
* **Strings** (IDs and categories) are cut to `MAX_STRING_BYTES` bytes *before* hashing or
  lookup, so a request costs the same whatever its string lengths; a row with a longer string
  is rejected anyway (a real ID is never that long).
* Checks on the request as a whole (a missing column, a wrong dtype or rank, columns of
  different lengths) fail the request: use `saved_model.score_raw`, whose error names the column.

| bit | value | column | the row is rejected when |
|---|---|---|---|
| 0 | 1 | member_log_connections | NaN, infinite, or outside [0, 50] |
| 1 | 2 | length | NaN, infinite, or outside [0, 1e+07] |
| 2 | 4 | post_age_hours | NaN, infinite, or outside [0, 1e+06] |
| 3 | 8 | author_log_followers | NaN, infinite, or outside [0, 50] |
| 4 | 16 | member_seniority | negative |
| 5 | 32 | member_industry | negative |
| 6 | 64 | member_country | negative |
| 7 | 128 | position | negative |
| 8 | 256 | hour | outside [0, 23] |
| 9 | 512 | hist_actions | an entry outside [-1, len(ACTIONS) - 1] (-1 is padding) |
| 10 | 1024 | hashtag_ids | an entry below -1 (-1 is padding) |
| 11 | 2048 | member_id | string: "" or over 256 bytes; integer: negative |
| 12 | 4096 | author_id | string: "" or over 256 bytes; integer: negative |
| 13 | 8192 | hist_author_ids | string: an entry over 256 bytes; integer: an entry below -1 |
| 14 | 16384 | content_type | over 256 bytes |
| 15 | 32768 | platform | over 256 bytes |
| 16 | 65536 | (model output) | a head probability or the score came out NaN or infinite |
| 17 | 131072 | post_id | string: "" or over 256 bytes; integer: negative |
| 18 | 262144 | hist_post_ids | string: an entry over 256 bytes; integer: an entry below -1 |

Bits are never renumbered (a status logged by an older export keeps its meaning): the post ID
checks came with the post-ID history (example schema version 2), so they take the next bits.

The ranges are generous bounds of what the log contract can hold (log counts are log1p of
counts, so ≥ 0; 50 is log1p of 5e21), not the simulator's ranges: a user's logs may legitimately
go beyond the simulated world. `seniority`, `industry` and `country` have no upper bound: the
model takes them modulo its table size.

Example:

    out = served.signatures["serving_default"](**raw)
    for row in np.flatnonzero(out["status"].numpy()):
        print(row, explain_status(out["status"].numpy()[row]))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

import tensorflow as tf

from models.inputs.spec import (
    CATEGORICAL,
    DENSE,
    HISTORY_ID_COLUMNS,
    ID_COLUMNS,
    OOV_INDEX,
    PAD_ID,
    SCALAR_COLUMNS,
)
from spark.schemas import ACTIONS

# longest string (bytes) a row may hold in an ID or category; longer strings are cut to it before
# hashing (bounded cost) and the row is rejected
MAX_STRING_BYTES = 256
_INT32_MAX = 2**31 - 1

# raw float column -> (low, high): finite and within, inclusive (one entry per DENSE column)
FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "member_log_connections": (0.0, 50.0),
    "length": (0.0, 1e7),
    "post_age_hours": (0.0, 1e6),
    "author_log_followers": (0.0, 50.0),
}
# raw int32 column -> (low, high), inclusive (one entry per SCALAR_COLUMNS column)
INT_RANGES: dict[str, tuple[int, int]] = {
    "member_seniority": (0, _INT32_MAX),
    "member_industry": (0, _INT32_MAX),
    "member_country": (0, _INT32_MAX),
    "position": (0, _INT32_MAX),
    "hour": (0, 23),
}
HIST_ACTION_RANGE: tuple[int, int] = (PAD_ID, len(ACTIONS) - 1)
NON_FINITE_OUTPUT = "(model output)"
# ID columns checked by the bits after NON_FINITE_OUTPUT (added later; bits are never renumbered)
_LATER_IDS: tuple[str, ...] = ("post_id",)
_LATER_HISTORY_IDS: tuple[str, ...] = ("hist_post_ids",)


@dataclasses.dataclass(frozen=True)
class RowRule:
    """One bit of the `status` output: `column` failed `rule` (the row was rejected)."""

    bit: int
    column: str
    rule: str

    @property
    def value(self) -> int:
        """The rule's value in the status mask, 2**bit."""
        return 1 << self.bit


def _rules() -> tuple[RowRule, ...]:
    ids = f'string: "" or over {MAX_STRING_BYTES} bytes; integer: negative'
    history_ids = (
        f"string: an entry over {MAX_STRING_BYTES} bytes; integer: an entry below {PAD_ID}"
    )
    rules = [
        *(
            f"{column}: NaN, infinite, or outside [{lo:g}, {hi:g}]"
            for column, (lo, hi) in FLOAT_RANGES.items()
        ),
        *(
            f"{column}: negative" if hi == _INT32_MAX else f"{column}: outside [{lo}, {hi}]"
            for column, (lo, hi) in INT_RANGES.items()
        ),
        f"hist_actions: an entry outside [{HIST_ACTION_RANGE[0]}, {HIST_ACTION_RANGE[1]}]",
        f"hashtag_ids: an entry below {PAD_ID}",
        *(f"{column}: {ids}" for column, _ in ID_COLUMNS.values() if column not in _LATER_IDS),
        *(
            f"{column}: {history_ids}"
            for column in HISTORY_ID_COLUMNS
            if column not in _LATER_HISTORY_IDS
        ),
        *(f"{column}: over {MAX_STRING_BYTES} bytes" for column in CATEGORICAL.values()),
        f"{NON_FINITE_OUTPUT}: a head probability or the score is NaN or infinite",
        *(f"{column}: {ids}" for column in _LATER_IDS),
        *(f"{column}: {history_ids}" for column in _LATER_HISTORY_IDS),
    ]
    return tuple(RowRule(bit, *text.split(": ", 1)) for bit, text in enumerate(rules))


def _check_declarations() -> None:
    """Every raw float and int column has a declared range (a new DENSE column needs one)."""
    floats = {feature.column for feature in DENSE}
    if set(FLOAT_RANGES) != floats:
        raise ValueError(
            f"FLOAT_RANGES must declare a range for each DENSE column {sorted(floats)}. "
            f"Received: {sorted(FLOAT_RANGES)}"
        )
    ids = {column for column, _ in ID_COLUMNS.values()} | set(HISTORY_ID_COLUMNS)
    if not set(_LATER_IDS) | set(_LATER_HISTORY_IDS) <= ids:
        raise ValueError(f"the later ID rules must name ID columns {sorted(ids)}")
    if set(INT_RANGES) != set(SCALAR_COLUMNS.values()):
        raise ValueError(
            f"INT_RANGES must declare a range for each scalar column "
            f"{sorted(SCALAR_COLUMNS.values())}. Received: {sorted(INT_RANGES)}"
        )


_check_declarations()
RULES: tuple[RowRule, ...] = _rules()
RULE_OF_COLUMN: dict[str, RowRule] = {rule.column: rule for rule in RULES}
# the `imputed` output: categorical column -> its bit (the value fell in the OOV bucket)
IMPUTED_BITS: dict[str, int] = {column: bit for bit, column in enumerate(CATEGORICAL.values())}


def rejected_score(score_weights: Iterable[tuple[str, float]]) -> float:
    """The score of a rejected row: 1 below the lowest score Σ_h w_h P(h) a valid row can reach
    (P in [0, 1], so that is Σ_h min(w_h, 0)); -1 for non-negative weights."""
    return float(sum(min(weight, 0.0) for _, weight in score_weights)) - 1.0


def row_status(raw: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """int32 [n]: the `RULES` bit mask of each request row (0: the row may be scored).

    Reads the request as sent (before `bound_strings`); string lengths are read from the tensor
    headers, so a long string costs nothing here.
    """
    status = tf.zeros(tf.shape(raw["hour"]), tf.int32)

    def flag(column: str, bad: tf.Tensor) -> None:
        nonlocal status
        if bad.shape.rank == 2:
            bad = tf.reduce_any(bad, axis=1)
        status = tf.bitwise.bitwise_or(status, tf.where(bad, RULE_OF_COLUMN[column].value, 0))

    for column, (lo, hi) in FLOAT_RANGES.items():
        x = raw[column]
        flag(column, ~tf.math.is_finite(x) | (x < lo) | (x > hi))
    for column, (lo, hi) in INT_RANGES.items():
        x = raw[column]
        flag(column, (x < lo) | (x > hi))
    actions = raw["hist_actions"]
    flag("hist_actions", (actions < HIST_ACTION_RANGE[0]) | (actions > HIST_ACTION_RANGE[1]))
    flag("hashtag_ids", raw["hashtag_ids"] < PAD_ID)
    for column, _ in ID_COLUMNS.values():
        ids = raw[column]
        if ids.dtype == tf.string:
            length = tf.strings.length(ids)
            flag(column, tf.equal(length, 0) | (length > MAX_STRING_BYTES))
        else:
            flag(column, ids < 0)
    for column in HISTORY_ID_COLUMNS:
        history = raw[column]
        if history.dtype == tf.string:
            flag(column, tf.strings.length(history) > MAX_STRING_BYTES)
        else:
            flag(column, history < PAD_ID)
    for column in CATEGORICAL.values():
        flag(column, tf.strings.length(raw[column]) > MAX_STRING_BYTES)
    return status


def bound_strings(raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """`raw` with every string cut to its first `MAX_STRING_BYTES` bytes (a copy of at most that
    many bytes per string), so hashing and lookups cost the same whatever the lengths sent.
    Strings within the bound are unchanged."""
    return {
        key: tf.strings.substr(value, 0, MAX_STRING_BYTES, unit="BYTE")
        if value.dtype == tf.string
        else value
        for key, value in raw.items()
    }


def neutral_values(raw: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    """`raw` with each value that breaks its rule replaced by a neutral one (0 for a number,
    padding for a list entry), so the model never computes on NaN, infinities or out-of-range
    indices. Valid values, hence every valid row, are unchanged; strings are left as they are
    (see `bound_strings`; "" and negative IDs are padding, which the model masks)."""
    out = dict(raw)
    for column, (lo, hi) in FLOAT_RANGES.items():
        x = raw[column]
        out[column] = tf.where(tf.math.is_finite(x) & (x >= lo) & (x <= hi), x, tf.zeros_like(x))
    for column, (lo, hi) in INT_RANGES.items():
        x = raw[column]
        out[column] = tf.where((x >= lo) & (x <= hi), x, tf.zeros_like(x))
    actions = raw["hist_actions"]
    lo, hi = HIST_ACTION_RANGE
    out["hist_actions"] = tf.where(
        (actions >= lo) & (actions <= hi), actions, tf.fill(tf.shape(actions), PAD_ID)
    )
    hashtags = raw["hashtag_ids"]
    out["hashtag_ids"] = tf.maximum(hashtags, tf.cast(PAD_ID, hashtags.dtype))
    return out


def imputed_mask(inputs: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """int32 [n]: bit `IMPUTED_BITS[column]` set where the model input of a categorical column
    is the out-of-vocabulary bucket (an unknown value or "")."""
    mask = tf.zeros_like(inputs[next(iter(CATEGORICAL))], tf.int32)
    for key, column in CATEGORICAL.items():
        bit = 1 << IMPUTED_BITS[column]
        mask = tf.bitwise.bitwise_or(mask, tf.where(tf.equal(inputs[key], OOV_INDEX), bit, 0))
    return mask


def explain_status(status: int) -> list[str]:
    """The rules a `status` value reports, one line each naming the column, e.g.
    ``["length: NaN, infinite, or outside [0, 1e+07] (bit 1)"]``; [] for 0 (the row was
    scored)."""
    status = int(status)
    lines = [
        f"{rule.column}: {rule.rule} (bit {rule.bit})" for rule in RULES if status & rule.value
    ]
    unknown = status & ~sum(rule.value for rule in RULES)
    if unknown:
        lines.append(f"unknown status bits {unknown:#x}: a newer model than this code?")
    return lines


def explain_imputed(imputed: int) -> list[str]:
    """The categorical columns an `imputed` value reports as served from the OOV bucket."""
    return [
        f"{column}: not in the model's vocabulary (or empty); scored as out-of-vocabulary"
        for column, bit in IMPUTED_BITS.items()
        if int(imputed) & (1 << bit)
    ]

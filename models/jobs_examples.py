"""Model-ready Jobs examples: a day's job impressions joined with the postings and the profiles.

One output row per served job (paper §1, Job Search + JYMBII): `impressed` says whether the
member saw it, and only impressed rows train (`training_rows`), while evaluation re-ranks whole
slates (`models.evaluation.jobs.qualified_top_k` needs every served row). Each row carries

* the ids of the shared-matrix fields (`models.jobs.DEFAULT_FIELDS`): the member's title, skills
  (a list), company, industry and seniority from that day's profile, the same five of the job from
  its posting, and the searched title (`query_title`, -1 for JYMBII: padding, embedded as zeros);
* the dense features (`JOBS_DENSE_FEATURES`), with S_j the job's required skills, S_m the
  member's:

      channel_<c>       = [channel == c]                      (c in JOB_CHANNELS)
      skill_overlap     = |S_j ∩ S_m| / |S_j|                 (0 when the job lists no skill)
      title_equal       = [member title == job title]
      seniority_gap     = job seniority − member seniority
      country_match     = [same country],   industry_match = [same industry]
      posting_age_days  = impression date − posting date (days, ≥ 0)
      platform_<p>      = [platform == p]                     (p in JOBS_PLATFORMS; others: 0)

* `split`: "holdout" for a stable share of whole sessions (a splitmix64 hash of `session_id`,
  the same on every machine and run), "train" for the rest.

Every value rule of the log contract (`spark.schemas`: JOB_IMPRESSIONS, JOB_POSTINGS,
MEMBER_PROFILES) is checked first; a broken rule raises `ValueError` naming the table, the
column, the rule, how many rows break it, a few of them, and what to do.

NOT CONFIRMED by the paper: the dense features (the paper does not list the Jobs model's), the
hash split and its 10% holdout share.

Example:

    frame = jobs_examples(impressions, live_postings, profiles)
    rows = training_rows(frame)                       # impressed "train" rows
    inputs, labels = jobs_inputs(rows), jobs_labels(rows)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.jobs import DEFAULT_FIELDS, JOBS_DENSE_FEATURES, JOBS_HEADS, JOBS_PLATFORMS
from spark.schemas import JOB_CHANNELS, JOB_IMPRESSIONS, JOB_POSTINGS, MEMBER_PROFILES

__all__ = [
    "ACTION_COLUMNS",
    "JOBS_DENSE_FEATURES",
    "JOBS_EXAMPLE_COLUMNS",
    "LIST_FIELDS",
    "holdout_sessions",
    "jobs_examples",
    "jobs_inputs",
    "jobs_labels",
    "training_rows",
]

ACTION_COLUMNS: tuple[str, ...] = ("click", "apply", "qualified_apply")
FIELD_NAMES: tuple[str, ...] = tuple(field for field, _ in DEFAULT_FIELDS)
LIST_FIELDS: tuple[str, ...] = ("member_skills", "job_skills")
JOBS_EXAMPLE_COLUMNS: tuple[str, ...] = (
    "date",
    "session_id",
    "split",
    "member_id",
    "job_id",
    "channel",
    "position",
    "impressed",
    "ranker_score",
    *ACTION_COLUMNS,
    *FIELD_NAMES,
    *JOBS_DENSE_FEATURES,
)
# entity columns -> output field suffix (member_<suffix>, job_<suffix>)
_ENTITY_FIELDS = {
    "title_id": "title",
    "skill_ids": "skills",
    "company_id": "company",
    "industry": "industry",
    "seniority": "seniority",
    "country": "country",
}
_SAMPLES = 5


def _fail(table: str, column: str, rule: str, bad: pd.DataFrame | pd.Series, todo: str) -> None:
    samples = bad.head(_SAMPLES)
    shown = samples.to_dict("records") if isinstance(samples, pd.DataFrame) else samples.tolist()
    raise ValueError(
        f"{table}.{column}: {len(bad)} rows break the rule '{rule}' (e.g. {shown}). {todo}"
    )


def _check_columns(frame: pd.DataFrame, table: str, names: list[str]) -> None:
    missing = [name for name in names if name not in frame.columns]
    if missing:
        raise ValueError(
            f"{table} lacks the columns {missing} of its contract (spark.schemas). Received "
            f"columns: {list(frame.columns)}. Bring the table in the contract's schema."
        )


def _check_not_null(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> None:
    for column in columns:
        bad = frame[column].isna()
        if bad.any():
            _fail(table, column, "not null", frame.loc[bad, column], "Fill or drop those rows.")


def _check_unique(frame: pd.DataFrame, table: str, key: list[str], todo: str) -> None:
    bad = frame.duplicated(key, keep=False)
    if bad.any():
        _fail(table, "(" + ", ".join(key) + ")", "unique", frame.loc[bad, key], todo)


def _check_ids(frame: pd.DataFrame, table: str) -> None:
    """Entity ids are non-negative (a negative id is padding to the model, -1)."""
    for column in ("title_id", "company_id", "industry", "seniority", "country"):
        bad = frame[column] < 0
        if bad.any():
            _fail(
                table,
                column,
                ">= 0 (negative ids are padding)",
                frame.loc[bad, column],
                "Map the entity to a non-negative id.",
            )
    skills = frame["skill_ids"]
    broken = skills.map(lambda s: s is None or any(int(v) < 0 for v in s))
    if broken.any():
        _fail(
            table,
            "skill_ids",
            "a list of ids >= 0",
            skills[broken],
            "Give every row a list (possibly empty) of non-negative skill ids.",
        )


def _check_impressions(impressions: pd.DataFrame) -> None:
    table = "job_impressions"
    rows = impressions
    _check_not_null(rows, table, ("session_id", "member_id", "job_id", "position", "channel"))
    bad = ~rows["channel"].isin(JOB_CHANNELS)
    if bad.any():
        _fail(
            table,
            "channel",
            f"one of {JOB_CHANNELS}",
            rows.loc[bad, "channel"],
            "Map the channel to Job Search ('search') or JYMBII ('jymbii').",
        )
    jymbii = rows["channel"] == "jymbii"
    no_query = rows["query_title_id"] == -1
    bad = jymbii != no_query
    if bad.any():
        _fail(
            table,
            "query_title_id",
            "-1 exactly when channel == 'jymbii'",
            rows.loc[bad, ["session_id", "channel", "query_title_id"]],
            "A search row needs its searched title id (>= 0); a JYMBII row has none (-1).",
        )
    bad = ~jymbii & (rows["query_title_id"] < 0)
    if bad.any():
        _fail(
            table,
            "query_title_id",
            ">= 0 on search rows",
            rows.loc[bad, "query_title_id"],
            "Give search rows their searched title id.",
        )
    bad = rows["position"] < 0
    if bad.any():
        _fail(
            table,
            "position",
            ">= 0 (0-based served position)",
            rows.loc[bad, "position"],
            "Log 0-based positions.",
        )
    _check_unique(
        rows,
        table,
        ["session_id", "position"],
        "A session serves one job per position; deduplicate the log.",
    )
    _check_unique(
        rows, table, ["session_id", "job_id"], "A session serves a job once; deduplicate the log."
    )
    impressed = rows["impressed"]
    bad = impressed.isna() | ~impressed.isin([0, 1])
    if bad.any():
        _fail(table, "impressed", "a boolean", impressed[bad], "Log True/False.")
    for column in ACTION_COLUMNS:
        values = rows[column]
        bad = values.isna() | ~values.isin([0, 1])
        if bad.any():
            _fail(table, column, "in {0, 1}", values[bad], "Log actions as 0/1.")
        bad = (values == 1) & ~impressed.astype(bool)
        if bad.any():
            _fail(
                table,
                column,
                "0 where not impressed",
                rows.loc[bad, ["session_id", "job_id", "impressed", column]],
                "An unseen job cannot be acted on; fix the log's impressions or actions.",
            )
    for action, prerequisite in (("apply", "click"), ("qualified_apply", "apply")):
        bad = (rows[action] == 1) & (rows[prerequisite] == 0)
        if bad.any():
            _fail(
                table,
                action,
                f"{action} only with {prerequisite}",
                rows.loc[bad, ["session_id", "job_id", prerequisite, action]],
                f"Log {prerequisite} = 1 on every row with {action} = 1.",
            )
    score = pd.to_numeric(rows["ranker_score"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(score)
    if bad.any():
        _fail(
            table,
            "ranker_score",
            "finite",
            rows.loc[bad, "ranker_score"],
            "Log the production ranker's finite score of every served job.",
        )


def holdout_sessions(session_ids: np.ndarray, holdout_share: float) -> np.ndarray:
    """True for the sessions in the holdout: u(s) < `holdout_share`, with u(s) ∈ [0, 1) the top
    53 bits of splitmix64(s) (a fixed integer hash: the same split on every run and machine, and
    every row of a session on the same side)."""
    x = np.asarray(session_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(2**53) < holdout_share


def _days(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy().astype("datetime64[D]").astype(np.int64)


def _skill_overlap(job_skills: pd.Series, member_skills: pd.Series) -> np.ndarray:
    """|S_j ∩ S_m| / |S_j| per row, vectorized over (row, skill) pairs; 0 where S_j is empty."""
    n = len(job_skills)
    job_len = np.fromiter((len(s) for s in job_skills), dtype=np.int64, count=n)
    member_len = np.fromiter((len(s) for s in member_skills), dtype=np.int64, count=n)
    rows = np.arange(n, dtype=np.int64)

    def keys(skills: pd.Series, lengths: np.ndarray) -> np.ndarray:
        flat = np.concatenate([np.asarray(s, dtype=np.int64) for s in skills] or [np.zeros(0)])
        return np.repeat(rows, lengths) * (1 << 32) + flat.astype(np.int64)

    job_keys = np.unique(keys(job_skills, job_len))  # a skill listed twice counts once
    held = np.isin(job_keys, keys(member_skills, member_len))
    shared = np.bincount(job_keys[held] >> 32, minlength=n)
    distinct = np.bincount(job_keys >> 32, minlength=n)
    return np.where(distinct > 0, shared / np.maximum(distinct, 1), 0.0)


def jobs_examples(
    impressions: pd.DataFrame,
    postings: pd.DataFrame,
    profiles: pd.DataFrame,
    holdout_share: float = 0.1,
) -> pd.DataFrame:
    """Every served job of `impressions` with its fields, dense features, labels and split.

    Args:
        impressions: JOB_IMPRESSIONS rows (a day's, or several days').
        postings: JOB_POSTINGS rows of every posting live on those days (the caller concatenates
            the partitions of the last `job_lifetime_days` days); one row per job_id.
        profiles: MEMBER_PROFILES rows of the day's members; one row per member_id.
        holdout_share: share of sessions in the "holdout" split, in [0, 1).

    Returns:
        `JOBS_EXAMPLE_COLUMNS`, one row per impressions row, in the impressions' order.

    Raises:
        ValueError: a missing contract column or a broken value rule (see the module docstring);
            the message names the table, column, rule, count, samples and what to do.
    """
    if not 0.0 <= holdout_share < 1.0:
        raise ValueError(f"`holdout_share` must be in [0, 1). Received: {holdout_share}")
    _check_columns(impressions, "job_impressions", JOB_IMPRESSIONS.names)
    _check_columns(postings, "job_postings", JOB_POSTINGS.names)
    _check_columns(profiles, "member_profiles", MEMBER_PROFILES.names)
    _check_not_null(postings, "job_postings", tuple(JOB_POSTINGS.names))
    _check_not_null(profiles, "member_profiles", tuple(MEMBER_PROFILES.names))
    _check_unique(
        postings,
        "job_postings",
        ["job_id"],
        "Each posting must appear once among the live postings.",
    )
    _check_unique(
        profiles,
        "member_profiles",
        ["member_id"],
        "Pass one day's snapshot: one profile per member.",
    )
    _check_ids(postings, "job_postings")
    _check_ids(profiles, "member_profiles")
    _check_impressions(impressions)

    rows = impressions[JOB_IMPRESSIONS.names].reset_index(drop=True)
    unknown = ~rows["job_id"].isin(postings["job_id"])
    if unknown.any():
        _fail(
            "job_impressions",
            "job_id",
            "a posting among the live postings",
            rows.loc[unknown, ["session_id", "job_id"]],
            "Pass every posting live that day (the last job_lifetime_days days of job_postings).",
        )
    unknown = ~rows["member_id"].isin(profiles["member_id"])
    if unknown.any():
        _fail(
            "job_impressions",
            "member_id",
            "a member with a profile",
            rows.loc[unknown, ["session_id", "member_id"]],
            "Pass that day's member_profiles snapshot, covering every member served.",
        )

    job = postings[JOB_POSTINGS.names].rename(
        columns={
            "date": "posting_date",
            **{column: f"job_{suffix}" for column, suffix in _ENTITY_FIELDS.items()},
        }
    )
    member = (
        profiles[MEMBER_PROFILES.names]
        .drop(columns="date")
        .rename(columns={column: f"member_{suffix}" for column, suffix in _ENTITY_FIELDS.items()})
    )
    joined = rows.merge(job, on="job_id", how="left", validate="many_to_one").merge(
        member, on="member_id", how="left", validate="many_to_one"
    )
    age = _days(joined["date"]) - _days(joined["posting_date"])
    bad = age < 0
    if bad.any():
        _fail(
            "job_impressions",
            "date",
            "on or after the posting's creation date",
            joined.loc[bad, ["session_id", "job_id", "date", "posting_date"]],
            "Serve only postings created on or before the impression's date.",
        )

    out = pd.DataFrame(
        {
            "date": joined["date"],
            "session_id": joined["session_id"].astype(np.int64),
            "split": np.where(
                holdout_sessions(joined["session_id"].to_numpy(), holdout_share), "holdout", "train"
            ),
            "member_id": joined["member_id"].astype(np.int64),
            "job_id": joined["job_id"].astype(np.int64),
            "channel": joined["channel"].astype(str),
            "position": joined["position"].astype(np.int32),
            "impressed": joined["impressed"].astype(bool),
            "ranker_score": joined["ranker_score"].astype(np.float32),
        }
    )
    for column in ACTION_COLUMNS:
        out[column] = joined[column].astype(np.int8)
    for side in ("member", "job"):
        for suffix in ("title", "skills", "company", "industry", "seniority"):
            column = joined[f"{side}_{suffix}"]
            out[f"{side}_{suffix}"] = (
                [[int(v) for v in s] for s in column]
                if suffix == "skills"
                else column.astype(np.int64)
            )
    out["query_title"] = joined["query_title_id"].astype(np.int64)

    dense = {f"channel_{channel}": joined["channel"] == channel for channel in JOB_CHANNELS}
    dense["skill_overlap"] = _skill_overlap(joined["job_skills"], joined["member_skills"])
    dense["title_equal"] = joined["job_title"] == joined["member_title"]
    dense["seniority_gap"] = joined["job_seniority"] - joined["member_seniority"]
    dense["country_match"] = joined["job_country"] == joined["member_country"]
    dense["industry_match"] = joined["job_industry"] == joined["member_industry"]
    dense["posting_age_days"] = age
    for platform in JOBS_PLATFORMS:
        dense[f"platform_{platform}"] = joined["platform"] == platform
    for name in JOBS_DENSE_FEATURES:
        out[name] = np.asarray(dense[name], dtype=np.float32)
    return out[list(JOBS_EXAMPLE_COLUMNS)]


def training_rows(frame: pd.DataFrame, split: str | None = "train") -> pd.DataFrame:
    """The impressed rows of `split` ("train" | "holdout"; None: both) of a `jobs_examples`
    frame, re-indexed: what the model trains (or is judged) on."""
    keep = frame["impressed"].astype(bool)
    if split is not None:
        keep &= frame["split"] == split
    return frame[keep].reset_index(drop=True)


def _padded(values: pd.Series, field: str) -> np.ndarray:
    """A list column as int64 [n, L], -1 padded (L = max(1, longest list))."""
    lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int64, len(values))
    width = max(1, int(lengths.max(initial=0)))
    out = np.full((len(values), width), -1, dtype=np.int64)
    if lengths.sum():
        flat = np.concatenate([np.asarray(v, dtype=np.int64) for v in values if v is not None])
        rows = np.repeat(np.arange(len(values)), lengths)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, cols] = flat
    if (out[out != -1] < 0).any():
        raise ValueError(f"`{field}` holds negative ids other than -1 padding; ids are >= 0.")
    return out


def jobs_inputs(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The Jobs model's inputs: {field: int64 [n, L] (-1 padded; L = 1 for a single-valued
    field), "dense": float32 [n, len(JOBS_DENSE_FEATURES)]}.

    Raises:
        ValueError: a field or dense column is missing, null or (dense) non-finite.
    """
    _check_columns(frame, "jobs_examples", [*FIELD_NAMES, *JOBS_DENSE_FEATURES])
    inputs = {}
    for field in FIELD_NAMES:
        if field in LIST_FIELDS:
            inputs[field] = _padded(frame[field], field)
        else:
            _check_not_null(frame, "jobs_examples", (field,))
            inputs[field] = frame[field].to_numpy(dtype=np.int64).reshape(-1, 1)
    dense = frame[list(JOBS_DENSE_FEATURES)].to_numpy(dtype=np.float32)
    bad = ~np.isfinite(dense)
    if bad.any():
        columns = [JOBS_DENSE_FEATURES[c] for c in np.unique(np.nonzero(bad)[1])]
        _fail(
            "jobs_examples",
            "/".join(columns),
            "finite dense features",
            frame.loc[bad.any(axis=1), columns],
            "Recompute the examples.",
        )
    inputs["dense"] = dense
    return inputs


def jobs_labels(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The Jobs model's labels {"apply", "click"}: float32 [n] 0/1 per row."""
    _check_columns(frame, "jobs_examples", list(JOBS_HEADS))
    return {head: frame[head].to_numpy(dtype=np.float32) for head in JOBS_HEADS}

"""The review's verdicts: the model against each reference ranker, as differences with intervals.

Two measures, never a ratio without its interval:

- **Replay**: the model's contribution rate @1 minus the reference's, each on its own matched
  random-bucket impressions (independent samples), with Newcombe's interval
  (`rate_difference_interval`).
- **Ground truth** (simulator only): the mean over a day's random-bucket sessions of the model's
  #1-pick expected contributions minus the reference's on the *same* sessions, with a paired
  interval (`pooled_paired_interval`); far tighter than replay, so it decides when present.

`build_leaderboard` gives one row per day and model; `build_overview` pools every evaluated day
into one row per reference with a plain-words verdict.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from models.evaluation.intervals import pooled_paired_interval, rate_difference_interval

MODEL_SCORER = "model"
BASELINE_SCORER = "popularity_baseline"
PRODUCTION = "production"
RANDOM = "random"
# The references every verdict compares the model with (strongest first) → column prefix / name.
REFERENCES: dict[str, str] = {PRODUCTION: "production", BASELINE_SCORER: "popularity"}
TRUTH = "ground truth"
REPLAY = "replay"

_DIFFERENCE_TYPES: dict[str, str] = {
    "replay": "DOUBLE",
    "replay_low": "DOUBLE",
    "replay_high": "DOUBLE",
    "truth": "DOUBLE",
    "truth_low": "DOUBLE",
    "truth_high": "DOUBLE",
}
LEADERBOARD_SCHEMA: dict[str, str] = {
    "date": "DATE",
    "model_id": "VARCHAR",
    "mode": "VARCHAR",
    "train_rows": "BIGINT",
    "sessions": "BIGINT",
    "matched": "BIGINT",
    "contributions": "BIGINT",
    "model_rate": "DOUBLE",
    "model_ci_low": "DOUBLE",
    "model_ci_high": "DOUBLE",
    **{
        f"vs_{prefix}_{suffix}": sql_type
        for prefix in REFERENCES.values()
        for suffix, sql_type in _DIFFERENCE_TYPES.items()
    },
    "model_auc": "DOUBLE",
    "baseline_auc": "DOUBLE",
    "model_log_loss": "DOUBLE",
}
OVERVIEW_SCHEMA: dict[str, str] = {
    "reference": "VARCHAR",
    "replay_days": "BIGINT",
    "replay_difference": "DOUBLE",
    "replay_ci_low": "DOUBLE",
    "replay_ci_high": "DOUBLE",
    "truth_days": "BIGINT",
    "truth_sessions": "BIGINT",
    "truth_difference": "DOUBLE",
    "truth_ci_low": "DOUBLE",
    "truth_ci_high": "DOUBLE",
    "verdict": "VARCHAR",
    "decided_by": "VARCHAR",
}
_KEYS = ["date", "model_id"]
_OWN_RATE = {"rate": "model_rate", "ci_low": "model_ci_low", "ci_high": "model_ci_high"}


def verdict(low: float, high: float, reference: str) -> str:
    """The plain-words verdict of a 95% interval on model − reference.

    >>> verdict(-0.02, -0.01, "production")
    'model LOSES to production'
    """
    if reference not in REFERENCES:
        raise ValueError(f"`reference` must be one of {list(REFERENCES)}. Received: {reference!r}")
    name = REFERENCES[reference]
    if math.isnan(low) or math.isnan(high):
        return f"not enough data to compare with {name}"
    if low > 0:
        return f"model beats {name}"
    if high < 0:
        return f"model LOSES to {name}"
    return f"no significant difference from {name}"


def _replay_pairs(replay_metrics: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Model and reference replay counts side by side, one row per day and model with both."""
    counts = replay_metrics[[*_KEYS, "ranker", "contributions", "matched"]]
    return counts[counts["ranker"] == MODEL_SCORER].merge(
        counts[counts["ranker"] == reference],
        how="inner",
        on=_KEYS,
        suffixes=("_model", "_reference"),
    )


def _replay_difference(row: pd.Series) -> tuple[float, float, float]:
    return rate_difference_interval(
        int(row["contributions_model"]),
        int(row["matched_model"]),
        int(row["contributions_reference"]),
        int(row["matched_reference"]),
    )


def _differences(
    replay_metrics: pd.DataFrame, paired_differences: pd.DataFrame, reference: str
) -> pd.DataFrame:
    """Per day and model: the replay and ground-truth differences vs `reference` with intervals."""
    prefix = f"vs_{REFERENCES[reference]}_"
    pairs = _replay_pairs(replay_metrics, reference)
    replay = pd.DataFrame(
        [_replay_difference(row) for _, row in pairs.iterrows()],
        columns=["replay", "replay_low", "replay_high"],
        index=pairs.index,
        dtype="float64",
    )
    replay = pd.concat([pairs[_KEYS], replay], axis=1)
    paired = paired_differences[paired_differences["reference"] == reference]
    truth = pd.DataFrame(
        [
            pooled_paired_interval([row.sessions], [row.mean_difference], [row.variance])
            for row in paired.itertuples()
        ],
        columns=["truth", "truth_low", "truth_high"],
        index=paired.index,
        dtype="float64",
    )
    truth = pd.concat([paired[_KEYS], truth], axis=1)
    both = replay.merge(truth, how="outer", on=_KEYS)
    return both.rename(columns={name: prefix + name for name in _DIFFERENCE_TYPES})


def build_leaderboard(
    models: pd.DataFrame,
    offline_metrics: pd.DataFrame,
    replay_metrics: pd.DataFrame,
    paired_differences: pd.DataFrame,
) -> pd.DataFrame:
    """One row per evaluated day and the model that ranked it (the (date, model_id) pairs of
    the metrics tables: under the next-day protocol, day D and the model of day D−1), columns
    `LEADERBOARD_SCHEMA`; the ranking model's mode and training rows are joined by model_id.

    The model's replay rate and Wilson interval come from `replay_metrics` as stored; for each
    reference in `REFERENCES`, `vs_<name>_replay[_low|_high]` is model − reference replay rate
    (Newcombe) and `vs_<name>_truth[_low|_high]` the paired ground-truth difference in expected
    contributions per session (NaN without a ground truth); AUC and log loss are means over heads
    (NaN heads left out). Inputs carry the snapshot's typed contract columns.
    """
    keys = (
        pd.concat([frame[_KEYS] for frame in (offline_metrics, replay_metrics, paired_differences)])
        .drop_duplicates()
        .reset_index(drop=True)
    )
    own = replay_metrics[replay_metrics["ranker"] == MODEL_SCORER].rename(columns=_OWN_RATE)
    scores = offline_metrics.groupby([*_KEYS, "scorer"])[["auc", "log_loss"]].mean().unstack()
    auc = pd.DataFrame(
        {
            "model_auc": _column(scores, ("auc", MODEL_SCORER)),
            "baseline_auc": _column(scores, ("auc", BASELINE_SCORER)),
            "model_log_loss": _column(scores, ("log_loss", MODEL_SCORER)),
        },
        index=scores.index,
    ).reset_index()
    trained = models[["model_id", "mode", "train_rows"]].drop_duplicates("model_id", keep="last")
    board = keys.merge(trained, how="left", on="model_id")
    board = board.merge(
        own[[*_KEYS, "sessions", "matched", "contributions", *_OWN_RATE.values()]],
        how="left",
        on=_KEYS,
    )
    for reference in REFERENCES:
        board = board.merge(
            _differences(replay_metrics, paired_differences, reference), how="left", on=_KEYS
        )
    board = board.merge(auc, how="left", on=_KEYS)
    return board[list(LEADERBOARD_SCHEMA)].sort_values(_KEYS, ignore_index=True)


def _column(frame: pd.DataFrame, key: tuple[str, str]) -> pd.Series:
    return frame[key] if key in frame.columns else pd.Series(np.nan, index=frame.index)


def _overview_row(
    replay_metrics: pd.DataFrame, paired_differences: pd.DataFrame, reference: str
) -> dict[str, object]:
    pairs = _replay_pairs(replay_metrics, reference)
    replay = rate_difference_interval(
        int(pairs["contributions_model"].sum()),
        int(pairs["matched_model"].sum()),
        int(pairs["contributions_reference"].sum()),
        int(pairs["matched_reference"].sum()),
    )
    paired = paired_differences[
        (paired_differences["reference"] == reference) & (paired_differences["sessions"] > 0)
    ]
    truth = pooled_paired_interval(
        paired["sessions"].to_numpy(),
        paired["mean_difference"].to_numpy(),
        paired["variance"].to_numpy(),
    )
    decided_by = (
        TRUTH if not math.isnan(truth[1]) else REPLAY if not math.isnan(replay[1]) else None
    )
    low, high = (truth if decided_by == TRUTH else replay)[1:]
    return {
        "reference": reference,
        "replay_days": int(pairs["date"].nunique()),
        "replay_difference": replay[0],
        "replay_ci_low": replay[1],
        "replay_ci_high": replay[2],
        "truth_days": int(paired["date"].nunique()),
        "truth_sessions": int(paired["sessions"].sum()),
        "truth_difference": truth[0],
        "truth_ci_low": truth[1],
        "truth_ci_high": truth[2],
        "verdict": verdict(low, high, reference),
        "decided_by": decided_by,
    }


def build_overview(replay_metrics: pd.DataFrame, paired_differences: pd.DataFrame) -> pd.DataFrame:
    """One row per reference in `REFERENCES` (production first), pooled over every evaluated day,
    columns `OVERVIEW_SCHEMA`; empty when the model has neither replay nor ground-truth rows.

    Replay pools exactly: contributions and matched impressions are summed over the days where
    both the model and the reference were replayed, then `rate_difference_interval`. The ground
    truth pools the days' (sessions, mean, variance) with `pooled_paired_interval`. The verdict
    follows the ground truth's interval when there is one (`decided_by` = 'ground truth'), else
    replay's ('replay').
    """
    has_model = (replay_metrics["ranker"] == MODEL_SCORER).any() or not paired_differences.empty
    rows = (
        [_overview_row(replay_metrics, paired_differences, ref) for ref in REFERENCES]
        if has_model
        else []
    )
    return pd.DataFrame(rows, columns=list(OVERVIEW_SCHEMA))

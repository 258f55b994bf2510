"""Offline evaluation of Jobs rankers: per-head metrics, the qualified applications of the top-k,
and the verdict against the production ranker (paper §1, §17: Jobs reports apply/click AUC
offline and qualified applications online, +1.76% for LiRank).

Pure pandas/numpy over a `models.jobs_examples` frame (every served row of a day) and scorers'
values aligned with its rows:

* `jobs_metrics`: on impressed rows, per scorer and head, AUC with DeLong's 95% interval, and for
  probabilities log loss, the binned ECE and observed/expected (Σy / Σp). A raw score (the
  production `ranker_score`) gets AUC only.
* `qualified_top_k`: re-ranks each session's served jobs by a scorer and takes the top k; the
  session's value is the mean over those k jobs of the ground truth's P(qualified application |
  examined). Production is the logged order. A t interval over sessions per ranker, and a paired
  one (d_s = value_model,s − value_production,s) for the difference.
* `paired_auc_delta` and `jobs_verdict`: the model against production on the two headline
  metrics, "wins" / "loses" when the 95% interval of the difference excludes 0 (DeLong's paired
  interval for the AUC when given, else a conservative one from the two AUC intervals).

NOT CONFIRMED by the paper: k (3: the jobs a member reads first), the value given examination
(it measures the chosen jobs, not the position bias of the slate), the t and DeLong intervals.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
from scipy.stats import norm
from scipy.stats import t as student_t

from models.evaluation.gate import expected_calibration_error, paired_auc_difference
from models.evaluation.intervals import CONFIDENCE
from models.evaluation.metrics import calibration_ratio, log_loss
from models.evaluation.segments import auc_interval
from models.jobs import JOBS_HEADS

PRODUCTION = "production"
JOBS_METRIC_COLUMNS: tuple[str, ...] = (
    "scorer",
    "head",
    "rows",
    "positives",
    "auc",
    "auc_lo",
    "auc_hi",
    "log_loss",
    "ece",
    "observed_expected",
)
QUALIFIED_TOP_K_COLUMNS: tuple[str, ...] = (
    "ranker",
    "k",
    "sessions",
    "qualified_rate",
    "qualified_lo",
    "qualified_hi",
    "delta_vs_production",
    "delta_lo",
    "delta_hi",
)
JOBS_VERDICT_COLUMNS: tuple[str, ...] = (
    "product",
    "metric",
    "model_value",
    "production_value",
    "delta",
    "delta_lo",
    "delta_hi",
    "verdict",
)
VERDICTS: tuple[str, ...] = ("wins", "loses", "no significant difference")
TOP_K_METRIC = "qualified_applications_top_k"
AUC_METRIC = "apply_auc"
ECE_BINS = 10


def _aligned(frame: pd.DataFrame, name: str, values, probability: bool) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if len(array) != len(frame):
        raise ValueError(
            f"scorer {name!r} has {len(array)} values for {len(frame)} rows of the frame; pass "
            "one value per row of the frame (every served row, in its order)."
        )
    bad = ~np.isfinite(array) | (((array < 0) | (array > 1)) if probability else False)
    if bad.any():
        rule = "a probability in [0, 1]" if probability else "finite"
        raise ValueError(
            f"scorer {name!r}: {int(bad.sum())} values are not {rule} (e.g. "
            f"{array[bad][:5].tolist()}). Fix the scorer, or list it outside `probabilities` "
            "if it is a raw score."
        )
    return array


def jobs_metrics(
    frame: pd.DataFrame,
    scorers: Mapping[str, Mapping[str, np.ndarray]],
    probabilities: Collection[str] | None = None,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Per scorer and head, on the impressed rows of `frame`: AUC (DeLong interval), log loss,
    ECE = Σ_b (n_b/n)|ȳ_b − p̄_b| over 10 equal-width bins, observed/expected = Σy / Σp.

    Args:
        frame: a `jobs_examples` frame (columns `impressed`, `apply`, `click`).
        scorers: name -> {head: values aligned with `frame`'s rows}; heads among "apply",
            "click" (e.g. {"model": probs, "production": {"apply": ranker_score, ...}}).
        probabilities: the scorers whose values are probabilities (None: every scorer but
            "production", whose `ranker_score` is a raw score). The others get NaN log loss,
            ECE and observed/expected: those need probabilities.
        confidence: of the AUC interval.

    Returns:
        `JOBS_METRIC_COLUMNS`, one row per (scorer, head) in the scorers' order.
    """
    if probabilities is None:
        probabilities = {name for name in scorers if name != PRODUCTION}
    impressed = frame["impressed"].to_numpy(dtype=bool)
    rows = []
    for name, heads in scorers.items():
        unknown = sorted(set(heads) - set(JOBS_HEADS))
        if unknown:
            raise ValueError(f"scorer {name!r} has unknown heads {unknown}; heads: {JOBS_HEADS}")
        is_probability = name in probabilities
        for head in (h for h in JOBS_HEADS if h in heads):
            values = _aligned(frame, name, heads[head], is_probability)[impressed]
            labels = frame[head].to_numpy(dtype=np.float64)[impressed]
            value, low, high = auc_interval(labels, values, confidence)
            nan = float("nan")
            rows.append(
                {
                    "scorer": name,
                    "head": head,
                    "rows": int(labels.size),
                    "positives": int(labels.sum()),
                    "auc": value,
                    "auc_lo": low,
                    "auc_hi": high,
                    "log_loss": log_loss(labels, values) if is_probability else nan,
                    "ece": (
                        expected_calibration_error(labels, values, ECE_BINS)
                        if is_probability
                        else nan
                    ),
                    "observed_expected": (
                        calibration_ratio(labels, values) if is_probability else nan
                    ),
                }
            )
    return pd.DataFrame(rows, columns=list(JOBS_METRIC_COLUMNS))


def paired_auc_delta(
    frame: pd.DataFrame,
    model: np.ndarray,
    production: np.ndarray,
    head: str = "apply",
    confidence: float = CONFIDENCE,
) -> tuple[float, float, float]:
    """AUC_model − AUC_production on the impressed rows of `frame` for `head`, with DeLong's
    paired interval (both score the same rows; `gate.paired_auc_difference`): (Δ, lo, hi).
    Both score arrays are aligned with `frame`'s rows; AUC is rank-based, so a raw score
    (`ranker_score`) compares with a probability. NaN when a class has fewer than 2 rows."""
    impressed = frame["impressed"].to_numpy(dtype=bool)
    labels = frame[head].to_numpy(dtype=np.float64)[impressed]
    a = _aligned(frame, "model", model, probability=False)[impressed]
    b = _aligned(frame, PRODUCTION, production, probability=False)[impressed]
    delta, error = paired_auc_difference(labels, a, b)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    return delta, delta - z * error, delta + z * error


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """mean ± t_{n−1} · s / √n; NaN bounds with fewer than 2 values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan
    half = float(student_t.ppf(0.5 + confidence / 2.0, n - 1)) * float(values.std(ddof=1))
    half /= math.sqrt(n)
    return mean, mean - half, mean + half


def _session_values(
    sessions: np.ndarray, order_key: np.ndarray, position: np.ndarray, truth: np.ndarray, k: int
) -> np.ndarray:
    """Per session (sorted session order): mean truth of its k rows with the highest key (ties:
    lower served position first)."""
    order = np.lexsort((position, -order_key, sessions))
    sorted_sessions = sessions[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_sessions)) + 1]
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    top = rank < k
    groups = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(order)]))[top]
    total = np.bincount(groups, weights=truth[order][top], minlength=len(starts))
    count = np.bincount(groups, minlength=len(starts))
    return total / count


def qualified_top_k(
    frame: pd.DataFrame,
    truth: pd.DataFrame,
    scores: Mapping[str, np.ndarray],
    k: int = 3,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """The qualified-application rate of each ranker's top-k, from the ground truth.

    For each session s (all its served rows, impressed or not) and ranker r, the top k rows by
    r's score (ties: lower served position first; a session serving fewer than k jobs takes them
    all) and

        v_r,s = mean over the top k of p_qualified_apply (P(qualified application | examined))
        rate_r = mean_s v_r,s  ± t · sd_s(v_r,s) / √S
        Δ_r = mean_s (v_r,s − v_production,s)  ± t · sd_s(v_r,s − v_production,s) / √S

    "production" is the logged order (ascending `position`) and is always the first row.

    Args:
        frame: a `jobs_examples` frame (session_id, job_id, position).
        truth: JOBS_GROUND_TRUTH rows covering every served (session_id, job_id) of `frame`.
        scores: ranker name -> score per row of `frame` (higher ranks first); "production" is
            reserved for the logged order.
        k: the top k, a positive int.
        confidence: of the intervals.

    Returns:
        `QUALIFIED_TOP_K_COLUMNS`, one row per ranker (production first).

    Raises:
        ValueError: bad k, a reserved or misaligned score, duplicate truth keys, or a served row
            without truth (naming how many and which).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise ValueError(f"`k` must be a positive integer. Received: k={k!r}")
    if PRODUCTION in scores:
        raise ValueError(
            f"{PRODUCTION!r} is the logged order (position) and is added by qualified_top_k; "
            "pass the other rankers' scores only."
        )
    key = ["session_id", "job_id"]
    duplicated = truth.duplicated(key, keep=False)
    if duplicated.any():
        raise ValueError(
            f"jobs_ground_truth.(session_id, job_id): {int(duplicated.sum())} rows break the "
            f"rule 'unique' (e.g. {truth.loc[duplicated, key].head(5).to_dict('records')}). "
            "Pass one truth row per served job."
        )
    joined = frame[key].merge(
        truth[[*key, "p_qualified_apply"]], on=key, how="left", validate="many_to_one"
    )
    missing = joined["p_qualified_apply"].isna()
    if missing.any():
        raise ValueError(
            f"jobs_ground_truth: {int(missing.sum())} served rows have no truth row (e.g. "
            f"{joined.loc[missing, key].head(5).to_dict('records')}). Pass the ground truth of "
            "the same days and sessions as the frame."
        )
    value = joined["p_qualified_apply"].to_numpy(dtype=np.float64)
    sessions = frame["session_id"].to_numpy(dtype=np.int64)
    position = frame["position"].to_numpy(dtype=np.float64)
    rankers = {PRODUCTION: -position}
    for name, score in scores.items():
        rankers[name] = _aligned(frame, name, score, probability=False)
    per_session = {
        name: _session_values(sessions, score, position, value, k)
        for name, score in rankers.items()
    }
    rows = []
    for name, values in per_session.items():
        rate, low, high = _t_interval(values, confidence)
        if name == PRODUCTION:
            delta, delta_low, delta_high = 0.0, 0.0, 0.0
        else:
            delta, delta_low, delta_high = _t_interval(values - per_session[PRODUCTION], confidence)
        rows.append(
            {
                "ranker": name,
                "k": k,
                "sessions": int(len(values)),
                "qualified_rate": rate,
                "qualified_lo": low,
                "qualified_hi": high,
                "delta_vs_production": delta,
                "delta_lo": delta_low,
                "delta_hi": delta_high,
            }
        )
    return pd.DataFrame(rows, columns=list(QUALIFIED_TOP_K_COLUMNS))


def verdict(delta_lo: float, delta_hi: float) -> str:
    """'wins' when the interval of model − production lies above 0, 'loses' below 0, else (or
    when it is undefined, NaN) 'no significant difference'."""
    if delta_lo > 0:
        return "wins"
    if delta_hi < 0:
        return "loses"
    return "no significant difference"


def _only_model(names: list[str], table: str) -> str:
    others = [name for name in names if name != PRODUCTION]
    if len(others) != 1:
        raise ValueError(
            f"{table} holds the rankers {names}; pass `model=` to say which one is the model."
        )
    return others[0]


def _row_of(table: pd.DataFrame, column: str, name: str, what: str) -> pd.Series:
    rows = table[table[column] == name]
    if len(rows) != 1:
        raise ValueError(
            f"{what} needs one row of {column} == {name!r}; it has {len(rows)} "
            f"(present: {table[column].tolist()})."
        )
    return rows.iloc[0]


def jobs_verdict(
    topk: pd.DataFrame | None,
    metrics: pd.DataFrame,
    apply_auc_delta: tuple[float, float, float] | None = None,
    model: str | None = None,
) -> pd.DataFrame:
    """The model against production on the Jobs headline metrics.

    Rows: "qualified_applications_top_k" (from `qualified_top_k`: the model's and production's
    rates, the paired Δ and its interval; left out when `topk` is None, e.g. a user's logs
    without ground truth) and "apply_auc" (the "apply" rows of `jobs_metrics` for the model and
    production). The AUC difference's interval is DeLong's paired one when `apply_auc_delta`
    (from `paired_auc_delta(frame, model_apply, ranker_score)`, the same impressed rows) is
    given; without it, Δ ± (h_model + h_production) from the two AUCs' own interval half-widths
    h: valid whatever the correlation of the two scorers, but wider than the paired interval.
    The verdict is `verdict(delta_lo, delta_hi)`.

    Args:
        topk: a `qualified_top_k` table (production and the model), or None.
        metrics: a `jobs_metrics` table with the model's and production's "apply" rows.
        apply_auc_delta: (Δ, lo, hi) of `paired_auc_delta`; None: the conservative interval.
        model: the model's name in both tables; None: the only scorer that is not production.

    Returns:
        `JOBS_VERDICT_COLUMNS`, product "jobs".
    """
    apply = metrics[metrics["head"] == "apply"]
    if model is None:
        model = _only_model(apply["scorer"].tolist(), "jobs_metrics (head 'apply')")
    model_auc = _row_of(apply, "scorer", model, "jobs_verdict (head 'apply')")
    production_auc = _row_of(apply, "scorer", PRODUCTION, "jobs_verdict (head 'apply')")
    rows = []
    if topk is not None:
        model_top = _row_of(topk, "ranker", model, "jobs_verdict")
        production_top = _row_of(topk, "ranker", PRODUCTION, "jobs_verdict")
        rows.append(
            (
                TOP_K_METRIC,
                model_top["qualified_rate"],
                production_top["qualified_rate"],
                model_top["delta_vs_production"],
                model_top["delta_lo"],
                model_top["delta_hi"],
            )
        )
    if apply_auc_delta is None:
        delta = float(model_auc["auc"]) - float(production_auc["auc"])
        half = sum(
            (float(row["auc_hi"]) - float(row["auc_lo"])) / 2.0
            for row in (model_auc, production_auc)
        )
        low, high = delta - half, delta + half
    else:
        delta, low, high = (float(v) for v in apply_auc_delta)
    rows.append((AUC_METRIC, model_auc["auc"], production_auc["auc"], delta, low, high))
    return pd.DataFrame(
        [
            {
                "product": "jobs",
                "metric": metric,
                "model_value": float(model_value),
                "production_value": float(production_value),
                "delta": float(d),
                "delta_lo": float(lo),
                "delta_hi": float(hi),
                "verdict": verdict(float(lo), float(hi)),
            }
            for metric, model_value, production_value, d, lo, hi in rows
        ],
        columns=list(JOBS_VERDICT_COLUMNS),
    )

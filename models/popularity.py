"""The popularity random effects that score a day's traffic: post and author effects on the residual
of the global feed model, refit every 8 hours of log time on a trailing window (paper §8).

For a day E ranked by the model M promoted as of E − 1 (the next-day protocol), and for each head
h in `RANDOM_EFFECT_HEADS` (the paper's RO model uses click and like, the labels with the best
coverage), the windows end at hours e ∈ {0, 8, 16} of day E (`cadence_hours` = 8). The window
ending at e is fit on the logged rows with log time t ∈ [e − window_hours, e) (t in hours from the
start of day E, so day E − 1's rows have t = hour − 24), with M's logit as the fixed offset
(`models.windowed_effects.fit_post_author_effects`), and scores only the rows of day E with
e ≤ t < e + 8:

    y_final,h = σ(logit(y_M,h) + b_post,h[p] + b_author,h[a])

so no row is ever scored by effects fit on a window that contains it (strictly later traffic).
The effects of the window ending at 24 belong to the next day's partition, whose model may
differ.

Decisions:
- **Rows fit**: every logged impression of the two days except the random bucket (`split` train
  and holdout). The random bucket's shuffled positions are replay's; keeping it out keeps replay's
  #1 picks scored by effects that never saw the bucket's labels. Offsets are M's probabilities at
  the logged positions (labels depend on position; the model knows it).
- **Day E − 1's rows are in-sample for M** (it trained on E − 1's training rows), as in the
  paper's RO model, which fits the residual of the deployed global model on recent traffic.
- **Prior** λ_post = λ_author = 10 and a 24-hour window: the choice of `bench/popularity.py`
  (+0.005 AUC over the global model on later days of the demo world; λ = 1, the old daily fit,
  lost 0.003).
- **Same-day evaluation** (an explicit option) scores without effects: these effects were fit for
  the next-day model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from math import nan

import numpy as np
import pandas as pd

from models.evaluation.gate import paired_auc_difference
from models.evaluation.metrics import auc, log_loss
from models.random_effects import RANDOM_EFFECT_HEADS, logits_from
from models.windowed_effects import (
    PostAuthorEffects,
    WindowedEffectsConfig,
    WindowEffects,
    apply_windowed_effects,
    fit_windowed_effects,
)

EFFECT_COLUMNS: tuple[str, ...] = (
    "head", "window_end", "cadence_hours", "level", "id", "effect", "count",
)  # fmt: skip
"""One row per (head, window, level, id): `window_end` in hours from the start of the scored day
(0, 8, 16), `cadence_hours` the hours after it the window scores, `level` "post" or "author". A
window with no rows stores no rows, so the cadence is stored, not inferred from the windows."""
FIT_SPLITS: tuple[str, ...] = ("train", "holdout")
LIFT_METRICS: tuple[str, ...] = tuple(
    f"{metric}_{what}"
    for metric in ("auc", "log_loss")
    for what in ("global", "effects", "lift", "lift_ci_low", "lift_ci_high")
)
LIFT_COLUMNS: tuple[str, ...] = (
    "head", "scored_hours", "fit_rows", "posts", "authors", "post_effect_sd", "author_effect_sd",
    "scored_rows", "young_rows", *LIFT_METRICS, *(f"young_{m}" for m in LIFT_METRICS),
)  # fmt: skip
"""`DayEffects.lift`'s columns; `scored_hours` "all" or "HH-HH" (a window's scored hours)."""
_FLOAT_COLUMNS = [c for c in LIFT_COLUMNS if c not in ("head", "scored_hours")]
DEFAULT_WINDOWS = WindowedEffectsConfig()
"""8-hour cadence, 24-hour window, λ_post = λ_author = 10 (`bench/popularity.py`'s choice)."""
Z95 = 1.959963984540054
YOUNG_HOURS = 24.0
"""Posts younger than this (post_age_hours) are the young-post split of the lift."""


@dataclasses.dataclass(frozen=True)
class DayEffects:
    """The effects that score one day and how they did on it.

    Args:
        effects: `EFFECT_COLUMNS`, every window's post and author effects per head.
        lift: per head and window (and `scored_hours` "all"): rows scored, AUC and log loss of the
            global model alone and with the effects, overall and on posts younger than a day.
    """

    effects: pd.DataFrame
    lift: pd.DataFrame


def _log_hours(rows: pd.DataFrame, day_offset: int) -> np.ndarray:
    return rows["hour"].to_numpy(dtype=np.float64) + 24.0 * day_offset


def _fit_rows(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["split"].isin(FIT_SPLITS)].reset_index(drop=True)


GlobalScorer = Callable[[pd.DataFrame], Mapping[str, np.ndarray]]
"""Rows → head → the global model's probabilities at the rows' logged positions."""


def fit_day_effects(
    global_probabilities: GlobalScorer,
    previous_rows: pd.DataFrame | None,
    rows: pd.DataFrame,
    config: WindowedEffectsConfig = DEFAULT_WINDOWS,
) -> DayEffects:
    """The windowed effects that score the day of `rows`, fit on `previous_rows` (the day before,
    None when absent) and `rows` with the global model's logits as offsets (module docstring).

    Args:
        global_probabilities: the promoted global model that ranks the day (the previous
            day's), as a scorer (e.g. `models.evaluation.scoring.model_probabilities` without
            effects).
        previous_rows, rows: `TRAINING_EXAMPLE` rows (with `split`, `hour`, `post_id`,
            `author_id`, `post_age_hours` and the labels) of the day before and of the day.
        config: cadence, window and priors; `cadence_hours` must divide 24.

    Returns:
        The `DayEffects` (the lift is measured on the day's `FIT_SPLITS` rows, each scored by the
        window before it).

    Raises:
        ValueError: `cadence_hours` does not divide 24, or a post has two authors (named).
    """
    if 24.0 % config.cadence_hours:
        raise ValueError(
            "`cadence_hours` must divide 24 so that every day has the same windows. Received: "
            f"cadence_hours={config.cadence_hours}"
        )
    today = _fit_rows(rows)
    parts = [(today, 0)] if previous_rows is None else [(_fit_rows(previous_rows), -1), (today, 0)]
    fit = pd.concat([frame for frame, _ in parts], ignore_index=True)
    hours = np.concatenate([_log_hours(frame, offset) for frame, offset in parts])
    probabilities = global_probabilities(fit)
    logits = {head: logits_from(probabilities[head]) for head in RANDOM_EFFECT_HEADS}
    ends = np.arange(0.0, 24.0, config.cadence_hours)
    effects, windows = [], {}
    for head in RANDOM_EFFECT_HEADS:
        windows[head] = fit_windowed_effects(
            hours,
            fit["post_id"].to_numpy(),
            fit["author_id"].to_numpy(),
            logits[head],
            fit[head].to_numpy(),
            config,
            ends=ends,
        )
        effects.append(effects_table(head, windows[head], config.cadence_hours))
    first = len(fit) - len(today)  # today's rows come last in `fit`
    today_logits = {head: values[first:] for head, values in logits.items()}
    lift = _lift(today, today_logits, windows, config)
    return DayEffects(effects=pd.concat(effects, ignore_index=True), lift=lift)


def effects_table(head: str, windows: list[WindowEffects], cadence_hours: float) -> pd.DataFrame:
    """`EFFECT_COLUMNS` rows of one head's windows, fit every `cadence_hours`."""
    frames = []
    for window in windows:
        for level, table in (("post", window.effects.posts), ("author", window.effects.authors)):
            frames.append(
                pd.DataFrame(
                    {
                        "head": head,
                        "window_end": window.end,
                        "cadence_hours": cadence_hours,
                        "level": level,
                        "id": table[f"{level}_id"].to_numpy(dtype=np.int64),
                        "effect": table["effect"].to_numpy(dtype=np.float64),
                        "count": table["count"].to_numpy(dtype=np.int64),
                    }
                )
            )
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame.reindex(columns=list(EFFECT_COLUMNS))


def windows_from_table(effects: pd.DataFrame, head: str) -> list[WindowEffects]:
    """The windows of `head` in a stored `EFFECT_COLUMNS` table, in order of their end."""
    mine = effects[effects["head"] == head]
    windows = []
    for end, window in mine.groupby("window_end", sort=True):
        tables = {
            level: window.loc[window["level"] == level, ["id", "effect", "count"]]
            .rename(columns={"id": f"{level}_id"})
            .reset_index(drop=True)
            for level in ("post", "author")
        }
        windows.append(
            WindowEffects(
                end=float(end),
                rows=int(tables["post"]["count"].sum()),
                effects=PostAuthorEffects(tables["post"], tables["author"], iterations=0),
            )
        )
    return windows


def apply_day_effects(
    effects: pd.DataFrame,
    rows: pd.DataFrame,
    probabilities: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """`probabilities` (head → the global model's, one per row of `rows`) with each row's window
    effects added on the logit scale for the heads in `effects`; rows of the scored day only
    (their `hour` picks the window, which scores `cadence_hours` after its end). Other heads
    are returned unchanged."""
    out = dict(probabilities)
    hours = _log_hours(rows, 0)
    for head in RANDOM_EFFECT_HEADS:
        windows = windows_from_table(effects, head)
        if not windows:
            continue
        stored = effects.loc[effects["head"] == head, "cadence_hours"].unique()
        if len(stored) != 1:
            raise ValueError(
                f"the {head} effects hold windows of several cadences {sorted(stored)}; one "
                "table holds the windows of one fit (`fit_day_effects`)"
            )
        cadence = WindowedEffectsConfig(cadence_hours=float(stored[0]))
        logits = apply_windowed_effects(
            hours,
            rows["post_id"].to_numpy(),
            rows["author_id"].to_numpy(),
            logits_from(probabilities[head]),
            windows,
            cadence,
        )
        out[head] = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
    return out


def _lift(
    rows: pd.DataFrame,
    logits: Mapping[str, np.ndarray],
    windows: Mapping[str, list[WindowEffects]],
    config: WindowedEffectsConfig,
) -> pd.DataFrame:
    hours = _log_hours(rows, 0)
    young = rows["post_age_hours"].to_numpy(dtype=np.float64) < YOUNG_HOURS
    post_ids = rows["post_id"].to_numpy()
    records = []
    for head in RANDOM_EFFECT_HEADS:
        labels = rows[head].to_numpy()
        plain = logits[head]
        with_effects = apply_windowed_effects(
            hours,
            rows["post_id"].to_numpy(),
            rows["author_id"].to_numpy(),
            plain,
            windows[head],
            config,
        )
        groups = [("all", np.ones(len(rows), dtype=bool), None)]
        for window in windows[head]:
            start, end = window.end, window.end + config.cadence_hours
            groups.append((f"{start:02.0f}-{end:02.0f}", (hours >= start) & (hours < end), window))
        for label, mask, window in groups:
            record = {
                "head": head,
                "scored_hours": label,
                "fit_rows": window.rows if window is not None else nan,
                "posts": len(window.effects.posts) if window is not None else nan,
                "authors": len(window.effects.authors) if window is not None else nan,
                "post_effect_sd": _sd(window.effects.posts) if window is not None else nan,
                "author_effect_sd": _sd(window.effects.authors) if window is not None else nan,
                "scored_rows": int(mask.sum()),
                "young_rows": int((mask & young).sum()),
            }
            for subset, keep in (("", mask), ("young_", mask & young)):
                record |= lift_metrics(
                    labels[keep], plain[keep], with_effects[keep], post_ids[keep], subset
                )
            records.append(record)
    return pd.DataFrame(records).astype({column: "float64" for column in _FLOAT_COLUMNS})


def _sd(table: pd.DataFrame) -> float:
    return float(table["effect"].std(ddof=0)) if len(table) else nan


def lift_metrics(
    labels: np.ndarray,
    plain: np.ndarray,
    with_effects: np.ndarray,
    post_ids: np.ndarray,
    prefix: str = "",
) -> dict[str, float]:
    """AUC and log loss of the global logits `plain` and of `with_effects` on the same rows, and
    the lifts with 95% intervals (NaN where undefined: no rows, or one class only).

    - AUC lift = AUC_effects − AUC_global, DeLong's paired standard error
      (`models.evaluation.gate.paired_auc_difference`); it treats rows as independent.
    - Log-loss lift = mean_i (ℓ_global,i − ℓ_effects,i) (positive: the effects help), its
      standard error clustered by post: the effects are per post, so rows of one post move
      together and a row-level error would be too narrow.
    """
    out = {}
    p_plain, p_effects = _sigmoid(plain), _sigmoid(with_effects)
    defined = len(labels) > 0 and 0 < labels.sum() < len(labels)
    out[f"{prefix}auc_global"] = auc(labels, p_plain) if defined else nan
    out[f"{prefix}auc_effects"] = auc(labels, p_effects) if defined else nan
    difference, se = paired_auc_difference(labels, with_effects, plain) if defined else (nan, nan)
    out |= _with_interval(f"{prefix}auc_lift", difference, se)
    out[f"{prefix}log_loss_global"] = log_loss(labels, p_plain) if len(labels) else nan
    out[f"{prefix}log_loss_effects"] = log_loss(labels, p_effects) if len(labels) else nan
    gain = _row_log_loss(labels, p_plain) - _row_log_loss(labels, p_effects)
    out |= _with_interval(f"{prefix}log_loss_lift", *_clustered_mean(gain, post_ids))
    return out


def _with_interval(name: str, value: float, se: float) -> dict[str, float]:
    return {name: value, f"{name}_ci_low": value - Z95 * se, f"{name}_ci_high": value + Z95 * se}


def _row_log_loss(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


def _clustered_mean(values: np.ndarray, clusters: np.ndarray) -> tuple[float, float]:
    """The mean of `values` and its cluster-robust standard error: with cluster sums S_c of the
    centred values, n rows and C clusters, Var(mean) = C/(C − 1) · Σ_c S_c² / n²."""
    n = len(values)
    if n == 0:
        return nan, nan
    mean = float(values.mean())
    codes, uniques = pd.factorize(clusters)
    sums = np.bincount(codes, weights=values - mean, minlength=len(uniques))
    c = len(uniques)
    if c < 2:
        return mean, nan
    return mean, float(np.sqrt(c / (c - 1) * np.sum(sums**2)) / n)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


def lift_summary(lift: pd.DataFrame) -> dict[str, float]:
    """Mean over heads of the day's ("all") lifts, overall and on young posts (positive helps)."""
    day = lift[lift["scored_hours"] == "all"]
    return {
        f"{subset}{metric}_lift": float(np.nanmean(day[f"{subset}{metric}_lift"]))
        for subset in ("", "young_")
        for metric in ("auc", "log_loss")
    }


def effect_spread(effects: pd.DataFrame) -> pd.DataFrame:
    """Per head, window and level: the standard deviation, min, max and count of the effects."""
    return (
        effects.groupby(["head", "window_end", "level"])["effect"]
        .agg(["std", "min", "max", "count"])
        .reset_index()
    )

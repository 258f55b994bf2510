"""Altair chart builders for the review dashboard; each takes snapshot tables, returns a chart."""

from __future__ import annotations

import altair as alt
import pandas as pd

from dashboards.formatting import RANKER_LABELS
from models.reporting.leaderboard import REFERENCES

RANKER_COLORS: dict[str, str] = {
    "Model": "#0a66c2",
    "Popularity baseline": "#e7a33e",
    "Production": "#5f9b41",
    "Random": "#8c8c8c",
}
SCORER_COLORS: dict[str, str] = {"Model": "#0a66c2", "Popularity baseline": "#e7a33e"}
# measure → (axis title, number format)
DIFFERENCE_TITLES: dict[str, tuple[str, str]] = {
    "truth": ("Expected contributions / session", "+.4f"),
    "replay": ("Percentage points", "+.1f"),
}
METRIC_TITLES: dict[str, str] = {
    "auc": "AUC",
    "log_loss": "Log loss",
    "calibration": "Calibration (O/E)",
}


def _with_labels(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame.copy()
    out["day"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out["who"] = out[column].map(RANKER_LABELS).fillna(out[column])
    return out


def _color(scale: dict[str, str], title: str, present: pd.Series) -> alt.Color:
    """Fixed colour per ranker/scorer across charts; the legend lists only those present."""
    shown = [name for name in scale if name in set(present)]
    return alt.Color(
        "who:N",
        title=title,
        scale=alt.Scale(domain=shown, range=[scale[name] for name in shown]),
        legend=alt.Legend(orient="bottom"),
    )


def replay_rate_chart(replay: pd.DataFrame) -> alt.LayerChart:
    """Replay contribution rate per day and ranker: a point with its 95% Wilson interval as an
    error bar, rankers side by side within each day."""
    frame = _with_labels(replay.dropna(subset=["rate"]), "ranker")
    base = alt.Chart(frame).encode(
        x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("who:N", sort=list(RANKER_COLORS)),
        color=_color(RANKER_COLORS, "Ranker", frame["who"]),
        tooltip=[
            alt.Tooltip("day:O", title="Day"),
            alt.Tooltip("who:N", title="Ranker"),
            alt.Tooltip("model_id:N", title="Model"),
            alt.Tooltip("rate:Q", title="Rate", format=".2%"),
            alt.Tooltip("ci_low:Q", title="95% CI low", format=".2%"),
            alt.Tooltip("ci_high:Q", title="95% CI high", format=".2%"),
            alt.Tooltip("matched:Q", title="Matched @1", format=","),
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("ci_low:Q", title="Contribution rate @1", axis=alt.Axis(format="%")),
        y2="ci_high:Q",
    )
    points = base.mark_point(filled=True, size=80).encode(y="rate:Q")
    return (bars + points).properties(height=320)


def expected_contributions_chart(replay: pd.DataFrame) -> alt.Chart:
    """Ground-truth expected contributions per session of each ranker's #1 picks (simulator)."""
    frame = _with_labels(replay.dropna(subset=["expected_contributions"]), "ranker")
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
            xOffset=alt.XOffset("who:N", sort=list(RANKER_COLORS)),
            y=alt.Y("expected_contributions:Q", title="Expected contributions / session"),
            color=_color(RANKER_COLORS, "Ranker", frame["who"]),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("who:N", title="Ranker"),
                alt.Tooltip("expected_contributions:Q", title="Expected", format=".4f"),
            ],
        )
        .properties(height=320)
    )


def head_metric_chart(offline: pd.DataFrame, head: str, metric: str) -> alt.LayerChart:
    """One offline metric of one head by day, model vs popularity baseline; calibration gets a
    reference rule at the ideal O/E = 1."""
    if metric not in METRIC_TITLES:
        raise ValueError(f"`metric` must be one of {list(METRIC_TITLES)}. Received: {metric!r}")
    frame = _with_labels(offline[offline["head"] == head].dropna(subset=[metric]), "scorer")
    title = METRIC_TITLES[metric]
    line = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=60))
        .encode(
            x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y(f"{metric}:Q", title=title, scale=alt.Scale(zero=False)),
            color=_color(SCORER_COLORS, "Scorer", frame["who"]),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("who:N", title="Scorer"),
                alt.Tooltip(f"{metric}:Q", title=title, format=".4f"),
                alt.Tooltip("rows:Q", title="Rows", format=","),
            ],
        )
    )
    chart = line
    if metric == "calibration":
        ideal = (
            alt.Chart(pd.DataFrame({"ideal": [1.0]}))
            .mark_rule(strokeDash=[4, 4])
            .encode(y="ideal:Q")
        )
        chart = line + ideal
    return chart.properties(title=title, height=260)


def difference_chart(leaderboard: pd.DataFrame, reference: str, measure: str) -> alt.LayerChart:
    """Model − `reference` per day: a point with its 95% interval as an error bar, and a dashed
    rule at zero (no difference). `measure` 'truth' plots the paired ground-truth difference in
    expected contributions per session; 'replay' the replay-rate difference in percentage points.
    """
    if reference not in REFERENCES:
        raise ValueError(f"`reference` must be one of {list(REFERENCES)}. Received: {reference!r}")
    if measure not in DIFFERENCE_TITLES:
        raise ValueError(
            f"`measure` must be one of {list(DIFFERENCE_TITLES)}. Received: {measure!r}"
        )
    column = f"vs_{REFERENCES[reference]}_{measure}"
    scale = 100.0 if measure == "replay" else 1.0
    frame = pd.DataFrame(
        {
            "day": pd.to_datetime(leaderboard["date"]).dt.strftime("%Y-%m-%d"),
            "model_id": leaderboard["model_id"],
            "difference": leaderboard[column] * scale,
            "low": leaderboard[f"{column}_low"] * scale,
            "high": leaderboard[f"{column}_high"] * scale,
        }
    ).dropna(subset=["difference"])
    title, number = DIFFERENCE_TITLES[measure]
    color = RANKER_COLORS[RANKER_LABELS[reference]]
    base = alt.Chart(frame).encode(
        x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
        tooltip=[
            alt.Tooltip("day:O", title="Day"),
            alt.Tooltip("model_id:N", title="Model"),
            alt.Tooltip("difference:Q", title="Model − reference", format=number),
            alt.Tooltip("low:Q", title="95% CI low", format=number),
            alt.Tooltip("high:Q", title="95% CI high", format=number),
        ],
    )
    bars = base.mark_rule(strokeWidth=2, color=color).encode(
        y=alt.Y("low:Q", title=title), y2="high:Q"
    )
    points = base.mark_point(filled=True, size=80, color=color).encode(y="difference:Q")
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color="#444444", strokeDash=[4, 4])
        .encode(y="zero:Q")
    )
    return (zero + bars + points).properties(height=280)

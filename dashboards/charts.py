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


def reliability_chart(curves: pd.DataFrame) -> alt.LayerChart:
    """Reliability diagram of one head: each equal-count bin's observed rate (95% Wilson
    interval as an error bar) against its mean prediction, per scorer, over the diagonal of
    perfect calibration."""
    frame = curves.copy()
    frame["who"] = frame["scorer"].map(RANKER_LABELS).fillna(frame["scorer"])
    top = float(max(frame["mean_predicted"].max(), frame["observed_ci_high"].max(), 1e-3))
    base = alt.Chart(frame).encode(
        x=alt.X("mean_predicted:Q", title="Mean prediction", scale=alt.Scale(domain=[0, top])),
        color=_color(SCORER_COLORS, "Scorer", frame["who"]),
        tooltip=[
            alt.Tooltip("who:N", title="Scorer"),
            alt.Tooltip("bin:Q", title="Bin"),
            alt.Tooltip("rows:Q", title="Rows", format=","),
            alt.Tooltip("mean_predicted:Q", title="Mean prediction", format=".4f"),
            alt.Tooltip("observed_rate:Q", title="Observed rate", format=".4f"),
        ],
    )
    bars = base.mark_rule(strokeWidth=1.5).encode(
        y=alt.Y("observed_ci_low:Q", title="Observed rate", scale=alt.Scale(domain=[0, top])),
        y2="observed_ci_high:Q",
    )
    points = base.mark_line(point=alt.OverlayMarkDef(filled=True, size=60)).encode(
        y="observed_rate:Q"
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, top], "y": [0.0, top]}))
        .mark_line(color="#444444", strokeDash=[4, 4])
        .encode(x="x:Q", y="y:Q")
    )
    return (diagonal + bars + points).properties(height=320)


def segment_auc_chart(segments: pd.DataFrame) -> alt.LayerChart:
    """AUC per segment value with its 95% interval, model and popularity side by side."""
    frame = segments.dropna(subset=["auc"]).copy()
    frame["who"] = frame["scorer"].map(RANKER_LABELS).fillna(frame["scorer"])
    base = alt.Chart(frame).encode(
        x=alt.X("value:N", title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("who:N", sort=list(SCORER_COLORS)),
        color=_color(SCORER_COLORS, "Scorer", frame["who"]),
        tooltip=[
            alt.Tooltip("value:N", title="Segment"),
            alt.Tooltip("who:N", title="Scorer"),
            alt.Tooltip("auc:Q", title="AUC", format=".3f"),
            alt.Tooltip("auc_ci_low:Q", title="95% CI low", format=".3f"),
            alt.Tooltip("auc_ci_high:Q", title="95% CI high", format=".3f"),
            alt.Tooltip("rows:Q", title="Rows", format=","),
            alt.Tooltip("positives:Q", title="Positives", format=","),
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("auc_ci_low:Q", title="AUC", scale=alt.Scale(zero=False)), y2="auc_ci_high:Q"
    )
    points = base.mark_point(filled=True, size=80).encode(y="auc:Q")
    half = alt.Chart(pd.DataFrame({"half": [0.5]})).mark_rule(strokeDash=[4, 4]).encode(y="half:Q")
    return (half + bars + points).properties(height=280)


def training_curve_chart(curves: pd.DataFrame) -> alt.Chart:
    """Mean training loss per epoch, one line per model."""
    return (
        alt.Chart(curves.dropna(subset=["loss"]))
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=60))
        .encode(
            x=alt.X("epoch:O", title="Epoch", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("loss:Q", title="Training loss", scale=alt.Scale(zero=False)),
            color=alt.Color("model_id:N", title="Model", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("model_id:N", title="Model"),
                alt.Tooltip("epoch:O", title="Epoch"),
                alt.Tooltip("loss:Q", title="Loss", format=".4f"),
            ],
        )
        .properties(height=260)
    )


def row_count_chart(label_rates: pd.DataFrame) -> alt.Chart:
    """Example rows per day, stacked by split."""
    rows = label_rates.drop_duplicates(["date", "split"]).copy()
    rows["day"] = pd.to_datetime(rows["date"]).dt.strftime("%Y-%m-%d")
    return (
        alt.Chart(rows)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("rows:Q", title="Rows", stack="zero"),
            color=alt.Color("split:N", title="Split", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("split:N", title="Split"),
                alt.Tooltip("rows:Q", title="Rows", format=","),
            ],
        )
        .properties(height=260)
    )


def label_rate_chart(label_rates: pd.DataFrame) -> alt.Chart:
    """Positive rate of each label per day (one split)."""
    frame = label_rates.copy()
    frame["day"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=50))
        .encode(
            x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("rate:Q", title="Positive rate", axis=alt.Axis(format="%")),
            color=alt.Color("label:N", title="Label", legend=alt.Legend(orient="bottom")),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("label:N", title="Label"),
                alt.Tooltip("rate:Q", title="Rate", format=".2%"),
                alt.Tooltip("positives:Q", title="Positives", format=","),
                alt.Tooltip("rows:Q", title="Rows", format=","),
            ],
        )
        .properties(height=260)
    )


def dwell_threshold_chart(thresholds: pd.DataFrame) -> alt.Chart:
    """Long-dwell threshold per day, one line per content type × platform (one position
    bucket)."""
    frame = thresholds.copy()
    frame["day"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    return (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=40))
        .encode(
            x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("threshold_seconds:Q", title="Threshold (s)", scale=alt.Scale(zero=False)),
            color=alt.Color("content_type:N", title="Content", legend=alt.Legend(orient="bottom")),
            strokeDash=alt.StrokeDash(
                "platform:N", title="Platform", legend=alt.Legend(orient="bottom")
            ),
            tooltip=[
                alt.Tooltip("day:O", title="Day"),
                alt.Tooltip("content_type:N", title="Content"),
                alt.Tooltip("platform:N", title="Platform"),
                alt.Tooltip("threshold_seconds:Q", title="Threshold (s)", format=".1f"),
                alt.Tooltip("sample_count:Q", title="Rows behind it", format=","),
                alt.Tooltip("level:N", title="Level"),
            ],
        )
        .properties(height=300)
    )


def ablation_chart(ablation: pd.DataFrame) -> alt.LayerChart:
    """Each ablation step's difference from the previous row (`diff_vs_previous`) with its
    95% interval, in the ladder's order, over a dashed rule at zero."""
    frame = ablation.dropna(subset=["diff_vs_previous"]).copy()
    order = list(dict.fromkeys(frame["variant"]))
    has_ci = {"diff_ci_low", "diff_ci_high"} <= set(frame.columns)
    base = alt.Chart(frame).encode(
        y=alt.Y("variant:N", title=None, sort=order),
        tooltip=[
            alt.Tooltip("variant:N", title="Variant"),
            alt.Tooltip("diff_vs_previous:Q", title="vs previous", format="+.4f"),
        ],
    )
    points = base.mark_point(filled=True, size=80, color="#0a66c2").encode(
        x=alt.X("diff_vs_previous:Q", title="Difference vs the previous row")
    )
    zero = alt.Chart(pd.DataFrame({"zero": [0.0]})).mark_rule(strokeDash=[4, 4]).encode(x="zero:Q")
    layers = [zero]
    if has_ci:
        layers.append(
            base.mark_rule(strokeWidth=2, color="#0a66c2").encode(
                x="diff_ci_low:Q", x2="diff_ci_high:Q"
            )
        )
    return alt.layer(*layers, points).properties(height=max(120, 36 * len(order)))

"""Ads CTR: the sponsored-post click model against the production ranker's pCTR, per chargeability
head (paper §1, §17; issue 13 item 5), from the `ads_evaluation` asset's tables in the snapshot.

Shown for the latest evaluated day: the verdict rows of product 'ads' (model − production with its
95% interval), per head AUC with its DeLong interval, log loss, ECE and observed / expected for the
model, its 8-bit-embedding variant and production; the calibration curve of the chosen head over
the diagonal; and that head's AUC and log loss over days. NOT CONFIRMED by the paper: the paper
reports AUC and O/E deltas only (Table 8); the 'all' head, the ECE and the curves are our choices.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.charts import RANKER_COLORS
from dashboards.formatting import count, num, with_ci
from dashboards.verdicts import show_product_verdicts
from models.reporting.review import ADS_METRIC_HEADS, ADS_SCORERS

SCORER_LABELS: dict[str, str] = {
    "model": "Model",
    "model_8bit": "Model, 8-bit embeddings",
    "production": "Production pCTR",
}
SCORER_COLORS: dict[str, str] = {
    "Model": RANKER_COLORS["Model"],
    "Model, 8-bit embeddings": "#7fb2e5",
    "Production pCTR": RANKER_COLORS["Production"],
}
HEAD_LABELS: dict[str, str] = {
    "website_visit": "website visit only",
    "visit_or_social": "visit or social action",
    "any_engagement": "any engagement",
    "all": "all ads, each by its own group's head",
}


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["day"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out["who"] = out["scorer"].map(SCORER_LABELS).fillna(out["scorer"])
    return out


def _color(present: pd.Series) -> alt.Color:
    shown = [name for name in SCORER_COLORS if name in set(present)]
    return alt.Color(
        "who:N",
        title="Scorer",
        scale=alt.Scale(domain=shown, range=[SCORER_COLORS[name] for name in shown]),
        legend=alt.Legend(orient="bottom"),
    )


def calibration_chart(curve: pd.DataFrame) -> alt.LayerChart:
    """Observed click rate against mean pCTR per bin and scorer, over the dashed diagonal of
    perfect calibration."""
    frame = _labelled(curve.dropna(subset=["mean_predicted", "observed_rate"]))
    top = float(max(frame["mean_predicted"].max(), frame["observed_rate"].max(), 1e-3))
    axis = alt.Scale(domain=[0, top])
    lines = (
        alt.Chart(frame)
        .mark_line(point=alt.OverlayMarkDef(filled=True, size=60))
        .encode(
            x=alt.X("mean_predicted:Q", title="Mean pCTR", scale=axis),
            y=alt.Y("observed_rate:Q", title="Observed click rate", scale=axis),
            color=_color(frame["who"]),
            order="bin:Q",
            tooltip=[
                alt.Tooltip("who:N", title="Scorer"),
                alt.Tooltip("bin:Q", title="Bin"),
                alt.Tooltip("rows:Q", title="Rows", format=","),
                alt.Tooltip("mean_predicted:Q", title="Mean pCTR", format=".4f"),
                alt.Tooltip("observed_rate:Q", title="Observed rate", format=".4f"),
            ],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"x": [0.0, top], "y": [0.0, top]}))
        .mark_line(color="#444444", strokeDash=[4, 4])
        .encode(x="x:Q", y="y:Q")
    )
    return (diagonal + lines).properties(height=320)


def over_days_chart(frame: pd.DataFrame, metric: str, title: str) -> alt.LayerChart:
    """One head's `metric` per day, model vs production; AUC with its 95% interval as a rule."""
    shown = _labelled(frame[frame["scorer"].isin(["model", "production"])].dropna(subset=[metric]))
    base = alt.Chart(shown).encode(
        x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
        color=_color(shown["who"]),
    )
    line = base.mark_line(point=alt.OverlayMarkDef(filled=True, size=60)).encode(
        y=alt.Y(f"{metric}:Q", title=title, scale=alt.Scale(zero=False)),
        tooltip=[
            alt.Tooltip("day:O", title="Day"),
            alt.Tooltip("who:N", title="Scorer"),
            alt.Tooltip(f"{metric}:Q", title=title, format=".4f"),
            alt.Tooltip("rows:Q", title="Rows", format=","),
        ],
    )
    if metric != "auc":
        return line.properties(title=title, height=260)
    bars = base.mark_rule(strokeWidth=2).encode(y="auc_lo:Q", y2="auc_hi:Q")
    return (bars + line).properties(title=f"{title} (95% DeLong interval)", height=260)


tables = data.snapshot_or_stop()
metrics = tables["ads_metrics"]
calibration = tables["ads_calibration"]
verdicts = tables["product_verdicts"]

st.title("Ads CTR")
st.caption(
    "Sponsored posts: the model's pCTR against the production ranker's, on the next day's "
    "impressions. Each ad's chargeable click falls in one of three chargeability groups, each "
    "with its own head: **website visit** only; **visit or social action** (a visit, or a like, "
    "comment or share); **any engagement**, video views included. Calibration matters as much as "
    "ranking here: an ad is priced by pCTR × bid, so an over-predicting head overcharges. "
    "ECE: expected calibration error; O/E: observed / expected clicks (1 is ideal)."
)
if metrics.empty:
    st.info(
        "No Ads evaluation yet: materialize `ads_evaluation` (part of `evaluation_job`), then "
        "`model_review`."
    )
    st.stop()

latest = data.latest(metrics)
day = latest["date"].iloc[0]
model_id = latest["model_id"].iloc[0]
st.markdown(f"**{data.day_label(day)}**, scored by `{model_id}`")

show_product_verdicts(verdicts, "ads", day, "Ads", "The production ranker's pCTR")

st.subheader("Per chargeability head")
head_order = {head: index for index, head in enumerate(ADS_METRIC_HEADS)}
scorer_order = {scorer: index for index, scorer in enumerate(ADS_SCORERS)}
ordered = latest.sort_values(
    ["head", "scorer"],
    key=lambda column: column.map(head_order if column.name == "head" else scorer_order),
)
st.dataframe(
    pd.DataFrame(
        {
            "Head": ordered["head"],
            "Scorer": ordered["scorer"].map(SCORER_LABELS).fillna(ordered["scorer"]),
            "Rows": ordered["rows"].astype("Int64"),
            "Positives": ordered["positives"].astype("Int64"),
            "AUC [95% CI]": [
                with_ci(auc, low, high, lambda v: f"{v:.4f}")
                for auc, low, high in zip(
                    ordered["auc"], ordered["auc_lo"], ordered["auc_hi"], strict=True
                )
            ],
            "Log loss": [num(value) for value in ordered["log_loss"]],
            "ECE": [num(value) for value in ordered["ece"]],
            "O/E": [num(value, 3) for value in ordered["observed_expected"]],
        }
    ),
    hide_index=True,
    width="stretch",
    height=35 * (len(ordered) + 1) + 3,  # every row, no inner scroll
)

heads = [head for head in ADS_METRIC_HEADS if head in set(metrics["head"])]
head = st.radio(
    "Head",
    heads,
    format_func=lambda name: f"{name} ({HEAD_LABELS.get(name, name)})",
    horizontal=True,
    key="ads_head",
)
left, right = st.columns(2)
with left:
    curve = calibration[(calibration["date"] == day) & (calibration["head"] == head)]
    st.markdown(f"**Calibration: `{head}`, {data.day_label(day)}**")
    if curve.dropna(subset=["mean_predicted", "observed_rate"]).empty:
        st.info("No calibration curve for this head in the snapshot.")
    else:
        bins = int(curve["bin"].nunique())
        st.altair_chart(calibration_chart(curve), width="stretch")
        st.caption(
            f"{count(bins, 'bin')} of mean pCTR vs the observed click rate; on the dashed "
            "diagonal a head is calibrated, above it under-predicts, below it over-predicts."
        )
with right:
    history = metrics[metrics["head"] == head]
    st.markdown(f"**`{head}` over days ({count(int(history['date'].nunique()), 'day')})**")
    st.altair_chart(over_days_chart(history, "auc", "AUC"), width="stretch")
    st.altair_chart(over_days_chart(history, "log_loss", "Log loss"), width="stretch")

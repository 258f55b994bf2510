"""Random effects: the per-post and per-author popularity effects refit every 8 hours of log time
(paper §8), and what they add to the global model on the traffic each window scored (strictly
after the window)."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.formatting import ci, count, signed

tables = data.snapshot_or_stop()
lift = tables["random_effects_lift"]

st.title("Random effects")
st.caption(
    "Per-post and per-author effects on the residual of the model that ranks the day, for the "
    "click and like heads: y = σ(logit(y_global) + b_post + b_author). They are refit every 8 "
    "hours on the trailing 24 hours of logs, and each window's effects score only the traffic "
    "after it. Lift: AUC of the model with the effects minus the model alone (log loss: alone "
    "minus with), on that traffic; positive helps."
)
if lift.empty:
    st.info(
        "No random effects yet: materialize `windowed_random_effects` (part of "
        "`evaluation_job`), then `model_review`."
    )
    st.stop()

frame = lift.assign(day=pd.to_datetime(lift["date"]).dt.strftime("%Y-%m-%d"))
days = frame[frame["scored_hours"] == "all"]
latest = data.latest(days)
day = latest["date"].iloc[0]
st.markdown(f"**{data.day_label(day)}**, scored by `{latest['model_id'].iloc[0]}` with its effects")
cols = st.columns(len(latest) * 2)
for index, row in enumerate(latest.itertuples()):
    for offset, (name, prefix, rows) in enumerate(
        (("", "", row.scored_rows), (" on posts < 1 day old", "young_", row.young_rows))
    ):
        value = getattr(row, f"{prefix}auc_lift")
        cols[2 * index + offset].metric(
            f"{row.head}: AUC lift{name}",
            signed(value),
            delta=ci(
                getattr(row, f"{prefix}auc_lift_ci_low"), getattr(row, f"{prefix}auc_lift_ci_high")
            ),
            delta_color="off",
            help=f"{count(int(rows), 'row')} scored; 95% DeLong interval",
        )
windows = frame[(frame["scored_hours"] != "all") & (frame["date"] == day)]
if (days["auc_lift_ci_high"] < 0).all():
    st.warning(
        "The effects lowered AUC significantly on every day: the prior (l2_post, l2_author) or "
        "the window may not suit this traffic; see `bench/popularity.py`.",
        icon=":material/trending_down:",
    )

st.markdown("**AUC lift per day and head**")
st.altair_chart(
    alt.Chart(days)
    .mark_line(point=True)
    .encode(
        x=alt.X("day:O", title="day"),
        y=alt.Y("auc_lift:Q", title="AUC with − without effects"),
        color=alt.Color("head:N", title="head"),
        tooltip=[
            "day:O",
            "head:N",
            alt.Tooltip("auc_lift:Q", format="+.4f"),
            alt.Tooltip("auc_lift_ci_low:Q", format="+.4f", title="95% CI low"),
            alt.Tooltip("auc_lift_ci_high:Q", format="+.4f", title="95% CI high"),
            "scored_rows:Q",
        ],
    )
    + alt.Chart(days)
    .mark_errorbar()
    .encode(x="day:O", y="auc_lift_ci_low:Q", y2="auc_lift_ci_high:Q", color="head:N"),
    width="stretch",
)
st.markdown(f"**Windows of {data.day_label(day)}**")
st.dataframe(
    pd.DataFrame(
        {
            "Head": windows["head"],
            "Scored hours": windows["scored_hours"],
            "Rows fit": windows["fit_rows"].astype("Int64"),
            "Posts": windows["posts"].astype("Int64"),
            "Authors": windows["authors"].astype("Int64"),
            "Post effect sd": windows["post_effect_sd"].round(3),
            "Author effect sd": windows["author_effect_sd"].round(3),
            "Rows scored": windows["scored_rows"].astype("Int64"),
            "AUC without": windows["auc_global"].round(4),
            "AUC with": windows["auc_effects"].round(4),
            "AUC lift": windows["auc_lift"].round(4),
            "AUC lift 95% CI": [
                ci(low, high)
                for low, high in zip(
                    windows["auc_lift_ci_low"], windows["auc_lift_ci_high"], strict=True
                )
            ],
            "Log-loss lift": windows["log_loss_lift"].round(4),
            "Log-loss lift 95% CI": [
                ci(low, high)
                for low, high in zip(
                    windows["log_loss_lift_ci_low"], windows["log_loss_lift_ci_high"], strict=True
                )
            ],
        }
    ),
    hide_index=True,
    width="stretch",
)

"""Explore/exploit: the last-layer posterior of each day's promoted model (paper §7): how
uncertain it still is and how often a Thompson draw changes what a session sees first."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.formatting import count

tables = data.snapshot_or_stop()
posterior = tables["explore_exploit"]

st.title("Explore / exploit")
st.caption(
    "Bayesian linear regression of the contribution label on the promoted model's last-layer "
    "input Z(x), updated with every day's training rows (not refit); Thompson sampling draws "
    "the last-layer weights once per session. Uncertainty falls as rows accumulate; the share "
    "of exploring sessions whose top slot a draw changes is how much exploration moves."
)
if posterior.empty:
    st.info(
        "No posterior yet: materialize `explore_exploit_posterior` (part of `ranking_job`), "
        "then `model_review`."
    )
    st.stop()

latest = data.latest(posterior).iloc[0]
cols = st.columns(4)
cols[0].metric("Rows in the posterior", count(int(latest["rows"]), "row"))
cols[1].metric("Mean weight std", f"{latest['mean_weight_std']:.4f}")
cols[2].metric("Top slot changed by a draw", f"{latest['top_slot_changed']:.1%}")
cols[3].metric("Sessions explored when serving", f"{latest['explore_share']:.0%}")
if not bool(latest["carried_over"]):
    st.warning(
        f"The posterior of {data.day_label(latest['date'])} started from the prior: its model "
        "was a cold start or its representation changed shape.",
        icon=":material/restart_alt:",
    )

frame = posterior.assign(day=pd.to_datetime(posterior["date"]).dt.strftime("%Y-%m-%d"))
left, right = st.columns(2)
with left:
    st.markdown("**Posterior uncertainty (mean weight std) over days**")
    st.altair_chart(
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("day:O", title="day"),
            y=alt.Y("mean_weight_std:Q", title="mean weight std"),
            tooltip=["day:O", "rows:Q", alt.Tooltip("mean_weight_std:Q", format=".4f")],
        ),
        width="stretch",
    )
with right:
    st.markdown("**Exploring sessions whose top slot a draw changed**")
    st.altair_chart(
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("day:O", title="day"),
            y=alt.Y("top_slot_changed:Q", title="share", axis=alt.Axis(format="%")),
            tooltip=["day:O", alt.Tooltip("top_slot_changed:Q", format=".1%"), "sessions:Q"],
        ),
        width="stretch",
    )
st.dataframe(
    pd.DataFrame(
        {
            "Day": frame["day"],
            "Model": posterior["model_id"],
            "Updated from": ["yesterday" if c else "prior" for c in posterior["carried_over"]],
            "Day rows": posterior["day_rows"],
            "Rows": posterior["rows"],
            "Z width": posterior["dim"],
            "Noise variance": posterior["noise_variance"].round(4),
            "Mean weight std": posterior["mean_weight_std"].round(4),
            "Top slot changed": posterior["top_slot_changed"].round(3),
        }
    ).iloc[::-1],
    hide_index=True,
    width="stretch",
)

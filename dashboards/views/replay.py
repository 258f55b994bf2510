"""Replay contribution rate @1 per day with its 95% interval, model vs baseline rankers (§15)."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.formatting import RANKER_LABELS, pct

tables = data.snapshot_or_stop()
replay = tables["replay_metrics"]

st.title("Replay contribution rate")
st.caption(
    "On random-bucket sessions the top posts are shuffled uniformly before serving, so the post "
    "shown first is independent of any ranker. Each ranker re-ranks the same posts offline; a "
    "*matched impression @1* is a session where its #1 is the post actually shown first. "
    "Rate = contributions / matched impressions (an unbiased estimate of the online rate, "
    "Li et al. 2011). Error bars are 95% Wilson intervals; about 1 in N sessions match."
)
if replay.empty:
    st.info("The snapshot has no replay metrics yet.")
    st.stop()

today = data.latest(replay)
st.subheader(f"Latest day: {data.day_label(today['date'].iloc[0])}")
order = [ranker for ranker in RANKER_LABELS if ranker in set(today["ranker"])]
for card, ranker in zip(st.columns(len(order)), order, strict=True):
    row = today[today["ranker"] == ranker].iloc[0]
    card.metric(
        RANKER_LABELS[ranker],
        pct(row["rate"]),
        delta=f"95% CI {pct(row['ci_low'])} – {pct(row['ci_high'])}",
        delta_color="off",
        delta_arrow="off",
        help=f"{row['contributions']:,} contributions over {row['matched']:,} matched "
        f"impressions @1 out of {row['sessions']:,} sessions.",
        border=True,
    )

has_truth = replay["expected_contributions"].notna().any()
if has_truth:
    left, right = st.columns(2)
else:
    left, right = st.container(), None
with left:
    st.markdown("**Replay contribution rate @1 (95% interval)**")
    st.altair_chart(charts.replay_rate_chart(replay), width="stretch")
if right is not None:
    with right:
        st.markdown("**Ground truth: expected contributions per session of each #1 pick**")
        st.caption("Known only in the simulated world; the replay rate should rank rankers alike.")
        st.altair_chart(charts.expected_contributions_chart(replay), width="stretch")

st.markdown("**All days**")
st.dataframe(
    replay.sort_values(["date", "ranker"], ascending=[False, True]),
    hide_index=True,
    width="stretch",
    column_config={
        "date": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
        "model_id": "Model",
        "ranker": "Ranker",
        "contributions": st.column_config.NumberColumn("Contributions", format="localized"),
        "rate": st.column_config.NumberColumn("Rate", format="percent"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
        "expected_contributions": st.column_config.NumberColumn("Expected (truth)", format="%.4f"),
        "matched": st.column_config.NumberColumn("Matched @1", format="localized"),
        "sessions": st.column_config.NumberColumn("Sessions", format="localized"),
    },
)

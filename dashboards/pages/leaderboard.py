"""Model leaderboard by day: replay contribution rate, lift over popularity, mean AUC over heads."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from dashboards.formatting import num, pct, points, signed, signed_pct

tables = data.snapshot_or_stop()
board = tables["leaderboard"]

st.title("Model leaderboard")
st.caption(
    "One row per day's model. **Replay rate** is the contribution rate @1 on random-bucket "
    "sessions (paper §5.2): of the sessions where the model's #1 post is the one actually shown "
    "first, the share that got a like, comment, share or vote. **Lift** is the model's replay rate "
    "over the popularity baseline's, minus one. **AUC** is averaged over the heads."
)
if board.empty:
    st.info("The snapshot has no models yet.")
    st.stop()

row = data.latest(board).iloc[0]
st.subheader(f"Latest day: {data.day_label(row['date'])} · `{row['model_id']}`")
cards = st.columns(4)
cards[0].metric(
    "Replay contribution rate",
    pct(row["model_rate"]),
    delta=f"{points(row['model_rate'] - row['baseline_rate'])} vs popularity",
    help=f"95% Wilson interval [{pct(row['model_ci_low'])}, {pct(row['model_ci_high'])}] "
    f"over {num(row['matched'], 0)} matched impressions @1.",
    border=True,
)
cards[1].metric(
    "Lift vs popularity baseline",
    signed_pct(row["lift"]),
    help=f"Popularity baseline replay rate: {pct(row['baseline_rate'])}.",
    border=True,
)
cards[2].metric(
    "Mean AUC over heads",
    num(row["model_auc"]),
    delta=f"{signed(row['model_auc'] - row['baseline_auc'])} vs popularity",
    help=f"Popularity baseline mean AUC: {num(row['baseline_auc'])}.",
    border=True,
)
cards[3].metric(
    "Training",
    str(row["mode"]).capitalize() if isinstance(row["mode"], str) else "—",
    help=f"{num(row['train_rows'], 0)} training rows.",
    border=True,
)

left, right = st.columns(2)
with left:
    st.markdown("**Replay rate with 95% interval: model vs baselines**")
    replay = tables["replay_metrics"]
    st.altair_chart(
        charts.replay_rate_chart(replay[replay["ranker"].isin(["model", "popularity_baseline"])]),
        width="stretch",
    )
with right:
    st.markdown("**Lift over the popularity baseline**")
    st.altair_chart(charts.lift_chart(board), width="stretch")

st.markdown("**All days**")
st.dataframe(
    board.sort_values("date", ascending=False),
    hide_index=True,
    width="stretch",
    column_config={
        "date": st.column_config.DateColumn("Day", format="YYYY-MM-DD"),
        "model_id": "Model",
        "mode": "Mode",
        "train_rows": st.column_config.NumberColumn("Train rows", format="localized"),
        "sessions": st.column_config.NumberColumn("Sessions", format="localized"),
        "matched": st.column_config.NumberColumn("Matched @1", format="localized"),
        "contributions": "Contributions",
        "model_rate": st.column_config.NumberColumn("Replay rate", format="percent"),
        "model_ci_low": st.column_config.NumberColumn("95% CI low", format="percent"),
        "model_ci_high": st.column_config.NumberColumn("95% CI high", format="percent"),
        "baseline_rate": st.column_config.NumberColumn("Baseline rate", format="percent"),
        "lift": st.column_config.NumberColumn("Lift", format="percent"),
        "model_auc": st.column_config.NumberColumn("Mean AUC", format="%.4f"),
        "baseline_auc": st.column_config.NumberColumn("Baseline AUC", format="%.4f"),
        "model_log_loss": st.column_config.NumberColumn("Mean log loss", format="%.4f"),
    },
)

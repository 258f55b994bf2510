"""Ablation: the Table 6-style ladder of `bench/ablation.py`, each row one more block, as stored
in the warehouse's `ablation_results` (whatever columns it has)."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data
from models.reporting.review import ABLATION_TABLE

# known columns → how to show them; any other column is shown as stored
COLUMNS = {
    "run_id": st.column_config.TextColumn("Run"),
    "row": st.column_config.NumberColumn("Row", format="%d"),
    "variant": st.column_config.TextColumn("Variant"),
    "expected_contributions": st.column_config.NumberColumn("Expected contrib.", format="%.4f"),
    "diff_vs_previous": st.column_config.NumberColumn("vs previous", format="%+.4f"),
    "diff_ci_low": st.column_config.NumberColumn("95% CI low", format="%+.4f"),
    "diff_ci_high": st.column_config.NumberColumn("95% CI high", format="%+.4f"),
    "replay_rate": st.column_config.NumberColumn("Replay rate", format="percent"),
    "replay_ci_low": st.column_config.NumberColumn("Replay CI low", format="percent"),
    "replay_ci_high": st.column_config.NumberColumn("Replay CI high", format="percent"),
    "mean_auc": st.column_config.NumberColumn("Mean AUC", format="%.3f"),
    "train_seconds": st.column_config.NumberColumn("Train (s)", format="%.0f"),
}

tables = data.snapshot_or_stop()
ablation = tables.get(ABLATION_TABLE)

st.title("Ablation")
st.caption(
    "The ablation ladder: each row adds one block to the row above (paper Table 6), trained and "
    "evaluated on the simulated world; `vs previous` is its difference from the row above in "
    "ground-truth expected contributions per session of the #1 pick, with its 95% interval."
)
if ablation is None or ablation.empty:
    st.info(
        "No ablation results in this snapshot: run `make ablation` to fill this (it stores "
        f"`{ABLATION_TABLE}` in the warehouse; the next review snapshot carries it here).",
        icon=":material/science:",
    )
    st.stop()

runs = list(dict.fromkeys(ablation["run_id"])) if "run_id" in ablation.columns else []
if len(runs) > 1:
    run = st.selectbox("Run", runs[::-1], key="run")
    ablation = ablation[ablation["run_id"] == run]
if {"variant", "diff_vs_previous"} <= set(ablation.columns):
    st.markdown("**Each step vs the row above (95% interval)**")
    st.altair_chart(charts.ablation_chart(ablation), width="stretch")
st.dataframe(
    ablation,
    hide_index=True,
    width="stretch",
    column_config={name: config for name, config in COLUMNS.items() if name in ablation.columns},
)

"""Per-head offline metrics: AUC, log loss and calibration (O/E), model vs popularity baseline."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data
from dashboards.formatting import num, signed

tables = data.snapshot_or_stop()
offline = tables["offline_metrics"]

st.title("Per-head offline metrics")
st.caption(
    "Held-out metrics per prediction head. **AUC**: the chance a random positive is scored above a "
    "random negative (higher is better). **Log loss**: mean cross-entropy (lower is better). "
    "**Calibration** = observed / expected = Σ labels / Σ predictions; 1.0 is calibrated, above 1 "
    "means the scorer under-predicts."
)
if offline.empty:
    st.info("The snapshot has no offline metrics yet.")
    st.stop()

heads = list(dict.fromkeys(offline["head"]))
head = st.selectbox("Head", heads, key="head")
selected = offline[offline["head"] == head]
today = data.latest(selected)


def _value(scorer: str, metric: str) -> float:
    rows = today.loc[today["scorer"] == scorer, metric]
    return float(rows.iloc[0]) if len(rows) else float("nan")


st.subheader(f"`{head}` on {data.day_label(today['date'].iloc[0])}")
cards = st.columns(3)
for card, metric, delta_color in zip(
    cards, ("auc", "log_loss", "calibration"), ("normal", "inverse", "off"), strict=True
):
    model, baseline = _value("model", metric), _value("popularity_baseline", metric)
    card.metric(
        charts.METRIC_TITLES[metric],
        num(model),
        delta=f"{signed(model - baseline)} vs popularity",
        delta_color=delta_color,
        help=f"Popularity baseline: {num(baseline)}.",
        border=True,
    )

for column, metric in zip(st.columns(3), ("auc", "log_loss", "calibration"), strict=True):
    column.altair_chart(charts.head_metric_chart(offline, head, metric), width="stretch")

st.markdown("**All heads, latest day**")
latest_all = data.latest(offline)
wide = latest_all.pivot_table(
    index="head", columns="scorer", values=["auc", "log_loss", "calibration"], aggfunc="first"
)
wide.columns = [f"{metric} ({scorer})" for metric, scorer in wide.columns]
positives = latest_all[latest_all["scorer"] == "model"].set_index("head")[["rows", "positives"]]
st.dataframe(
    pd.concat([positives, wide], axis=1).reindex(heads).dropna(how="all"),
    width="stretch",
    column_config={name: st.column_config.NumberColumn(format="%.4f") for name in wide.columns},
)

"""Model detail: one model's per-head metrics with intervals, reliability diagrams, metrics by
segment, training curve, configuration and lineage; and each head's metrics over days."""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from dashboards import charts, data
from dashboards.formatting import count, num, signed, with_ci

SEGMENT_TITLES: dict[str, str] = {
    "content_type": "Content type",
    "platform": "Platform",
    "position": "Position (0 = top)",
    "member": "New vs known members",
}


def _auc(value: float) -> str:
    return num(value, 3)


tables = data.snapshot_or_stop()
offline = tables["offline_metrics"]
segments, curves = tables["segment_metrics"], tables["calibration_curves"]
lineage, losses = tables["model_lineage"], tables["training_curves"]
compressed = tables["compressed_models"]

st.title("Model detail")
st.caption(
    "The model that ranked an evaluated day (under the next-day protocol, the model promoted the "
    "day before), scored on that day's traffic against the popularity baseline. **AUC**: the "
    "chance a random positive is scored above a random negative, with DeLong's 95% interval. "
    "**Log loss**: mean cross-entropy (lower is better). **O/E** = Σ labels / Σ predictions; 1 is "
    "calibrated, above 1 the scorer under-predicts."
)
if offline.empty:
    st.info("The snapshot has no offline metrics yet.")
    st.stop()

evaluated = offline[["date", "model_id"]].drop_duplicates().iloc[::-1]
ranked_by = {data.day_label(row.date): (row.date, row.model_id) for row in evaluated.itertuples()}
label = st.selectbox(
    "Evaluated day",
    list(ranked_by),
    format_func=lambda option: f"{option}, ranked by {ranked_by[option][1]}",
    key="day",
)
day, model_id = ranked_by[label]
today = offline[(offline["date"] == day) & (offline["model_id"] == model_id)]
overall = segments[
    (segments["date"] == day) & (segments["model_id"] == model_id) & (segments["segment"] == "all")
]

st.subheader(f"`{model_id}` on {data.day_label(day)}")
heads = list(dict.fromkeys(today["head"]))
rows = []
for head in heads:
    model = today[(today["head"] == head) & (today["scorer"] == "model")].iloc[0]
    baseline = today[(today["head"] == head) & (today["scorer"] == "popularity_baseline")]
    interval = overall[(overall["head"] == head) & (overall["scorer"] == "model")]
    base_interval = overall[
        (overall["head"] == head) & (overall["scorer"] == "popularity_baseline")
    ]
    low, high = (
        (interval["auc_ci_low"].iloc[0], interval["auc_ci_high"].iloc[0])
        if len(interval)
        else (float("nan"), float("nan"))
    )
    base_auc = baseline["auc"].iloc[0] if len(baseline) else float("nan")
    base_low, base_high = (
        (base_interval["auc_ci_low"].iloc[0], base_interval["auc_ci_high"].iloc[0])
        if len(base_interval)
        else (float("nan"), float("nan"))
    )
    rows.append(
        {
            "Head": head,
            "Rows": int(model["rows"]),
            "Positives": int(model["positives"]),
            "AUC [95% CI]": with_ci(model["auc"], low, high, _auc),
            "Popularity AUC [95% CI]": with_ci(base_auc, base_low, base_high, _auc),
            "AUC vs popularity": signed(model["auc"] - base_auc, 3),
            "Log loss": num(model["log_loss"], 3),
            "O/E": num(model["calibration"], 2),
        }
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    column_config={
        "Rows": st.column_config.NumberColumn(format="localized"),
        "Positives": st.column_config.NumberColumn(format="localized"),
    },
)

head = st.selectbox("Head", heads, key="head")
left, right = st.columns(2)
with left:
    st.markdown(f"**Reliability diagram: `{head}`**")
    curve = curves[
        (curves["date"] == day) & (curves["model_id"] == model_id) & (curves["head"] == head)
    ]
    if curve.empty:
        st.info("No reliability diagram for this model in the snapshot.")
    else:
        st.caption("Equal-count bins of the predictions; on the dashed diagonal = calibrated.")
        st.altair_chart(charts.reliability_chart(curve), width="stretch")
with right:
    st.markdown(f"**`{head}` by segment: AUC, 95% interval**")
    mine = segments[
        (segments["date"] == day)
        & (segments["model_id"] == model_id)
        & (segments["head"] == head)
        & (segments["segment"] != "all")
    ]
    if mine.empty:
        st.info("No segment metrics for this model in the snapshot.")
        segment = None
    else:
        kinds = [kind for kind in SEGMENT_TITLES if kind in set(mine["segment"])]
        segment = st.radio(
            "Segment", kinds, format_func=SEGMENT_TITLES.get, horizontal=True, key="segment"
        )
        st.altair_chart(charts.segment_auc_chart(mine[mine["segment"] == segment]), width="stretch")
if segment is not None:
    shown = mine[(mine["segment"] == segment) & (mine["scorer"] == "model")]
    st.dataframe(
        pd.DataFrame(
            {
                SEGMENT_TITLES[segment]: shown["value"],
                "Rows": shown["rows"],
                "Positives": shown["positives"],
                "AUC [95% CI]": [
                    with_ci(*values, _auc)
                    for values in shown[["auc", "auc_ci_low", "auc_ci_high"]].to_numpy()
                ],
                "O/E": [num(value, 2) for value in shown["calibration"]],
            }
        ),
        hide_index=True,
        width="stretch",
        column_config={
            "Rows": st.column_config.NumberColumn(format="localized"),
            "Positives": st.column_config.NumberColumn(format="localized"),
        },
    )

st.subheader("Training and lineage")
card = lineage[lineage["model_id"] == model_id]
left, right = st.columns(2)
with left:
    curve = losses[losses["model_id"] == model_id]
    if curve.empty:
        st.info("No training curve for this model in the snapshot.")
    else:
        st.markdown(f"**Training loss per epoch ({count(len(curve), 'epoch')})**")
        st.altair_chart(charts.training_curve_chart(curve), width="stretch")
with right:
    if card.empty:
        st.info("No lineage for this model in the snapshot.")
    else:
        info = card.iloc[-1]
        base = info["base_model_id"] if isinstance(info["base_model_id"], str) else None
        st.markdown(
            f"**Lineage**  \n"
            f"{'Incremental, warm-started from `' + base + '`' if base else 'Cold start'}; "
            f"trained on {info['trained_on'] or '—'} "
            f"({num(info['train_rows'], 0)} rows, {info['engine'] or '—'})."
        )
        with st.expander("Model configuration"):
            st.json(json.loads(info["model_config"] or "{}"))
        with st.expander("Training configuration"):
            st.json(json.loads(info["training_config"] or "{}"))
    packed = compressed[compressed["model_id"] == model_id]
    if not packed.empty:
        row = packed.iloc[-1]
        st.markdown(
            f"**Compressed for serving** (`compressed_feed_model`, {row['scheme']}): embedding "
            f"tables {row['bytes'] / 1e6:.2f} MB vs {row['fp32_bytes'] / 1e6:.2f} MB in fp32 "
            f"({row['ratio']:.1%}), mean absolute reconstruction error "
            f"{row['mean_abs_error']:.2e}."
        )

st.subheader(f"`{head}` over days")
for column, metric in zip(st.columns(3), ("auc", "log_loss", "calibration"), strict=True):
    column.altair_chart(charts.head_metric_chart(offline, head, metric), width="stretch")

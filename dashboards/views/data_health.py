"""Data health: the example-quality check per day, row counts and label rates per split, and the
long-dwell thresholds by cluster over days."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data
from dashboards.formatting import count

tables = data.snapshot_or_stop()
rates, checks, thresholds = (
    tables["label_rates"],
    tables["data_checks"],
    tables["dwell_thresholds"],
)

st.title("Data health")
st.caption(
    "What the training examples looked like each day: the blocking quality check that guards "
    "training (empty day, NaN or infinite features, labels outside {0, 1}, implausible label "
    "rates), rows and positive rates per split, and the long-dwell thresholds (the 90th "
    "percentile of dwell per position bucket × content type × platform over a trailing window)."
)
if rates.empty and checks.empty and thresholds.empty:
    st.info(
        "The snapshot has no data-health tables yet; materialize `model_review` again to read "
        "them from the training examples and dwell thresholds."
    )
    st.stop()

if not checks.empty:
    failed = checks[~checks["passed"].astype(bool)]
    days = checks["date"].nunique()
    if failed.empty:
        st.success(
            f"**Every quality check passed** on {count(days, 'day')}.", icon=":material/check:"
        )
    for row in failed.itertuples():
        st.error(
            f"**{row.check} FAILED on {data.day_label(row.date)}**: {row.detail}",
            icon=":material/error:",
        )
    st.dataframe(
        pd.DataFrame(
            {
                "Day": pd.to_datetime(checks["date"]).dt.strftime("%Y-%m-%d"),
                "Check": checks["check"],
                "Result": ["pass" if passed else "FAIL" for passed in checks["passed"]],
                "Detail": checks["detail"],
            }
        ).iloc[::-1],
        hide_index=True,
        width="stretch",
    )

if not rates.empty:
    left, right = st.columns(2)
    with left:
        st.markdown("**Example rows per day**")
        st.altair_chart(charts.row_count_chart(rates), width="stretch")
    with right:
        splits = list(dict.fromkeys(rates["split"]))
        split = st.selectbox(
            "Split",
            splits,
            index=splits.index("train") if "train" in splits else 0,
            key="split",
        )
        st.markdown(f"**Label rates, `{split}` rows**")
        st.altair_chart(charts.label_rate_chart(rates[rates["split"] == split]), width="stretch")
    latest = data.latest(rates)
    wide = latest.pivot_table(index="split", columns="label", values="rate", aggfunc="first")
    wide.insert(0, "rows", latest.drop_duplicates("split").set_index("split")["rows"])
    st.markdown(f"**Latest day ({data.day_label(latest['date'].iloc[0])}): rows and label rates**")
    st.dataframe(
        wide.reset_index(),
        hide_index=True,
        width="stretch",
        column_config={
            "rows": st.column_config.NumberColumn("Rows", format="localized"),
            **{
                label: st.column_config.NumberColumn(label, format="percent")
                for label in wide.columns
                if label != "rows"
            },
        },
    )

if not thresholds.empty:
    st.subheader("Long-dwell thresholds by cluster")
    buckets = sorted(thresholds["position_bucket"].dropna().astype(int).unique())
    bucket = st.selectbox(
        "Position bucket",
        buckets,
        format_func=lambda b: ["0 (top)", "1", "2", "3-4", "5-9", "10+"][b] if b < 6 else str(b),
        key="bucket",
    )
    shown = thresholds[thresholds["position_bucket"] == bucket]
    st.altair_chart(charts.dwell_threshold_chart(shown), width="stretch")
    latest = data.latest(shown)
    st.dataframe(
        latest[["content_type", "platform", "threshold_seconds", "sample_count", "level"]],
        hide_index=True,
        width="stretch",
        column_config={
            "content_type": "Content",
            "platform": "Platform",
            "threshold_seconds": st.column_config.NumberColumn("Threshold (s)", format="%.1f"),
            "sample_count": st.column_config.NumberColumn("Rows behind it", format="localized"),
            "level": "Back-off level",
        },
    )

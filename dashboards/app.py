"""LiRank review dashboard: `streamlit run dashboards/app.py`.

Reads the review snapshot written by the `model_review` asset (see `dashboards.data` for how the
path is found); one page per view, the overview (the verdict) first.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data

st.set_page_config(page_title="LiRank review", page_icon=":material/insights:", layout="wide")

navigation = st.navigation(
    [
        st.Page("pages/overview.py", title="Overview", icon=":material/insights:", default=True),
        st.Page("pages/model.py", title="Model detail", icon=":material/stacked_line_chart:"),
        st.Page("pages/gate.py", title="Model gate", icon=":material/verified:"),
        st.Page("pages/replay.py", title="Replay", icon=":material/replay:"),
        st.Page("pages/data_health.py", title="Data health", icon=":material/monitor_heart:"),
        st.Page("pages/explore.py", title="Explore / exploit", icon=":material/casino:"),
        st.Page("pages/ablation.py", title="Ablation", icon=":material/science:"),
    ]
)
with st.sidebar:
    st.markdown("**LiRank review**")
    st.caption(f"Snapshot: `{data.snapshot_path()}`")
navigation.run()

"""LiRank review dashboard: `streamlit run dashboards/app.py`.

Reads the review snapshot written by the `model_review` asset (see `dashboards.data` for how the
path is found); one page per view, the overview (the verdict) first. The views live in
`dashboards/views/`, not `pages/`: Streamlit would serve a `pages/` folder as a second,
unconfigured navigation to a browser that opens a deep link such as `/explore` first.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data

st.set_page_config(page_title="LiRank review", page_icon=":material/insights:", layout="wide")

navigation = st.navigation(
    [
        st.Page("views/overview.py", title="Overview", icon=":material/insights:", default=True),
        st.Page("views/model.py", title="Model detail", icon=":material/stacked_line_chart:"),
        st.Page("views/gate.py", title="Model gate", icon=":material/verified:"),
        st.Page("views/replay.py", title="Replay", icon=":material/replay:"),
        st.Page("views/data_health.py", title="Data health", icon=":material/monitor_heart:"),
        st.Page("views/explore.py", title="Explore / exploit", icon=":material/casino:"),
        st.Page("views/popularity.py", title="Random effects", icon=":material/trending_up:"),
        st.Page("views/ads.py", title="Ads CTR", icon=":material/campaign:"),
        st.Page("views/jobs.py", title="Jobs", icon=":material/work:"),
        st.Page("views/ablation.py", title="Ablation", icon=":material/science:"),
    ]
)
with st.sidebar:
    st.markdown("**LiRank review**")
    st.caption(f"Snapshot: `{data.snapshot_path()}`")
navigation.run()

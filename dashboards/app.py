"""LiRank review dashboard: `streamlit run dashboards/app.py`.

Reads the review snapshot written by the `model_review` asset (see `dashboards.data` for how the
path is found); one page per view, leaderboard first.
"""

from __future__ import annotations

import streamlit as st

from dashboards import data

st.set_page_config(page_title="LiRank review", page_icon=":material/insights:", layout="wide")

navigation = st.navigation(
    [
        st.Page(
            "pages/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True
        ),
        st.Page("pages/heads.py", title="Per-head metrics", icon=":material/stacked_line_chart:"),
        st.Page("pages/replay.py", title="Replay", icon=":material/replay:"),
    ]
)
with st.sidebar:
    st.markdown("**LiRank review**")
    st.caption(f"Snapshot: `{data.snapshot_path()}`")
navigation.run()

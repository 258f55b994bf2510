"""Model leaderboard: the pooled verdict against production and popularity first (differences
with 95% intervals), then the per-day figures."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data
from dashboards.formatting import (
    RANKER_LABELS,
    ci,
    count,
    num,
    pct,
    points,
    sentence,
    signed,
    with_ci,
)
from models.reporting.leaderboard import REFERENCES, TRUTH, verdict

VERDICT_BOXES = {"beats": st.success, "LOSES": st.error}


def _pp(value: float) -> str:
    """A difference of rates in points, unit left to the column header: 0.054 → '+5.4'."""
    return f"{value * 100:+.1f}"


def _verdict_card(row: pd.Series, has_truth: bool) -> None:
    """One reference's pooled verdict in words, then its differences with intervals."""
    name = RANKER_LABELS[row["reference"]]
    st.markdown(f"**Model vs {name.lower()}**")
    box = next((show for word, show in VERDICT_BOXES.items() if word in row["verdict"]), st.info)
    source = (
        f"ground truth, {count(row['truth_sessions'], 'paired session')} over "
        f"{count(row['truth_days'], 'day')}"
        if row["decided_by"] == TRUTH
        else f"replay over {count(row['replay_days'], 'day')}"
    )
    box(f"**{sentence(row['verdict'])}** ({source}).")
    truth, replay = st.columns(2) if has_truth else (None, st.container())
    if truth is not None:
        truth.metric(
            f"Ground truth vs {name.lower()}",
            signed(row["truth_difference"]),
            delta=ci(row["truth_ci_low"], row["truth_ci_high"]),
            delta_color="off",
            delta_arrow="off",
            help="Expected contributions per session of the #1 pick, model − reference.",
        )
    replay.metric(
        f"Replay vs {name.lower()}",
        points(row["replay_difference"]),
        delta=ci(row["replay_ci_low"], row["replay_ci_high"], points),
        delta_color="off",
        delta_arrow="off",
        help="Replay contribution rate @1, model − reference (Newcombe interval), over the "
        f"{count(row['replay_days'], 'day')} both were replayed.",
    )
    replay_says = verdict(row["replay_ci_low"], row["replay_ci_high"], row["reference"])
    if row["decided_by"] == TRUTH and replay_says != row["verdict"]:
        st.caption(f"Replay alone says {replay_says}; the paired ground truth is the tighter test.")


tables = data.snapshot_or_stop()
board, overview = tables["leaderboard"], tables["overview"]
has_truth = not tables["paired_differences"].empty

st.title("Model leaderboard")
st.caption(
    "Every figure is **model − reference** with its 95% interval; an interval that excludes zero "
    "is a significant difference. **Ground truth** (simulator only): expected contributions per "
    "session of each ranker's #1 pick, paired on the same random-bucket sessions. **Replay**: "
    "contribution rate @1 on the matched random-bucket impressions (paper §5.2), in percentage "
    "points. The ground truth decides when present; production is the bar to beat."
)
if board.empty or overview.empty:
    st.info("The snapshot has no evaluated models yet.")
    st.stop()

st.subheader(f"Verdict over {count(board['date'].nunique(), 'evaluated day')}")
if not has_truth:
    st.info("No ground truth: replay only.", icon=":material/info:")


for column, (_, row) in zip(st.columns(len(overview)), overview.iterrows(), strict=True):
    with column.container(border=True):
        _verdict_card(row, has_truth)

st.subheader("Per day")
row = data.latest(board).iloc[0]
st.markdown(f"Latest day: **{data.day_label(row['date'])}** · `{row['model_id']}`")
cards = st.columns(3)
cards[0].metric(
    "Replay contribution rate",
    pct(row["model_rate"]),
    delta=f"95% CI {pct(row['model_ci_low'])} – {pct(row['model_ci_high'])}",
    delta_color="off",
    delta_arrow="off",
    help=f"Over {num(row['matched'], 0)} matched impressions @1 (Wilson interval).",
    border=True,
)
cards[1].metric(
    "Mean AUC over heads",
    num(row["model_auc"]),
    delta=f"{signed(row['model_auc'] - row['baseline_auc'])} vs popularity",
    help=f"Popularity baseline mean AUC: {num(row['baseline_auc'])}.",
    border=True,
)
cards[2].metric(
    "Training",
    str(row["mode"]).capitalize() if isinstance(row["mode"], str) else "—",
    help=f"{num(row['train_rows'], 0)} training rows.",
    border=True,
)

reference = st.radio(
    "Compare with",
    list(REFERENCES),
    format_func=lambda name: RANKER_LABELS[name].lower(),
    horizontal=True,
    key="reference",
)
measures = (["truth"] if has_truth else []) + ["replay"]
for column, measure in zip(st.columns(len(measures)), measures, strict=True):
    with column:
        title = "Ground truth" if measure == "truth" else "Replay"
        st.markdown(f"**{title}: model − {RANKER_LABELS[reference].lower()}, 95% interval**")
        st.altair_chart(charts.difference_chart(board, reference, measure), width="stretch")


table = pd.DataFrame(
    {
        "Day": pd.to_datetime(board["date"]).dt.strftime("%Y-%m-%d"),
        "Model": board["model_id"],
    }
)
for name, prefix in REFERENCES.items():
    label = RANKER_LABELS[name].split()[0]
    for measure, fmt, unit in (("truth", signed, "truth"), ("replay", _pp, "replay, pp")):
        if measure not in measures:
            continue
        columns = [f"vs_{prefix}_{measure}{end}" for end in ("", "_low", "_high")]
        table[f"{label} ({unit})"] = [with_ci(*values, fmt) for values in board[columns].to_numpy()]
table["Replay rate"] = [
    with_ci(*values, pct)
    for values in board[["model_rate", "model_ci_low", "model_ci_high"]].to_numpy()
]
table["Mean AUC"] = board["model_auc"]
table["Baseline AUC"] = board["baseline_auc"]
table["Mode"] = board["mode"]
table["Train rows"] = board["train_rows"]
st.markdown("**All days**: model − reference [95% interval]")
st.dataframe(
    table.iloc[::-1],
    hide_index=True,
    width="stretch",
    column_config={
        "Mean AUC": st.column_config.NumberColumn(format="%.4f"),
        "Baseline AUC": st.column_config.NumberColumn(format="%.4f"),
        "Train rows": st.column_config.NumberColumn(format="localized"),
    },
)

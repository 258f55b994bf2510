"""Overview: the pooled verdict of the model against production and popularity, in words with
its 95% interval, the model serving now, then the per-day differences."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import charts, data
from dashboards.formatting import (
    RANKER_LABELS,
    count,
    gap,
    num,
    pct,
    signed,
    verdict_headline,
    with_ci,
)
from models.reporting.leaderboard import REFERENCES, TRUTH, verdict

VERDICT_BOXES = {"beats": st.success, "LOSES": st.error}


def _pp(value: float) -> str:
    """A difference in points, unit left to the column header: 0.054 → '+5.4'."""
    return f"{value * 100:+.1f}"


def _verdict(row: pd.Series) -> None:
    """One reference's pooled verdict in words with the interval that decided it, then the
    other measure as a secondary line."""
    box = next((show for word, show in VERDICT_BOXES.items() if word in row["verdict"]), st.info)
    by_truth = row["decided_by"] == TRUTH
    decided = "truth" if by_truth else "replay"
    headline = verdict_headline(
        row["verdict"],
        row[f"{decided}_difference"],
        row[f"{decided}_ci_low"],
        row[f"{decided}_ci_high"],
    )
    source = (
        "expected contributions per session of the #1 pick (ground truth), paired over "
        f"{count(row['truth_sessions'], 'session')} on {count(row['truth_days'], 'day')}"
        if by_truth
        else f"replay contribution rate @1 over {count(row['replay_days'], 'day')}"
    )
    box(f"**{headline}**  \n{source}")
    if by_truth:
        replay = gap(row["replay_difference"], row["replay_ci_low"], row["replay_ci_high"])
        replay_says = verdict(row["replay_ci_low"], row["replay_ci_high"], row["reference"])
        note = (
            f"Replay: {replay} over {count(row['replay_days'], 'day')}"
            + (
                f"; replay alone says {replay_says} (the paired ground truth is the tighter test)"
                if replay_says != row["verdict"]
                else ""
            )
            + "."
        )
        st.caption(note)


tables = data.snapshot_or_stop()
board, overview, gates = tables["leaderboard"], tables["overview"], tables["gate_verdicts"]
has_truth = not tables["paired_differences"].empty

st.title("Overview")
st.caption(
    "Each evaluated day D is ranked by the model promoted as of day D−1, as production would "
    "serve it. Every figure is **model − reference** with its 95% interval, in points (× 100): "
    "**ground truth** (simulator only) compares the expected contributions per session of each "
    "ranker's #1 pick on the same random-bucket sessions; **replay** compares contribution rates "
    "@1 on matched random-bucket impressions. The ground truth decides when present."
)
if board.empty or overview.empty:
    st.info("The snapshot has no evaluated models yet.")
    st.stop()

serving = gates.dropna(subset=["serving_model_id"])
if not serving.empty:
    latest = serving.iloc[-1]
    st.markdown(
        f"Promoted model now: **`{latest['serving_model_id']}`** "
        f"(as of {data.day_label(latest['date'])}; it ranks the next day)"
    )
else:
    last = board.iloc[-1]
    st.markdown(f"Latest model evaluated: **`{last['model_id']}`**")

st.subheader(f"Verdict over {count(board['date'].nunique(), 'evaluated day')}")
if not has_truth:
    st.info("No ground truth: replay only.", icon=":material/info:")
for column, (_, row) in zip(st.columns(len(overview)), overview.iterrows(), strict=True):
    with column.container(border=True):
        st.markdown(f"**vs {RANKER_LABELS[row['reference']].lower()}**")
        _verdict(row)

st.subheader("Per day")
row = data.latest(board).iloc[0]
st.markdown(f"Latest day: **{data.day_label(row['date'])}**, ranked by `{row['model_id']}`")
cards = st.columns(3)
cards[0].metric(
    "Replay contribution rate",
    pct(row["model_rate"], 1),
    delta=f"95% CI {pct(row['model_ci_low'], 1)} – {pct(row['model_ci_high'], 1)}",
    delta_color="off",
    delta_arrow="off",
    help=f"Over {num(row['matched'], 0)} matched impressions @1 (Wilson interval).",
    border=True,
)
cards[1].metric(
    "Mean AUC over heads",
    num(row["model_auc"], 3),
    delta=f"{signed(row['model_auc'] - row['baseline_auc'], 3)} vs popularity",
    help=f"Popularity baseline mean AUC: {num(row['baseline_auc'], 3)}.",
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
    {"Day": pd.to_datetime(board["date"]).dt.strftime("%Y-%m-%d"), "Model": board["model_id"]}
)
for name, prefix in REFERENCES.items():
    label = RANKER_LABELS[name].split()[0]
    for measure in measures:
        unit = "truth" if measure == "truth" else "replay"
        columns = [f"vs_{prefix}_{measure}{end}" for end in ("", "_low", "_high")]
        table[f"{label} ({unit}, points)"] = [
            with_ci(*values, _pp) for values in board[columns].to_numpy()
        ]
table["Replay rate"] = [
    with_ci(*values, lambda v: pct(v, 1))
    for values in board[["model_rate", "model_ci_low", "model_ci_high"]].to_numpy()
]
table["Mean AUC"] = board["model_auc"]
table["Baseline AUC"] = board["baseline_auc"]
table["Mode"] = board["mode"]
table["Train rows"] = board["train_rows"]
st.markdown("**All days**: model − reference in points [95% interval]")
st.dataframe(
    table.iloc[::-1],
    hide_index=True,
    width="stretch",
    column_config={
        "Mean AUC": st.column_config.NumberColumn(format="%.3f"),
        "Baseline AUC": st.column_config.NumberColumn(format="%.3f"),
        "Train rows": st.column_config.NumberColumn(format="localized"),
    },
)

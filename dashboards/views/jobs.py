"""Jobs: the apply / click model for Job Search and JYMBII against the production ranker (paper
§1, §17; issue 13 item 5), from the `jobs_evaluation` asset's tables in the snapshot.

Shown for the latest evaluated day: the verdict rows of product 'jobs' (model − production with
its 95% interval); apply and click AUC with their DeLong intervals, model vs production, and over
days; the qualified-application rate of each ranker's top-k jobs from the ground truth, with its
interval, and the paired difference model − production over days. NOT CONFIRMED by the paper: it
reports offline AUC and online qualified applications only; the top-k ground-truth measure is our
offline stand-in for the latter.
"""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.charts import RANKER_COLORS
from dashboards.formatting import RANKER_LABELS, gap, num, pct, with_ci
from dashboards.verdicts import show_product_verdicts
from models.reporting.review import JOBS_METRIC_HEADS, JOBS_SCORERS


def _labelled(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame.copy()
    out["day"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    out["who"] = out[column].map(RANKER_LABELS).fillna(out[column])
    return out


def _color(present: pd.Series) -> alt.Color:
    shown = [name for name in ("Model", "Production") if name in set(present)]
    return alt.Color(
        "who:N",
        title="Ranker",
        scale=alt.Scale(domain=shown, range=[RANKER_COLORS[name] for name in shown]),
        legend=alt.Legend(orient="bottom"),
    )


def auc_chart(frame: pd.DataFrame, head: str) -> alt.LayerChart:
    """One head's AUC per day, model vs production, each with its 95% DeLong interval."""
    shown = _labelled(frame[frame["head"] == head].dropna(subset=["auc"]), "scorer")
    base = alt.Chart(shown).encode(
        x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("who:N", sort=["Model", "Production"]),
        color=_color(shown["who"]),
        tooltip=[
            alt.Tooltip("day:O", title="Day"),
            alt.Tooltip("who:N", title="Ranker"),
            alt.Tooltip("auc:Q", title="AUC", format=".4f"),
            alt.Tooltip("auc_lo:Q", title="95% CI low", format=".4f"),
            alt.Tooltip("auc_hi:Q", title="95% CI high", format=".4f"),
            alt.Tooltip("rows:Q", title="Rows", format=","),
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("auc_lo:Q", title="AUC", scale=alt.Scale(zero=False)), y2="auc_hi:Q"
    )
    points = base.mark_point(filled=True, size=80).encode(y="auc:Q")
    return (bars + points).properties(title=f"P({head}): AUC, 95% interval", height=260)


def delta_chart(topk: pd.DataFrame) -> alt.LayerChart:
    """Model − production in the qualified-application rate of the top-k, per day and k, in
    points, each with its paired 95% interval, over a dashed rule at zero."""
    frame = topk[topk["ranker"] == "model"].dropna(subset=["delta_vs_production"]).copy()
    frame["day"] = pd.to_datetime(frame["date"]).dt.strftime("%Y-%m-%d")
    frame["top"] = "top " + frame["k"].astype(int).astype(str)
    for column in ("delta_vs_production", "delta_lo", "delta_hi"):
        frame[column] = frame[column] * 100
    order = [f"top {k}" for k in sorted(frame["k"].astype(int).unique())]
    base = alt.Chart(frame).encode(
        x=alt.X("day:O", title="Day", axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("top:N", sort=order),
        color=alt.Color("top:N", title="k", sort=order, legend=alt.Legend(orient="bottom")),
        tooltip=[
            alt.Tooltip("day:O", title="Day"),
            alt.Tooltip("top:N", title="k"),
            alt.Tooltip("delta_vs_production:Q", title="Model − production", format="+.2f"),
            alt.Tooltip("delta_lo:Q", title="95% CI low", format="+.2f"),
            alt.Tooltip("delta_hi:Q", title="95% CI high", format="+.2f"),
            alt.Tooltip("sessions:Q", title="Sessions", format=","),
        ],
    )
    bars = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("delta_lo:Q", title="Points"), y2="delta_hi:Q"
    )
    points = base.mark_point(filled=True, size=80).encode(y="delta_vs_production:Q")
    zero = (
        alt.Chart(pd.DataFrame({"zero": [0.0]}))
        .mark_rule(color="#444444", strokeDash=[4, 4])
        .encode(y="zero:Q")
    )
    return (zero + bars + points).properties(height=280)


tables = data.snapshot_or_stop()
metrics = tables["jobs_metrics"]
topk = tables["jobs_topk"]
verdicts = tables["product_verdicts"]

st.title("Jobs")
st.caption(
    "Job Search (a query → ranked jobs) and JYMBII recommendations, one model with an apply and "
    "a click head, against the production ranker, on the next day's impressions. The production "
    "score is not a probability: it has an AUC but no log loss, ECE or O/E. A *qualified "
    "application* is an apply by a member whose profile fits the posting (simulator's ground "
    "truth); the top-k rate is its true probability given examination, averaged over each "
    "session's top-k jobs by that ranker."
)
if metrics.empty and topk.empty:
    st.info(
        "No Jobs evaluation yet: materialize `jobs_evaluation` (part of `evaluation_job`), then "
        "`model_review`."
    )
    st.stop()

latest = data.latest(metrics if not metrics.empty else topk)
day = latest["date"].iloc[0]
st.markdown(f"**{data.day_label(day)}**, scored by `{latest['model_id'].iloc[0]}`")

show_product_verdicts(verdicts, "jobs", day, "Jobs", "The production ranker")

st.subheader("Apply and click")
if metrics.empty:
    st.info("No apply / click metrics in the snapshot (`jobs_metrics` is empty).")
else:
    day_metrics = metrics[metrics["date"] == day]
    rows = []
    for head in [h for h in JOBS_METRIC_HEADS if h in set(day_metrics["head"])]:
        by_scorer = day_metrics[day_metrics["head"] == head].set_index("scorer")
        row = {"Head": head}
        for scorer in JOBS_SCORERS:
            label = RANKER_LABELS[scorer]
            found = scorer in by_scorer.index
            values = by_scorer.loc[scorer] if found else None
            row[f"{label} AUC [95% CI]"] = (
                with_ci(values["auc"], values["auc_lo"], values["auc_hi"], lambda v: f"{v:.4f}")
                if found
                else "—"
            )
        model = by_scorer.loc["model"] if "model" in by_scorer.index else None
        row |= {
            "Rows": int(model["rows"]) if model is not None else None,
            "Positives": int(model["positives"]) if model is not None else None,
            "Model log loss": num(model["log_loss"]) if model is not None else "—",
            "Model ECE": num(model["ece"]) if model is not None else "—",
            "Model O/E": num(model["observed_expected"], 3) if model is not None else "—",
        }
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    columns = st.columns(len(JOBS_METRIC_HEADS))
    for column, head in zip(columns, JOBS_METRIC_HEADS, strict=True):
        with column:
            st.altair_chart(auc_chart(metrics, head), width="stretch")

st.subheader("Qualified applications in the top k (ground truth)")
if topk.empty:
    st.info("No top-k ground-truth rates in the snapshot (`jobs_topk` is empty).")
    st.stop()
day_topk = topk[topk["date"] == day]
model_rows = day_topk[day_topk["ranker"] == "model"].sort_values("k")
production = day_topk[day_topk["ranker"] == "production"].set_index("k")
cards = st.columns(max(len(model_rows), 1))
for card, row in zip(cards, model_rows.itertuples(), strict=False):
    card.metric(
        f"Qualified-application rate, top {int(row.k)}",
        pct(row.qualified_rate),
        delta=f"vs production {gap(row.delta_vs_production, row.delta_lo, row.delta_hi, 2)}",
        delta_color="off",
        delta_arrow="off",
        help=f"Model {with_ci(row.qualified_rate, row.qualified_lo, row.qualified_hi, pct)} "
        f"over {int(row.sessions):,} sessions; difference model − production paired over "
        "sessions, 95% interval",
    )
st.dataframe(
    pd.DataFrame(
        {
            "k": model_rows["k"].astype(int).to_numpy(),
            "Sessions": model_rows["sessions"].astype("Int64").to_numpy(),
            "Model [95% CI]": [
                with_ci(r.qualified_rate, r.qualified_lo, r.qualified_hi, pct)
                for r in model_rows.itertuples()
            ],
            "Production [95% CI]": [
                with_ci(
                    production.loc[r.k, "qualified_rate"],
                    production.loc[r.k, "qualified_lo"],
                    production.loc[r.k, "qualified_hi"],
                    pct,
                )
                if r.k in production.index
                else "—"
                for r in model_rows.itertuples()
            ],
            "Model − production [95% CI]": [
                gap(r.delta_vs_production, r.delta_lo, r.delta_hi, 2)
                for r in model_rows.itertuples()
            ],
        }
    ),
    hide_index=True,
    width="stretch",
)
st.markdown("**Model − production in the top-k qualified rate, per day (95% interval)**")
st.altair_chart(delta_chart(topk), width="stretch")

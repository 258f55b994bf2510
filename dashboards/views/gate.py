"""Model gate: each day's candidate model with the gate's verdict, its reasons and checks, and
which model is promoted (serving) after each day."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.formatting import count


def _verdict(row: pd.Series) -> str:
    if not row["gated"]:
        return "not gated"
    return "passed" if row["passed"] else "FAILED"


def _check_state(passed: object) -> str:
    if passed is None or (isinstance(passed, float) and pd.isna(passed)) or passed is pd.NA:
        return "not judged"
    return "pass" if bool(passed) else "FAIL"


tables = data.snapshot_or_stop()
gates, checks = tables["gate_verdicts"], tables["gate_checks"]

st.title("Model gate")
st.caption(
    "Each day's candidate must pass the gate on its day's held-out rows before it is promoted: "
    "final training loss, AUC per head not significantly below popularity (DeLong), "
    "calibration (O/E and ECE) per head, and log loss not significantly worse than the previous "
    "promoted model's. A candidate that fails stays on disk with its reasons; the last promoted "
    "model keeps serving, warm-starting the next day and ranking the next day's traffic."
)
if gates.empty:
    st.info(
        "The snapshot has no gate records yet (the review snapshot reads each model "
        "directory's `gate.json`); materialize `model_review` again after training."
    )
    st.stop()

latest = gates.iloc[-1]
failed = gates[gates["gated"] & ~gates["passed"].fillna(False).astype(bool)]
serving = latest["serving_model_id"]
if isinstance(serving, str):
    st.success(
        f"**Promoted model now: `{serving}`** (as of {data.day_label(latest['date'])})",
        icon=":material/verified:",
    )
else:
    st.error("**No model is promoted**: every candidate so far failed the gate or was not gated.")
st.markdown(
    f"{count(int(gates['passed'].fillna(False).astype(bool).sum()), 'model')} of "
    f"{len(gates)} passed the gate; {count(len(failed), 'candidate')} failed."
)
for row in failed.itertuples():
    stays = f"`{row.serving_model_id}` kept serving" if row.serving_model_id else "no model served"
    reasons = "\n".join(f"- {reason}" for reason in str(row.reasons).splitlines())
    st.error(
        f"**`{row.model_id}` failed the gate and was NOT promoted**; {stays}.\n\n{reasons}",
        icon=":material/block:",
    )

table = pd.DataFrame(
    {
        "Day": pd.to_datetime(gates["date"]).dt.strftime("%Y-%m-%d"),
        "Model": gates["model_id"],
        "Gate": [_verdict(row) for _, row in gates.iterrows()],
        "Promoted": gates["promoted"].astype(bool),
        "Serving after the day": gates["serving_model_id"].fillna("—"),
        "Judged against": gates["compared_with"].fillna("popularity only (cold start)"),
        "Reasons": gates["reasons"].fillna("").str.replace("\n", "; "),
    }
)
st.markdown("**Every candidate**")
st.dataframe(table.iloc[::-1], hide_index=True, width="stretch")

if not checks.empty:
    models = list(gates["model_id"].iloc[::-1])
    model_id = st.selectbox("Checks of", models, key="gate_model")
    mine = checks[checks["model_id"] == model_id]
    st.markdown(f"**The gate's checks of `{model_id}`**")
    st.dataframe(
        pd.DataFrame(
            {
                "Check": mine["check"],
                "Head": mine["head"],
                "Result": [_check_state(value) for value in mine["passed"]],
                "Value": mine["value"].round(4),
                "Rule": mine["bound"],
                "Detail": mine["detail"],
            }
        ),
        hide_index=True,
        width="stretch",
    )

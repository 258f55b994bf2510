"""The verdict boxes of a product page: each `product_verdicts` row of the day in words, coloured
by outcome (red: the model loses to production, green: it wins)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards.formatting import product_verdict

VERDICT_BOXES = {"wins": st.success, "loses": st.error}


def show_product_verdicts(
    verdicts: pd.DataFrame, product: str, day, name: str, production: str
) -> None:
    """The `product` rows of `day`, one box each, and under a loss the sentence that the model
    should not replace `production` (e.g. "The production ranker's pCTR") on this evidence."""
    rows = verdicts[(verdicts["product"] == product) & (verdicts["date"] == day)]
    if rows.empty:
        st.info(f"No {name} verdict for this day in `product_verdicts`.")
    for row in rows.itertuples():
        box = VERDICT_BOXES.get(row.verdict, st.info)
        box(
            product_verdict(
                row.verdict,
                row.metric,
                row.model_value,
                row.production_value,
                row.delta,
                row.delta_lo,
                row.delta_hi,
            )
        )
    if (rows["verdict"] == "loses").any():
        st.markdown(
            f"{production} is **better** on the measure(s) in red: the model should not "
            "replace it on this evidence."
        )

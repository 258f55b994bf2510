"""A day of Ads or Jobs traffic judged against the product's production ranker (next-day).

The feed's protocol (`models.evaluation.protocol`), per product: day D's rows, which no model of
D−1 trained on, are scored by the model promoted as of D−1, and every headline figure carries a
95% interval.

* Ads (`evaluate_ads_day`): the impressed sponsored slots, each priced by the head of its ad's
  chargeability group (`models.ads_examples.served_probability`), for the float model, its 8-bit
  variant and the production ranker's logged pCTR: per head AUC (DeLong), log loss, ECE and
  observed / expected (`models.evaluation.ads`), reliability curves, and the verdict of the
  model against production (paired intervals on the same rows).
* Jobs (`evaluate_jobs_day`): apply and click AUC of the model against the production ranker's
  logged score on the impressed rows, and, with the simulator's ground truth, the mean true
  P(qualified application | examined) of each ranker's top-k of every served slate, with the
  paired difference (`models.evaluation.jobs`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from models.evaluation.scoring import read_partition

TOP_K = 3
"""The Jobs top-k whose true qualified-application rate is compared (of 10 served)."""


@dataclasses.dataclass(frozen=True)
class ProductDay:
    """A product's evaluated day: warehouse tables by name, and the verdict rows against the
    production ranker (`product_verdicts`: product, metric, model_value, production_value,
    delta, delta_lo, delta_hi, verdict)."""

    tables: dict[str, pd.DataFrame]
    verdict: pd.DataFrame


def evaluate_ads_day(
    examples_dir: Path, model_dir: Path, quantized_dir: Path | None = None
) -> ProductDay:
    """Day D's `ads_examples` (every session: train and holdout) priced by the model in
    `model_dir` (promoted as of D−1), its 8-bit variant in `quantized_dir` (when given) and the
    production ranker's pCTR."""
    from models.ads_examples import served_probability
    from models.evaluation.ads import ads_calibration, ads_metrics, ads_verdict
    from models.training.product import product_probabilities

    frame = read_partition(Path(examples_dir))
    model = served_probability(product_probabilities(model_dir, "ads", frame), frame)
    scorers = {"model": model}
    if quantized_dir is not None:
        scorers["model_8bit"] = served_probability(
            product_probabilities(quantized_dir, "ads", frame), frame
        )
    scorers["production"] = frame["ranker_pctr"].to_numpy(dtype=np.float64)
    return ProductDay(
        tables={
            "ads_metrics": ads_metrics(frame, scorers),
            "ads_calibration": ads_calibration(frame, scorers),
        },
        verdict=ads_verdict(frame, model, scorers["production"]),
    )


def evaluate_jobs_day(
    examples_dir: Path, model_dir: Path, truth_dir: Path | None, k: int = TOP_K
) -> ProductDay:
    """Day D's `jobs_examples` (every served slate) ranked by the model in `model_dir` (promoted
    as of D−1) and by the production ranker; `truth_dir` is the day's `jobs_ground_truth`
    partition (None for a user's logs: the top-k rates are then not computed)."""
    from models.evaluation.jobs import (
        jobs_metrics,
        jobs_verdict,
        paired_auc_delta,
        qualified_top_k,
    )
    from models.training.product import product_probabilities

    frame = read_partition(Path(examples_dir))
    probs = product_probabilities(model_dir, "jobs", frame)
    impressed = frame["impressed"].astype(bool).to_numpy()
    rows = frame[impressed].reset_index(drop=True)
    production = frame["ranker_score"].to_numpy(dtype=np.float64)
    metrics = jobs_metrics(
        rows,
        {
            "model": {head: p[impressed] for head, p in probs.items()},
            "production": {head: production[impressed] for head in probs},
        },
    )
    topk = None
    if truth_dir is not None:
        truth = read_partition(Path(truth_dir))
        topk = qualified_top_k(frame, truth, {"model": probs["apply"]}, k=k)
    tables = {"jobs_metrics": metrics}
    if topk is not None:
        tables["jobs_topk"] = topk
    apply_auc = paired_auc_delta(frame, probs["apply"], production)  # DeLong, paired rows
    return ProductDay(tables=tables, verdict=jobs_verdict(topk, metrics, apply_auc))

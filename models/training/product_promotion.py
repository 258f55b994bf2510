"""An Ads or Jobs model from training to promotion: the feed's model gate on the product's heads.

The same protocol as the feed (`models.training.promotion`): the candidate is trained into its
own directory (atomic), judged on the day's held-out sessions it never trained on, recorded,
and promoted by writing `gate.json` last. The gate is the feed's pure `gate_model` with the
product's heads:

* rules 2–4 per head (AUC not significantly below the popularity baseline, DeLong's paired
  variance; observed / expected within range; debiased ECE), the baseline being the item's
  smoothed rate on the day's training rows (ads: `ad_id`, jobs: `job_id`;
  `models.evaluation.baselines.popularity_scores`);
* rule 1 (the final epoch's loss) and rule 5 (log loss not significantly worse than the previous
  promoted model's on the same rows);
* rule 6 (the #1 picks on the random bucket) is the feed's only: neither product has a random
  bucket, so it is not judged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from models.evaluation.baselines import popularity_scores
from models.evaluation.gate import (
    DEFAULT_GATE_CONFIG,
    GateConfig,
    GateVerdict,
    gate_model,
)
from models.evaluation.scoring import read_partition
from models.training.config import TrainingResult
from models.training.job import run_training
from models.training.product import ProductPlan, product_of, product_probabilities
from models.training.promotion import (
    HOLDOUT_SPLIT,
    Promotion,
    commit_verdict,
    unjudged_verdict,
)


def gate_product_candidate(
    product: str,
    model_dir: Path,
    examples_dir: Path,
    epoch_losses: tuple[float, ...],
    compared_with: Path | None,
    config: GateConfig = DEFAULT_GATE_CONFIG,
) -> GateVerdict:
    """Gate the `product` candidate in `model_dir` on the held-out rows of its day's examples
    (`examples_dir`, a Parquet partition with `split`; Jobs: the impressed rows)."""
    spec = product_of(product)
    examples = spec.training_rows(read_partition(Path(examples_dir)))
    holdout = examples[examples["split"] == HOLDOUT_SPLIT].reset_index(drop=True)
    train = examples[examples["split"] == "train"].reset_index(drop=True)
    if holdout.empty or train.empty:
        return unjudged_verdict(len(holdout), len(train), examples_dir)
    candidate = product_probabilities(Path(model_dir), product, holdout)
    heads = tuple(candidate)
    labels = {h: v.astype(np.float64) for h, v in spec.labels(holdout, heads).items()}
    train_labels = spec.labels(train, heads)
    items = spec.item_column
    baseline = {
        head: popularity_scores(
            train[items].to_numpy(), train_labels[head], holdout[items].to_numpy()
        )
        for head in heads
    }
    previous = (
        product_probabilities(Path(compared_with), product, holdout) if compared_with else None
    )
    return gate_model(labels, candidate, baseline, epoch_losses, previous, config)


def train_and_gate_product(
    plan: ProductPlan,
    examples_dir: Path,
    *,
    compared_with: Path | None,
    config: GateConfig = DEFAULT_GATE_CONFIG,
    record: Callable[[TrainingResult, GateVerdict], None] | None = None,
    train: Callable[[ProductPlan], TrainingResult] = run_training,
) -> Promotion:
    """Train `plan`'s candidate, gate it on `examples_dir`'s held-out rows and commit the
    verdict (`gate.json`, last). Raises `TrainingDivergedError` with nothing written."""
    result = train(plan)
    verdict = gate_product_candidate(
        plan.product, Path(result.path), examples_dir, result.epoch_losses, compared_with, config
    )
    return commit_verdict(result, verdict, compared_with, config, record)

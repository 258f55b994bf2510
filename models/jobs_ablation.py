"""The Jobs ablation ladder (paper Table 10 style): IDs + MLP → + QR compression → + DCNv2.

Each ladder row is a `JobsModelConfig` variant trained the same way (`train_feed_model`, the
training recipe of every LiRank model) on a day's impressed "train" rows and judged on the next
day's traffic:

    0. "IDs + MLP (full vocabularies)"   embedding="hash", cross_layers=0   (the baseline)
    1. "+ QR compression"                embedding="qr",   cross_layers=0
    2. "+ task-specific DCNv2"           embedding="qr",   cross_layers=2   (production)

Per row and head: AUC on the next day's impressed rows and its paired difference from row 0
(DeLong: both score the same rows), log loss, the embedding parameters and their ratio to row
0's, and the qualified-application rate of the top-k with the apply probability as the score
(`models.evaluation.jobs.qualified_top_k`). Paper Table 10 (JYMBII AUC): IDs + DCNv2 +2.23%, the
same with QR hashing and 5× fewer parameters.

With several seeds each row trains once per seed; the table holds the means over seeds, and the
interval of a difference is its mean ± z · the mean DeLong standard error (the seeds share the
evaluation rows, so their sampling error does not average out; NOT CONFIRMED by the paper, which
gives no intervals). The rows stack (each adds to the one before), as the paper's Table 10 lists
them; NOT CONFIRMED: the paper's rows are relative to its own baseline, not necessarily stacked.

Example:

    table = jobs_ablation(day_frame, next_day_frame, next_day_truth, TrainingConfig(epochs=2))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd
from scipy.stats import norm

from models.evaluation.gate import paired_auc_difference
from models.evaluation.intervals import CONFIDENCE
from models.evaluation.jobs import qualified_top_k
from models.evaluation.metrics import auc, log_loss
from models.inputs.stream import KeyedArrayExamples
from models.jobs import JOBS_HEADS, JobsModel, JobsModelConfig, jobs_probabilities, table_parameters
from models.jobs_examples import jobs_inputs, jobs_labels, training_rows
from models.training.config import TrainingConfig
from models.training.loop import train_feed_model

JOBS_ABLATION_COLUMNS: tuple[str, ...] = (
    "row",
    "variant",
    "head",
    "auc",
    "auc_delta_vs_baseline",
    "delta_lo",
    "delta_hi",
    "log_loss",
    "table_parameters",
    "param_ratio",
    "qualified_rate",
)


@dataclasses.dataclass(frozen=True)
class LadderRow:
    """One row of the ladder: its name and the model options it sets."""

    variant: str
    embedding: str
    cross_layers: int

    def config(self, base: JobsModelConfig) -> JobsModelConfig:
        return dataclasses.replace(base, embedding=self.embedding, cross_layers=self.cross_layers)


JOBS_LADDER: tuple[LadderRow, ...] = (
    LadderRow("IDs + MLP (full vocabularies)", "hash", 0),
    LadderRow("+ QR compression", "qr", 0),
    LadderRow("+ task-specific DCNv2", "qr", 2),
)


def _train_and_score(
    config: JobsModelConfig,
    training: TrainingConfig,
    seed: int,
    train_inputs: dict,
    train_labels: dict,
    evaluate_inputs: dict,
) -> tuple[dict[str, np.ndarray], int]:
    keras.utils.set_random_seed(seed)
    model = JobsModel(config)
    train_feed_model(
        model,
        KeyedArrayExamples(train_inputs, train_labels),
        None,
        dataclasses.replace(training, seed=seed),
        tasks=model.tasks,
    )
    return jobs_probabilities(model, evaluate_inputs), table_parameters(model)


def jobs_ablation(
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    truth: pd.DataFrame,
    training: TrainingConfig,
    seeds: Sequence[int] = (0,),
    k: int = 3,
    config: JobsModelConfig | None = None,
    ladder: Sequence[LadderRow] = JOBS_LADDER,
    confidence: float = CONFIDENCE,
) -> pd.DataFrame:
    """Train every ladder row on `train` and judge it on `evaluate` (the next day).

    Args:
        train: a `jobs_examples` frame; its impressed "train" rows train each row.
        evaluate: the next day's `jobs_examples` frame: AUC and log loss on its impressed rows
            (both splits: no model saw that day), the top-k on every served row.
        truth: JOBS_GROUND_TRUTH rows of `evaluate`'s sessions.
        training: the training recipe (its seed is replaced by each of `seeds`).
        seeds: one training run per seed and row; the table holds the means.
        k: the top k of the qualified-application rate.
        config: the base model configuration whose `embedding` and `cross_layers` each row sets
            (None: `JobsModelConfig()`).
        ladder: the rows; the first is the baseline the deltas and ratios refer to.
        confidence: of the paired AUC intervals.

    Returns:
        `JOBS_ABLATION_COLUMNS`, one row per ladder row and head.
    """
    if not seeds:
        raise ValueError("`seeds` must hold at least one seed. Received: seeds=()")
    if not ladder:
        raise ValueError("`ladder` must hold at least one row (the baseline).")
    base = config or JobsModelConfig()
    rows = training_rows(train, "train")
    if rows.empty:
        raise ValueError(
            "jobs_ablation: the train frame has no impressed 'train' rows; pass a day's "
            "jobs_examples frame."
        )
    train_inputs, train_labels = jobs_inputs(rows), jobs_labels(rows)
    evaluate_inputs = jobs_inputs(evaluate)
    impressed = evaluate["impressed"].to_numpy(dtype=bool)
    labels = {head: evaluate[head].to_numpy(dtype=np.float64)[impressed] for head in JOBS_HEADS}

    # probabilities[row][seed] = {head: [n_evaluate]}
    probabilities: list[list[dict[str, np.ndarray]]] = []
    parameters: list[int] = []
    for step in ladder:
        runs = []
        for seed in seeds:
            probs, count = _train_and_score(
                step.config(base), training, seed, train_inputs, train_labels, evaluate_inputs
            )
            runs.append(probs)
        probabilities.append(runs)
        parameters.append(count)

    z = float(norm.ppf(0.5 + confidence / 2.0))
    out = []
    for index, step in enumerate(ladder):
        runs = probabilities[index]
        topk = [
            qualified_top_k(evaluate, truth, {"model": run["apply"]}, k=k)
            .set_index("ranker")
            .loc["model", "qualified_rate"]
            for run in runs
        ]
        for head in JOBS_HEADS:
            y = labels[head]
            scores = [run[head][impressed] for run in runs]
            if index == 0:
                delta, error = 0.0, 0.0
            else:
                pairs = [
                    paired_auc_difference(y, s, base_run[head][impressed])
                    for s, base_run in zip(scores, probabilities[0], strict=True)
                ]
                delta = float(np.mean([d for d, _ in pairs]))
                error = float(np.mean([e for _, e in pairs]))
            out.append(
                {
                    "row": index,
                    "variant": step.variant,
                    "head": head,
                    "auc": float(np.mean([auc(y, s) for s in scores])),
                    "auc_delta_vs_baseline": delta,
                    "delta_lo": delta - z * error,
                    "delta_hi": delta + z * error,
                    "log_loss": float(np.mean([log_loss(y, s) for s in scores])),
                    "table_parameters": parameters[index],
                    "param_ratio": parameters[index] / parameters[0],
                    "qualified_rate": float(np.mean(topk)),
                }
            )
    return pd.DataFrame(out, columns=list(JOBS_ABLATION_COLUMNS))

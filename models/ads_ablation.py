"""The Ads CTR ablation ladder (paper Table 8 style): each LiRank technique added in turn, each
row judged on the next day's traffic against the no-ID MLP baseline.

`ADS_LADDER` stacks its rows cumulatively (every row keeps the overrides of the rows above it):

    MLP baseline (no IDs)              use_ids=False, "mlp" heads, no isotonic, one head
    + ID embeddings                    use_ids=True
    + 8-bit quantization               the previous row's trained model, quantized post-training
    + DCNv2                            head_interaction="dcnv2"   (quantized after training)
    + isotonic calibration             isotonic=True              (quantized after training)
    + multi-task chargeability heads   heads = CHARGEABILITY_GROUPS (quantized after training)

Before the last row the model has one head, "chargeable_click" (each ad's own group's label);
the last row has a head per chargeability group and prices each ad with its group's head
(`models.ads_examples.served_probability`). Each row trains with the feed's recipe
(`models.training.loop.train_feed_model` on `KeyedArrayExamples`), scores the evaluation day,
and reports AUC, its paired difference with the baseline (DeLong, on the same rows), log loss,
ECE, observed/expected and the bytes of the ID tables it serves.

With several seeds, each seed trains every row; a row's AUC and other metrics are the mean over
seeds, its delta the mean of the per-seed deltas Δ_k (each vs the baseline of the same seed),
with the interval

    mean Δ ± z · sqrt( mean_k SE_k² + s²_Δ / K )

where SE_k is seed k's DeLong standard error (the evaluation rows are shared by every seed, so
their noise does not shrink with more seeds) and s²_Δ the variance of the Δ_k across the K seeds
(the training noise of the mean; 0 for one seed). A conservative pooling, NOT CONFIRMED by the
paper (Table 8 gives point AUC lifts only).

NOT CONFIRMED by the paper (our decisions): the order of the rows (Table 8 lists
variants, not a ladder), that quantization stays on below its row, and the no-MTL variant's
single head.

Example:

    table = ads_ablation(day_3_rows, day_4_rows, TrainingConfig(epochs=2), seeds=(0, 1))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import keras
import numpy as np
import pandas as pd
from scipy.stats import norm

from models.ads import AdsModel, AdsModelConfig
from models.ads_examples import SINGLE_HEAD, ads_inputs, ads_labels, served_probability
from models.compression.ads import id_table_bytes, quantize_ads_model
from models.evaluation.gate import expected_calibration_error, paired_auc_difference
from models.evaluation.metrics import auc, calibration_ratio, log_loss
from models.inputs.stream import KeyedArrayExamples
from models.training.config import TrainingConfig
from models.training.loop import train_feed_model
from models.training.product import predict_heads
from spark.schemas import CHARGEABILITY_GROUPS


class LadderRow(NamedTuple):
    """One row of the ladder, (name, overrides, quantized): the config overrides it adds on top
    of the rows above it, and whether its trained model is served 8-bit quantized."""

    name: str
    overrides: Mapping
    quantized: bool


ADS_LADDER: tuple[LadderRow, ...] = (
    LadderRow(
        "MLP baseline (no IDs)",
        {"use_ids": False, "head_interaction": "mlp", "isotonic": False, "heads": SINGLE_HEAD},
        False,
    ),
    LadderRow("+ ID embeddings", {"use_ids": True}, False),
    LadderRow("+ 8-bit quantization", {}, True),
    LadderRow("+ DCNv2", {"head_interaction": "dcnv2"}, True),
    LadderRow("+ isotonic calibration", {"isotonic": True}, True),
    LadderRow("+ multi-task chargeability heads", {"heads": CHARGEABILITY_GROUPS}, True),
)
ABLATION_COLUMNS: tuple[str, ...] = (
    "row", "variant", "auc", "auc_delta_vs_baseline", "delta_lo", "delta_hi", "log_loss", "ece",
    "observed_expected", "table_bytes",
)  # fmt: skip


def ladder_configs(
    base: AdsModelConfig | None = None, ladder: Sequence[LadderRow] = ADS_LADDER
) -> list[AdsModelConfig]:
    """Each row's model config: `base` with the overrides of that row and every row above."""
    values = (base or AdsModelConfig()).to_dict()
    configs = []
    for row in ladder:
        values = {**values, **dict(row.overrides)}
        configs.append(AdsModelConfig.from_dict(values))
    return configs


def ads_ablation(
    train: pd.DataFrame,
    evaluate: pd.DataFrame,
    training: TrainingConfig,
    seeds: Sequence[int] = (0,),
    base: AdsModelConfig | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Train every ladder row on `train`, judge it on `evaluate` (module docstring).

    Args:
        train: `ads_examples` rows to train on (e.g. day D's).
        evaluate: `ads_examples` rows of the next day, which no row trained on.
        training: the loop's settings (its seed is replaced by each of `seeds`).
        seeds: one training of every row per seed.
        base: the model config the ladder's overrides apply to (default `AdsModelConfig()`).
        confidence: of the delta intervals.

    Returns:
        one row per ladder row, `ABLATION_COLUMNS`; the baseline's delta is 0 by construction.

    Raises:
        ValueError: no seeds, or no rows to train on or evaluate.
    """
    if not seeds:
        raise ValueError("`seeds` must name at least one seed. Received: seeds=()")
    if len(train) == 0 or len(evaluate) == 0:
        raise ValueError(
            f"the ablation needs rows to train on and evaluate. Received {len(train)} train "
            f"rows and {len(evaluate)} evaluation rows"
        )
    configs = ladder_configs(base)
    labels = evaluate["chargeable_click"].to_numpy(dtype=np.float64)
    train_inputs, eval_inputs = ads_inputs(train), ads_inputs(evaluate)
    per_seed = []  # per seed: per row (served probabilities, table bytes)
    for seed in seeds:
        trained: dict[AdsModelConfig, AdsModel] = {}
        scored = []
        for row, config in zip(ADS_LADDER, configs, strict=True):
            if config not in trained:
                trained[config] = _trained(config, train, train_inputs, training, seed)
            model = trained[config]
            if row.quantized:
                model, _ = quantize_ads_model(model)
            probs = predict_heads(model, eval_inputs)
            scored.append((served_probability(probs, evaluate), id_table_bytes(model)))
        per_seed.append(scored)

    z = float(norm.ppf(0.5 + confidence / 2.0))
    out = []
    for index, row in enumerate(ADS_LADDER):
        runs = [scored[index] for scored in per_seed]
        baselines = [scored[0][0] for scored in per_seed]
        differences = [
            paired_auc_difference(labels, probs, baseline)
            for (probs, _), baseline in zip(runs, baselines, strict=True)
        ]
        deltas = np.array([d for d, _ in differences])
        errors = np.array([e for _, e in differences])
        seed_variance = deltas.var(ddof=1) / len(deltas) if len(deltas) > 1 else 0.0
        half = z * math.sqrt(float(np.mean(errors**2)) + seed_variance)
        delta = float(deltas.mean())

        def mean_of(metric, runs=runs) -> float:
            return float(np.mean([metric(labels, probs) for probs, _ in runs]))

        out.append(
            (
                index,
                row.name,
                mean_of(auc),
                delta,
                delta - half,
                delta + half,
                mean_of(log_loss),
                mean_of(expected_calibration_error),
                mean_of(calibration_ratio),
                int(runs[0][1]),
            )  # fmt: skip
        )
    return pd.DataFrame(out, columns=list(ABLATION_COLUMNS))


def _trained(
    config: AdsModelConfig,
    train: pd.DataFrame,
    inputs: Mapping[str, np.ndarray],
    training: TrainingConfig,
    seed: int,
) -> AdsModel:
    """A fresh model of `config` (weights seeded by `seed`) trained on `train`."""
    keras.utils.set_random_seed(seed)
    model = AdsModel(config)
    source = KeyedArrayExamples(inputs, ads_labels(train, config.heads))
    train_feed_model(
        model, source, None, dataclasses.replace(training, seed=seed), tasks=model.tasks
    )
    return model

"""Tests for models.ads_ablation: the ladder's cumulative configs and a small end-to-end run."""

from __future__ import annotations

import numpy as np
import pytest

from models.ads import TINY_ADS_MODEL
from models.ads_ablation import ABLATION_COLUMNS, ADS_LADDER, ads_ablation, ladder_configs
from models.ads_examples import SINGLE_HEAD, ads_examples
from models.training.config import TrainingConfig
from spark.schemas import CHARGEABILITY_GROUPS
from tests.models.ads_data import ads_day_tables, ads_entities


def test_the_ladder_stacks_its_rows():
    assert [row.name for row in ADS_LADDER] == [
        "MLP baseline (no IDs)",
        "+ ID embeddings",
        "+ 8-bit quantization",
        "+ DCNv2",
        "+ isotonic calibration",
        "+ multi-task chargeability heads",
    ]
    configs = ladder_configs(TINY_ADS_MODEL)
    steps = [(c.use_ids, c.head_interaction, c.isotonic, c.heads) for c in configs]
    assert steps == [
        (False, "mlp", False, SINGLE_HEAD),
        (True, "mlp", False, SINGLE_HEAD),
        (True, "mlp", False, SINGLE_HEAD),
        (True, "dcnv2", False, SINGLE_HEAD),
        (True, "dcnv2", True, SINGLE_HEAD),
        (True, "dcnv2", True, CHARGEABILITY_GROUPS),
    ]
    # quantization is post-training: the row keeps the previous row's model config
    assert configs[2] == configs[1]
    assert [row.quantized for row in ADS_LADDER] == [False, False, True, True, True, True]
    assert all(c.embedding_dim == TINY_ADS_MODEL.embedding_dim for c in configs)
    name, overrides, quantized = ADS_LADDER[0]
    assert (name, quantized, overrides["use_ids"]) == ("MLP baseline (no IDs)", False, False)


@pytest.fixture(scope="module")
def two_days():
    entities = ads_entities(seed=4)
    train = ads_examples(*ads_day_tables(0, sessions=1000, seed=4, entities=entities))
    evaluate = ads_examples(*ads_day_tables(1, sessions=700, seed=4, entities=entities))
    return train, evaluate


def test_small_ablation_returns_every_row_with_finite_values(two_days):
    train, evaluate = two_days
    assert len(train) > 2000 and len(evaluate) > 1400
    training = TrainingConfig(epochs=1, batch_size=256, learning_rate=0.01, warmup_fraction=0.1)
    table = ads_ablation(train, evaluate, training, seeds=(0, 1), base=TINY_ADS_MODEL)
    assert tuple(table.columns) == ABLATION_COLUMNS
    assert table["variant"].tolist() == [row.name for row in ADS_LADDER]
    assert table["row"].tolist() == list(range(len(ADS_LADDER)))
    numeric = table.drop(columns=["variant"]).to_numpy(dtype=np.float64)
    assert np.isfinite(numeric).all()
    baseline = table.iloc[0]
    assert baseline["auc_delta_vs_baseline"] == 0.0
    assert baseline["delta_lo"] == pytest.approx(0.0, abs=1e-9)
    assert baseline["delta_hi"] == pytest.approx(0.0, abs=1e-9)
    assert ((table["auc"] > 0) & (table["auc"] < 1)).all()
    assert (table["delta_lo"] <= table["auc_delta_vs_baseline"]).all()
    assert (table["auc_delta_vs_baseline"] <= table["delta_hi"]).all()
    # bytes served: none without IDs, 4 a value in float, d + 4 a row at 8 bits
    rows, dim = sum(TINY_ADS_MODEL.id_buckets), TINY_ADS_MODEL.embedding_dim
    assert table["table_bytes"].tolist() == [0, rows * dim * 4] + [rows * (dim + 4)] * 4
    # quantizing the trained model barely moves it
    assert abs(table.loc[2, "auc"] - table.loc[1, "auc"]) < 0.005
    assert abs(table.loc[2, "log_loss"] - table.loc[1, "log_loss"]) < 0.005


def test_refuses_empty_inputs(two_days):
    train, evaluate = two_days
    with pytest.raises(ValueError, match="0 evaluation rows"):
        ads_ablation(train, evaluate.iloc[:0], TrainingConfig(), base=TINY_ADS_MODEL)
    with pytest.raises(ValueError, match="seeds=\\(\\)"):
        ads_ablation(train, evaluate, TrainingConfig(), seeds=(), base=TINY_ADS_MODEL)

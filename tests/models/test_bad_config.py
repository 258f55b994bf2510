"""Every layer and model config rejects the four classic bad settings (negative rank, zero buckets,
a history shorter than the 5 steps it must output, an unknown aggregation) with a ValueError that
names the argument and the value."""

from __future__ import annotations

import re

import pytest

from models.ads import AdsModelConfig
from models.compression.rowwise import quantize_rows
from models.feed import CrossInteraction, EmbeddingTable, FeedModelConfig, TransformerHistory
from models.heads import CrossMLPHead
from models.jobs import JobsModelConfig
from models.layers import (
    AttentionLowRankCross,
    GatedMLP,
    HistoryTransformerEncoder,
    IsotonicCalibration,
    LowRankCross,
    QREmbedding,
    ResidualDCN,
    UnlimitedVocabEmbedding,
)
from models.layers.dense_gating import DenseGate
from models.layers.pooling import hash_ids

CASES = [
    # negative rank
    (lambda: LowRankCross(projection_dim=-2), "projection_dim=-2"),
    (lambda: AttentionLowRankCross(projection_dim=-2), "projection_dim=-2"),
    (lambda: ResidualDCN(projection_dim=-2), "projection_dim=-2"),
    (lambda: CrossMLPHead((8,), cross_layers=2, projection_dim=-2), "projection_dim=-2"),
    (lambda: FeedModelConfig(cross_projection_dim=-2), "cross_projection_dim=-2"),
    (lambda: AdsModelConfig(projection_dim=-2), "projection_dim=-2"),
    (lambda: JobsModelConfig(projection_dim=-2), "projection_dim=-2"),
    (lambda: CrossInteraction(layers=2, projection_dim=-2), "projection_dim=-2"),
    # zero buckets
    (lambda: IsotonicCalibration(num_buckets=0, step=0.1), "num_buckets=0"),
    (lambda: QREmbedding(num_buckets=0, num_collisions=1, output_dim=4), "num_buckets=0"),
    (lambda: QREmbedding(num_buckets=10, num_collisions=0, output_dim=4), "num_collisions=0"),
    (lambda: UnlimitedVocabEmbedding(4, num_collisions=0), "num_collisions=0"),
    (lambda: FeedModelConfig(calibration_buckets=0), "calibration_buckets=0"),
    (lambda: FeedModelConfig(member_buckets=0), "member_buckets=0"),
    (lambda: AdsModelConfig(id_buckets=(10, 0, 10, 10)), r"id_buckets=\(10, 0, 10, 10\)"),
    (lambda: JobsModelConfig(matrix_buckets=(1, 1, 0, 1, 1)), r"matrix_buckets=\(1, 1, 0, 1, 1\)"),
    (lambda: EmbeddingTable("actor", 0, ("author_id",)), "num_buckets=0"),
    (lambda: hash_ids([1, 2], num_buckets=0), "num_buckets=0"),
    # a history shorter than the last 5 steps it outputs
    (lambda: HistoryTransformerEncoder(max_length=4, model_dim=8), "max_length=4"),
    (
        lambda: FeedModelConfig(history_pooling="transformer", history_max_length=4),
        "history_max_length=4",
    ),
    (lambda: TransformerHistory(embedding_dim=8, max_length=4), "max_length=4"),
    # unknown aggregation / block
    (lambda: QREmbedding(100, 10, 4, combiner="mean"), "combiner='mean'"),
    (lambda: UnlimitedVocabEmbedding(4, merge="mean"), "merge='mean'"),
    (lambda: UnlimitedVocabEmbedding(4, qr_combiner="max"), "qr_combiner='max'"),
    (lambda: ResidualDCN(4, merge="stack"), "merge='stack'"),
    (lambda: AttentionLowRankCross(4, softmax_axis="depth"), "softmax_axis='depth'"),
    (lambda: DenseGate(gate_type="channel"), "gate_type='channel'"),
    (lambda: GatedMLP((4,), gate_type="channel"), "gate_type='channel'"),
    (lambda: FeedModelConfig(interaction="moe"), "interaction='moe'"),
    (lambda: FeedModelConfig(history_pooling="max"), "history_pooling='max'"),
    (lambda: FeedModelConfig(task_grouping="ple"), "task_grouping='ple'"),
    (lambda: AdsModelConfig(head_interaction="fm"), "head_interaction='fm'"),
    (lambda: quantize_rows([[0.0, 1.0]], method="log"), "method='log'"),
]


@pytest.mark.parametrize(("build", "message"), CASES, ids=[m for _, m in CASES])
def test_bad_config_names_the_argument_and_value(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert re.search(message, str(error.value)), str(error.value)

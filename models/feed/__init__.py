"""The feed second-pass ranker (paper §1, §9), one concept per module:

- `config`: `FeedModelConfig` (validated, JSON round trip, learned vocabularies), `TASK_GROUPINGS`
- `presets`: `GRAPH_FEED_MODEL`, the test configs, `config_for` (vocabularies from a frame)
- `sparse`: `SparseArch`, `EmbeddingTable`, `ID_EMBEDDINGS`
- `history`: `HISTORY_POOLINGS` (mean, target attention, Transformer), `HISTORY_ITEMS`
  (authors, posts, both)
- `dense`: `DenseArch`, `AFFINITY_ARCHS`
- `interactions`: `INTERACTIONS` (none, dot, DCNv2 cross, residual DCN)
- `multitask`: `MULTITASKS` (hard sharing, MMoE, PLE)
- `towers`: `Tower`, `TOWERS`, `LARGE_TOWER_UNITS`
- `calibration`: `CALIBRATIONS` (none, isotonic)
- `score`: `FeedScore`, the final post score
- `model`: `FeedModel`, `FEED_TASKS`, `feed_inputs`, `predict_probabilities`

Importing this package registers every serializable feed class (package "lirank").
"""

from models.feed.calibration import CALIBRATION_FEATURES, CALIBRATIONS, IsotonicHeads, NoCalibration
from models.feed.config import (
    CLICK_TOWER_HEADS,
    CONTRIBUTION_TOWER_HEADS,
    LEARNED_FROM_DATA,
    TASK_GROUPINGS,
    FeedModelConfig,
)
from models.feed.dense import AFFINITY_ARCHS, DenseArch
from models.feed.history import (
    HISTORY_ITEMS,
    HISTORY_POOLINGS,
    MeanHistory,
    TargetAttentionHistory,
    TransformerHistory,
)
from models.feed.interactions import (
    INTERACTIONS,
    CrossInteraction,
    DotInteraction,
    FlatInteraction,
    ResidualDCNInteraction,
)
from models.feed.model import (
    FEED_TASKS,
    SPARSE_FEATURES,
    FeedModel,
    embedding_tables,
    feed_inputs,
    predict_probabilities,
)
from models.feed.multitask import MULTITASKS, PLE, MMoE, SharedBottom
from models.feed.presets import EVERY_BLOCK, GRAPH_FEED_MODEL, TINY_FEED_MODEL, config_for
from models.feed.score import CONTRIBUTION_SCORE_WEIGHTS, FeedScore
from models.feed.sparse import ID_EMBEDDINGS, EmbeddingTable, SparseArch
from models.feed.towers import LARGE_TOWER_UNITS, TOWERS, Tower

__all__ = [
    "AFFINITY_ARCHS",
    "LEARNED_FROM_DATA",
    "CALIBRATIONS",
    "CALIBRATION_FEATURES",
    "CLICK_TOWER_HEADS",
    "CONTRIBUTION_SCORE_WEIGHTS",
    "CONTRIBUTION_TOWER_HEADS",
    "EVERY_BLOCK",
    "FEED_TASKS",
    "GRAPH_FEED_MODEL",
    "HISTORY_ITEMS",
    "HISTORY_POOLINGS",
    "ID_EMBEDDINGS",
    "INTERACTIONS",
    "LARGE_TOWER_UNITS",
    "MULTITASKS",
    "SPARSE_FEATURES",
    "TASK_GROUPINGS",
    "TINY_FEED_MODEL",
    "TOWERS",
    "CrossInteraction",
    "DenseArch",
    "DotInteraction",
    "EmbeddingTable",
    "FeedModel",
    "FeedModelConfig",
    "FeedScore",
    "FlatInteraction",
    "IsotonicHeads",
    "MMoE",
    "MeanHistory",
    "NoCalibration",
    "PLE",
    "ResidualDCNInteraction",
    "SharedBottom",
    "SparseArch",
    "TargetAttentionHistory",
    "Tower",
    "TransformerHistory",
    "config_for",
    "embedding_tables",
    "feed_inputs",
    "predict_probabilities",
]

"""LiRank building blocks as backend-agnostic Keras 3 layers (`keras.ops` only).

Imports are lazy: a layer module is imported when its class is first asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LowRankCross": "cross",
    "AttentionLowRankCross": "residual_dcn",
    "ResidualDCN": "residual_dcn",
    "IsotonicCalibration": "isotonic",
    "DenseGate": "dense_gating",
    "GatedMLP": "dense_gating",
    "large_gated_mlp": "dense_gating",
    "QREmbedding": "qr_embedding",
    "GatherEmbedding": "lookup",
    "UnlimitedVocabEmbedding": "unlimited_vocab_embedding",
    "QuantizedEmbedding": "quantized_embedding",
    "QuantizedQREmbedding": "quantized_qr_embedding",
    "QuantizedUnlimitedVocabEmbedding": "quantized_unlimited_vocab_embedding",
    "HistoryTransformerEncoder": "history_encoder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
    return getattr(module, name)


def register_all() -> None:
    """Imports every layer module so `keras.saving.load_model` can find all `lirank>` classes."""
    for module in sorted(set(_EXPORTS.values())):
        importlib.import_module(f"{__name__}.{module}")

"""A trained Ads CTR model → its post-training 8-bit quantized copy (paper §3.13), and artifact.

`quantize_ads_model` quantizes each ID embedding table of the model's sparse arch row-wise with
LiRank's middle-max scheme at 8 bits (`models.compression.rowwise`):

    offset_r = (max_r + min_r) / 2,   scale_r = (max_r − min_r) / 255,
    X_int[r] = round((X[r] − offset_r) / scale_r) ∈ [−128, 127],
    X_deq[r] = offset_r + X_int[r] · scale_r

and builds an `AdsModel` with the same config whose tables are `QuantizedEmbedding`s (int8 codes
plus a float16 offset and scale per row, dequantized only for the rows looked up); every other
weight is copied unchanged. A table of d columns serves d + 4 bytes a row instead of 4d: a ratio
of (d + 4) / 4d, 0.3125 at d = 16 and 0.28 at d = 32.

The paper reports IDs + 8-bit at +1.28% AUC vs +1.27% unquantized (Table 8) and +0.9% CTR
online; this is the same post-training scheme as the feed's (`models.compression.feed`).

Example:

    quantized, report = quantize_ads_model(model)
    report["bytes_ratio"]                          # ≈ 0.31 at embedding_dim 16
    write_quantized_ads_model(promoted_dir, out_dir)     # a saved model's directory, or a model
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.ads import AdsModel
from models.compression.feed import compression_table
from models.compression.schemes import SCHEMES
from models.compression.tables import fill_quantized_copy
from models.layers.quantized_embedding import QuantizedEmbedding
from models.registry import load_model, model_id_of, save_model

ADS_SCHEME_NAME = "middle_max_8bit"
ADS_SCHEME = SCHEMES[ADS_SCHEME_NAME]


def quantize_ads_model(model: AdsModel) -> tuple[AdsModel, dict]:
    """The 8-bit quantized copy of a trained `AdsModel` (module docstring) and its report:
    {"table_bytes_float", "table_bytes_8bit", "bytes_ratio", "mean_abs_error",
    "max_abs_error"} (bytes of every ID table; |X − X_deq| over every value).

    Raises:
        ValueError: the model has no ID tables (use_ids=False) or is already quantized.
    """
    quantized, table = _quantized_copy(model)
    return quantized, _report(table)


def quantization_tables(model: AdsModel) -> pd.DataFrame:
    """Per ID table of `model`: rows, dim, fp32 and 8-bit bytes, their ratio, mean and max
    |X − X_deq| (`models.compression.feed.TABLE_COLUMNS`)."""
    return _quantized_copy(model)[1]


def id_table_bytes(model: AdsModel) -> int:
    """Bytes of the ID embedding tables the model serves: 4 a value for float tables, codes plus
    float16 offset and scale for quantized ones, 0 without IDs."""
    if model.sparse_arch is None:
        return 0
    total = 0
    for layer in model.sparse_arch.tables.values():
        if isinstance(layer, QuantizedEmbedding):
            total += layer.nbytes
        else:
            total += int(np.prod(layer.embeddings.shape)) * 4
    return total


def write_quantized_ads_model(
    model: AdsModel | Path | str, directory: Path | str, metadata: Mapping | None = None
) -> dict:
    """Quantize `model` (an `AdsModel`, or the directory of a saved one) and save the copy at
    `directory` (`models.registry` layout, atomically: `model.keras` and `manifest.json`), so
    `models.registry.load_model(directory)` serves it. The manifest's metadata: a saved source's
    metadata, then `metadata`, "quantized_from" (the source's model id, for a directory),
    "scheme_name", "compression" (the report) and "compression_tables" (one record per table).

    Returns:
        the report of `quantize_ads_model` (flat: bytes, ratio, errors).
    """
    extra: dict = {}
    if not isinstance(model, AdsModel):
        source_dir = Path(model)
        model, extra = load_model(source_dir)
        if not isinstance(model, AdsModel):
            raise ValueError(
                f"the model saved at {source_dir} is a {type(model).__name__}, not an AdsModel"
            )
        extra = {**extra, "quantized_from": model_id_of(source_dir)}
    quantized, table = _quantized_copy(model)
    report = _report(table)
    save_model(
        quantized,
        Path(directory),
        {
            **extra,
            **dict(metadata or {}),
            "scheme_name": ADS_SCHEME_NAME,
            "compression": report,
            "compression_tables": table.to_dict(orient="records"),
        },
    )
    return report


def _report(table: pd.DataFrame) -> dict:
    """The flat report of a per-table `compression_table`."""
    float_bytes, served_bytes = int(table["fp32_bytes"].sum()), int(table["bytes"].sum())
    sizes = table["rows"] * table["dim"]
    return {
        "table_bytes_float": float_bytes,
        "table_bytes_8bit": served_bytes,
        "bytes_ratio": served_bytes / float_bytes,
        "mean_abs_error": float(np.average(table["mean_abs_error"], weights=sizes)),
        "max_abs_error": float(table["max_abs_error"].max()),
    }


def _quantized_copy(model: AdsModel) -> tuple[AdsModel, pd.DataFrame]:
    """The quantized copy and its per-table report (`compression_table`)."""
    if model.sparse_arch is None:
        raise ValueError(
            "the model has no ID embedding tables to quantize (use_ids=False); quantize a model "
            "trained with use_ids=True"
        )
    if model.quantization is not None:
        raise ValueError(
            f"the model is already quantized ({model.quantization}); quantize the trained "
            "float model"
        )
    quantized = AdsModel(model.config, embedding_quantization=ADS_SCHEME, name=model.name)
    source_tables, quantized_rows = fill_quantized_copy(model, quantized, ADS_SCHEME)
    return quantized, compression_table(source_tables, quantized_rows)

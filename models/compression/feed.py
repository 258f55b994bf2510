"""A trained feed model → its post-training quantized copy (paper §3.13), report and artifact.

`compress_feed_model` quantizes every embedding table of the model's sparse arch row-wise
(`models.compression.rowwise`; a QR table's quotient and remainder tables each on their own) and
builds a `FeedModel` with the same config whose tables are quantized twins
(`QUANTIZED_ID_EMBEDDINGS`); every other weight is copied unchanged. The copy takes the same
inputs, and its SavedModel the same raw `serving_default` signature, as the original.

Example:

    compressed = compress_feed_model(model, SCHEMES["middle_max_8bit"])
    compressed.ratio                     # embedding bytes / fp32 embedding bytes (≈ 0.28 at d=30)
    compressed.tables                    # per table: bytes, ratio, mean/max absolute error
    write_compressed_model(promoted_dir, out_dir, "middle_max_8bit")   # model.keras + SavedModel
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from models.compression.rowwise import QuantizedRows
from models.compression.schemes import QuantizationScheme, scheme_named
from models.compression.tables import fill_quantized_copy
from models.feed.model import FeedModel
from models.registry import load_model, model_id_of, save_model
from models.training.config import SAVED_MODEL_DIR

TABLE_COLUMNS = (
    "table", "rows", "dim", "fp32_bytes", "bytes", "ratio", "mean_abs_error", "max_abs_error",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class CompressedFeedModel:
    """A quantized feed model and what quantizing cost.

    Args:
        model: the `FeedModel` serving quantized tables.
        scheme: how its tables were quantized.
        tables: one row per quantized table, `TABLE_COLUMNS`.
    """

    model: FeedModel
    scheme: QuantizationScheme
    tables: pd.DataFrame

    @property
    def fp32_bytes(self) -> int:
        return int(self.tables["fp32_bytes"].sum())

    @property
    def bytes(self) -> int:
        return int(self.tables["bytes"].sum())

    @property
    def ratio(self) -> float:
        """Embedding bytes served / fp32 embedding bytes."""
        return self.bytes / self.fp32_bytes

    @property
    def mean_abs_error(self) -> float:
        """Mean |X − X_deq| over every value of every table."""
        sizes = self.tables["rows"] * self.tables["dim"]
        return float(np.average(self.tables["mean_abs_error"], weights=sizes))

    def metadata(self) -> dict:
        """JSON-ready summary: scheme, bytes, ratio, error per table."""
        return {
            "scheme": dataclasses.asdict(self.scheme),
            "fp32_bytes": self.fp32_bytes,
            "bytes": self.bytes,
            "ratio": self.ratio,
            "mean_abs_error": self.mean_abs_error,
            "tables": self.tables.to_dict(orient="records"),
        }


def compression_table(
    tables: Mapping[str, np.ndarray], quantized: Mapping[str, QuantizedRows]
) -> pd.DataFrame:
    """Per table: rows, dim, fp32 and served bytes, their ratio, mean and max |X − X_deq|."""
    records = []
    for path, table in tables.items():
        error = np.abs(table.astype(np.float64) - quantized[path].dequantize())
        records.append(
            {
                "table": path,
                "rows": table.shape[0],
                "dim": table.shape[1],
                "fp32_bytes": table.shape[0] * table.shape[1] * 4,
                "bytes": quantized[path].nbytes,
                "ratio": quantized[path].nbytes / (table.shape[0] * table.shape[1] * 4),
                "mean_abs_error": float(error.mean()),
                "max_abs_error": float(error.max()),
            }
        )
    return pd.DataFrame(records, columns=list(TABLE_COLUMNS))


def compress_feed_model(model: FeedModel, scheme: QuantizationScheme) -> CompressedFeedModel:
    """The quantized copy of a trained `FeedModel` (module docstring).

    Raises:
        ValueError: `model` is already quantized.
    """
    if model.sparse_arch.quantization is not None:
        raise ValueError(
            f"the model is already quantized ({model.sparse_arch.quantization}); compress the "
            "trained float model"
        )
    compressed = FeedModel(model.config, embedding_quantization=scheme, name=model.name)
    source_tables, quantized_all = fill_quantized_copy(model, compressed, scheme)
    return CompressedFeedModel(compressed, scheme, compression_table(source_tables, quantized_all))


def write_compressed_model(
    model_dir: Path, out_dir: Path, scheme_name: str, export: bool = True
) -> CompressedFeedModel:
    """Compress the saved feed model at `model_dir` with `SCHEMES[scheme_name]` and save the copy
    at `out_dir` (`models.registry` layout: `model.keras`, `manifest.json` with the compression
    report, and with `export` the serving SavedModel in `saved_model/`), atomically."""
    scheme = scheme_named(scheme_name)
    model, metadata = load_model(model_dir)
    compressed = compress_feed_model(model, scheme)
    save_model(
        compressed.model,
        out_dir,
        {
            **metadata,
            "compressed_from": model_id_of(model_dir),
            "scheme_name": scheme_name,
            "compression": compressed.metadata(),
        },
        extra_artifacts=_export_saved_model if export else None,
    )
    return compressed


def _export_saved_model(model: FeedModel, directory: Path) -> None:
    from models.serving.saved_model import export_saved_model

    export_saved_model(model, directory / SAVED_MODEL_DIR)

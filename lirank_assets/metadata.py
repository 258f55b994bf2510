"""Materialization metadata the Dagster UI understands: row counts, column schemas and tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pyarrow as pa
from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from spark.storage import parquet_row_count, parquet_schema

DIGITS = 4
"""Floats in metadata are rounded to this many decimals."""


def table_schema(schema: pa.Schema) -> TableSchema:
    """The Dagster `TableSchema` of an Arrow schema (column names and Arrow type names)."""
    return TableSchema(columns=[TableColumn(field.name, str(field.type)) for field in schema])


def avro_table_schema(schema: dict) -> TableSchema:
    """The Dagster `TableSchema` of an Avro record schema (arrays shown as `array<item>`)."""
    return TableSchema(
        columns=[
            TableColumn(
                field["name"],
                f"array<{field['type']['items']}>"
                if isinstance(field["type"], dict)
                else str(field["type"]),
                description=field.get("doc", ""),
            )
            for field in schema["fields"]
        ]
    )


def parquet_metadata(path: Path) -> dict:
    """Row count, column schema and location of the Parquet directory `path` (footers only)."""
    return {
        "dagster/row_count": MetadataValue.int(parquet_row_count(path)),
        "dagster/column_schema": table_schema(parquet_schema(path)),
        "path": MetadataValue.path(str(path)),
    }


def frame_metadata(frame: pd.DataFrame) -> dict:
    """Row count and column schema of a table written from `frame` (e.g. into DuckDB)."""
    return {
        "dagster/row_count": MetadataValue.int(len(frame)),
        "dagster/column_schema": table_schema(pa.Schema.from_pandas(frame, preserve_index=False)),
    }


def rounded(value: float, digits: int = DIGITS) -> MetadataValue:
    """`value` as float metadata, rounded (NaN stays NaN)."""
    value = float(value)
    return MetadataValue.float(value if math.isnan(value) else round(value, digits))


def frame_table(frame: pd.DataFrame, digits: int = DIGITS) -> MetadataValue:
    """`frame` as a table shown in the UI, floats rounded to `digits` decimals."""
    schema = table_schema(pa.Schema.from_pandas(frame, preserve_index=False))
    records = [
        TableRecord({name: _cell(value, digits) for name, value in row.items()})
        for row in frame.to_dict(orient="records")
    ]
    return MetadataValue.table(records=records, schema=schema)


def _cell(value: object, digits: int) -> str | int | float | bool | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return round(value, digits)
    if hasattr(value, "item"):  # numpy scalars
        return _cell(value.item(), digits)
    return str(value)

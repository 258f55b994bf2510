"""What the model directories say about each day's model, as review tables.

Each day's candidate lives in `<models_root>/date=YYYY-MM-DD/` with `manifest.json` (its
configuration, training plan and result: `models.training.job`) and, once gated, `gate.json`
(the gate's verdict: `models.training.promotion`). `read_model_records` turns them into four
tables for the review snapshot: lineage and configuration, the gate's verdict per model (with the
model serving as of that day), the gate's checks, and the training loss per epoch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from pathlib import Path

import pandas as pd

from models.registry import GATE_FILE, MANIFEST_FILE, model_id_of, read_gate_record
from models.reporting.review import (
    GATE_CHECKS_SCHEMA,
    GATE_VERDICTS_SCHEMA,
    MODEL_LINEAGE_SCHEMA,
    TRAINING_CURVES_SCHEMA,
)

_DAY = re.compile(r"date=(\d{4}-\d{2}-\d{2})")


@dataclasses.dataclass(frozen=True)
class ModelRecords:
    """The review tables of the model directories (columns: the `*_SCHEMA` dicts of
    `models.reporting.review`).

    Args:
        lineage: per model, which days trained it, its base model and its configuration (JSON
            of the scalar settings of the model config, and the training config).
        gate_verdicts: per model: gated at all, passed, promoted, the gate's reasons ("\\n"
            joined), what it was judged against, and `serving_model_id`: the model promoted as
            of that day (the model itself when it passed, else the last promoted one), which
            ranks the next day.
        gate_checks: the gate's checks table of every gated model.
        training_curves: the mean training loss of each epoch (1-based) of every model.
    """

    lineage: pd.DataFrame
    gate_verdicts: pd.DataFrame
    gate_checks: pd.DataFrame
    training_curves: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """The review snapshot's table name → frame."""
        return {
            "model_lineage": self.lineage,
            "gate_verdicts": self.gate_verdicts,
            "gate_checks": self.gate_checks,
            "training_curves": self.training_curves,
        }


def _model_days(models_root: Path) -> list[tuple[dt.date, Path]]:
    days = []
    root = Path(models_root)
    for child in root.iterdir() if root.is_dir() else []:
        match = _DAY.fullmatch(child.name)
        if child.is_dir() and match and (child / MANIFEST_FILE).is_file():
            days.append((dt.date.fromisoformat(match.group(1)), child))
    return sorted(days)


def _scalar_settings(config: dict) -> dict:
    """The settings of a model config worth showing: scalars and small dicts, not vocabularies
    or normalisation vectors."""
    return {
        key: value
        for key, value in sorted(config.items())
        if value is None
        or isinstance(value, str | int | float | bool)
        or (isinstance(value, dict) and len(value) <= 12)
    }


def _lineage_row(day: dt.date, model_dir: Path, metadata: dict) -> dict:
    result = metadata.get("training_result", {})
    plan = json.loads(metadata["plan"]) if isinstance(metadata.get("plan"), str) else {}
    trained_on = sorted({m for path in plan.get("examples", []) for m in _DAY.findall(path)})
    return {
        "date": day,
        "model_id": result.get("model_id", model_id_of(model_dir)),
        "mode": result.get("mode"),
        "base_model_id": result.get("base_model_id"),
        "trained_on": ", ".join(trained_on),
        "train_rows": result.get("train_rows"),
        "epochs": len(result.get("epoch_losses", [])),
        "engine": result.get("engine"),
        "model_config": json.dumps(_scalar_settings(metadata.get("model_config", {}))),
        "training_config": json.dumps(metadata.get("training_config", {}), sort_keys=True),
    }


def read_model_records(models_root: Path) -> ModelRecords:
    """The review tables of every `date=YYYY-MM-DD` model directory under `models_root` that
    holds a saved model (directories without `manifest.json` are skipped; a model without
    `gate.json` is listed as not gated, never promoted).

    Raises:
        ValueError: a `gate.json` is not valid JSON (`models.registry.read_gate_record`).
    """
    lineage, verdicts, checks, curves = [], [], [], []
    serving: str | None = None
    for day, model_dir in _model_days(models_root):
        metadata = json.loads((model_dir / MANIFEST_FILE).read_text()).get("metadata", {})
        row = _lineage_row(day, model_dir, metadata)
        model_id = row["model_id"]
        lineage.append(row)
        losses = metadata.get("training_result", {}).get("epoch_losses", [])
        curves += [(day, model_id, epoch, loss) for epoch, loss in enumerate(losses, start=1)]
        gate = read_gate_record(model_dir)
        promoted = bool(gate and gate.get("promoted") is True)
        serving = model_id if promoted else serving
        verdicts.append(
            {
                "date": day,
                "model_id": model_id,
                "gated": gate is not None,
                "passed": bool(gate.get("passed")) if gate else None,
                "promoted": promoted,
                "serving_model_id": serving,
                "compared_with": gate.get("compared_with") if gate else None,
                "reasons": "\n".join(gate.get("reasons", [])) if gate else f"no {GATE_FILE}",
                "gated_at": gate.get("gated_at") if gate else None,
            }
        )
        for check in (gate or {}).get("metrics", []):
            checks.append({"date": day, "model_id": model_id, **check})
    return ModelRecords(
        lineage=pd.DataFrame(lineage, columns=list(MODEL_LINEAGE_SCHEMA)),
        gate_verdicts=pd.DataFrame(verdicts, columns=list(GATE_VERDICTS_SCHEMA)),
        gate_checks=pd.DataFrame(checks, columns=list(GATE_CHECKS_SCHEMA)),
        training_curves=pd.DataFrame(curves, columns=list(TRAINING_CURVES_SCHEMA)),
    )

"""Review tables from model directories: lineage, gate verdicts and checks, training curves."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from models.registry import GATE_FILE, MANIFEST_FILE
from models.reporting.model_records import read_model_records
from models.reporting.review import (
    GATE_CHECKS_SCHEMA,
    GATE_VERDICTS_SCHEMA,
    MODEL_LINEAGE_SCHEMA,
    TRAINING_CURVES_SCHEMA,
)


def _model(root, day: str, base: str | None, losses, gate: dict | None) -> None:
    directory = root / f"date={day}"
    directory.mkdir(parents=True)
    days = [day] if base else ["2026-01-01", "2026-01-02", day]
    plan = {"examples": [f"/data/features/training_examples_avro/date={d}" for d in days]}
    metadata = {
        "model_config": {"interaction": "dcn_v2", "vocab": list(range(50)), "score_weights": {}},
        "training_config": {"epochs": len(losses)},
        "training_result": {
            "model_id": f"feed-{day}",
            "mode": "incremental" if base else "cold",
            "base_model_id": base,
            "train_rows": 1000,
            "epoch_losses": losses,
            "engine": "in-process",
        },
        "plan": json.dumps(plan),
    }
    (directory / MANIFEST_FILE).write_text(json.dumps({"metadata": metadata}))
    if gate is not None:
        (directory / GATE_FILE).write_text(json.dumps(gate))


def _gate(day: str, passed: bool, compared_with: str | None, reasons=()) -> dict:
    check = {
        "check": "final_loss", "head": "all", "value": 0.4, "bound": "x", "passed": True,
        "detail": "ok",
    }  # fmt: skip
    return {
        "model_id": f"feed-{day}",
        "passed": passed,
        "promoted": passed,
        "reasons": list(reasons),
        "metrics": [check, {**check, "check": "ece", "value": None, "passed": None}],
        "compared_with": compared_with,
        "gated_at": "2026-01-04T00:00:00+00:00",
    }


def test_records_follow_the_gate_and_the_serving_model(tmp_path):
    _model(tmp_path, "2026-01-03", None, [0.5, 0.4], _gate("2026-01-03", True, None))
    _model(
        tmp_path,
        "2026-01-04",
        "feed-2026-01-03",
        [0.45],
        _gate("2026-01-04", False, "feed-2026-01-03", ["log_loss_vs_previous[all]: worse"]),
    )
    _model(tmp_path, "2026-01-05", "feed-2026-01-03", [0.41], None)  # the gate never committed
    (tmp_path / "date=2026-01-06").mkdir()  # no saved model: skipped
    records = read_model_records(tmp_path)
    tables = records.tables()
    assert list(tables) == ["model_lineage", "gate_verdicts", "gate_checks", "training_curves"]
    for table, schema in zip(
        tables.values(),
        (MODEL_LINEAGE_SCHEMA, GATE_VERDICTS_SCHEMA, GATE_CHECKS_SCHEMA, TRAINING_CURVES_SCHEMA),
        strict=True,
    ):
        assert list(table.columns) == list(schema)
    verdicts = records.gate_verdicts.set_index("model_id")
    assert list(verdicts["serving_model_id"]) == ["feed-2026-01-03"] * 3
    assert verdicts.loc["feed-2026-01-04", "reasons"] == "log_loss_vs_previous[all]: worse"
    assert not verdicts.loc["feed-2026-01-04", "promoted"]
    assert not verdicts.loc["feed-2026-01-05", "gated"]
    assert verdicts.loc["feed-2026-01-05", "reasons"] == f"no {GATE_FILE}"
    lineage = records.lineage.set_index("model_id")
    assert lineage.loc["feed-2026-01-03", "trained_on"] == "2026-01-01, 2026-01-02, 2026-01-03"
    assert lineage.loc["feed-2026-01-04", "base_model_id"] == "feed-2026-01-03"
    assert json.loads(lineage.loc["feed-2026-01-03", "model_config"]) == {
        "interaction": "dcn_v2",
        "score_weights": {},
    }  # vocabularies left out
    assert list(records.training_curves["epoch"]) == [1, 2, 1, 1]
    assert records.training_curves["loss"].iloc[1] == pytest.approx(0.4)
    assert len(records.gate_checks) == 4 and records.gate_checks["passed"].isna().sum() == 2
    assert records.lineage["date"].iloc[0] == dt.date(2026, 1, 3)


def test_no_models_gives_empty_tables(tmp_path):
    records = read_model_records(tmp_path / "missing")
    assert all(frame.empty for frame in records.tables().values())

"""Shared fixtures: one Spark session per test run (starting one costs ~20 s on 2 cores)."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def spark():
    from spark.session import build_spark_session

    session = build_spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "lirank-data"
    monkeypatch.setenv("LIRANK_DATA_ROOT", str(root))
    return root

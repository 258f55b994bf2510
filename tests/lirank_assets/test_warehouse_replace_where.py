"""`Warehouse.replace_where`: one product's rows of a day in a table the products share
(`product_verdicts`) are replaced without touching the other product's rows or other days,
idempotently, in one transaction, taking new columns; rows that do not carry the keys they
replace are refused before anything is written."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lirank_assets.resources import DataRoot, Warehouse

D1, D2 = dt.date(2026, 1, 2), dt.date(2026, 1, 3)
TABLE = "product_verdicts"


def _rows(date: dt.date, product: str, metrics: list[str], delta: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [date] * len(metrics),
            "product": [product] * len(metrics),
            "metric": metrics,
            "delta": [delta + i for i in range(len(metrics))],
        }
    )


@pytest.fixture
def warehouse(tmp_path) -> Warehouse:
    warehouse = Warehouse(data_root=DataRoot(path=str(tmp_path / "data")))
    warehouse.data_root.layout.warehouse.parent.mkdir(parents=True, exist_ok=True)
    return warehouse


def _table(warehouse: Warehouse) -> pd.DataFrame:
    frame = warehouse.read(f"SELECT * FROM {TABLE} ORDER BY date, product, metric")
    frame["date"] = pd.to_datetime(frame["date"]).dt.date
    return frame


def _seed(warehouse: Warehouse) -> None:
    """Ads and Jobs rows of day 1, Ads rows of day 2 (the first call creates the table)."""
    warehouse.replace_where(TABLE, {"date": D1, "product": "ads"}, _rows(D1, "ads", ["auc"], 1.0))
    warehouse.replace_where(
        TABLE, {"date": D1, "product": "jobs"}, _rows(D1, "jobs", ["apply_auc", "top_k"], 10.0)
    )
    warehouse.replace_where(TABLE, {"date": D2, "product": "ads"}, _rows(D2, "ads", ["auc"], 20.0))


def test_replacing_one_products_day_keeps_the_other_product_and_other_days(warehouse):
    _seed(warehouse)
    assert len(_table(warehouse)) == 4
    written = warehouse.replace_where(
        TABLE, {"date": D1, "product": "ads"}, _rows(D1, "ads", ["auc", "ece", "log_loss"], 100.0)
    )
    assert written == 3
    table = _table(warehouse)
    ads_d1 = table[(table["date"] == D1) & (table["product"] == "ads")]
    assert ads_d1["metric"].tolist() == ["auc", "ece", "log_loss"]
    assert ads_d1["delta"].tolist() == [100.0, 101.0, 102.0]  # the old 1.0 row is gone
    jobs_d1 = table[(table["date"] == D1) & (table["product"] == "jobs")]
    assert jobs_d1["delta"].tolist() == [10.0, 11.0]  # same day, other product: untouched
    ads_d2 = table[table["date"] == D2]
    assert (ads_d2["product"].tolist(), ads_d2["delta"].tolist()) == (["ads"], [20.0])
    assert len(table) == 6


def test_re_running_the_same_replacement_is_idempotent(warehouse):
    _seed(warehouse)
    rows = _rows(D1, "jobs", ["apply_auc", "top_k"], 7.0)
    warehouse.replace_where(TABLE, {"date": D1, "product": "jobs"}, rows)
    once = _table(warehouse)
    warehouse.replace_where(TABLE, {"date": D1, "product": "jobs"}, rows)
    warehouse.replace_where(TABLE, {"date": D1, "product": "jobs"}, rows)
    pd.testing.assert_frame_equal(_table(warehouse), once)
    assert len(once) == 4 and not once.duplicated().any()


def test_a_new_column_in_the_incoming_rows_is_added_null_on_older_rows(warehouse):
    _seed(warehouse)
    newer = _rows(D2, "jobs", ["apply_auc"], 5.0).assign(model_id="jobs-2026-01-02")
    warehouse.replace_where(TABLE, {"date": D2, "product": "jobs"}, newer)
    table = _table(warehouse)
    assert "model_id" in table.columns
    assert table.loc[table["product"].eq("jobs") & table["date"].eq(D2), "model_id"].tolist() == [
        "jobs-2026-01-02"
    ]
    assert table.loc[table["date"].eq(D1), "model_id"].isna().all()
    # an incoming frame without a column the table has leaves it NULL on the new rows
    warehouse.replace_where(TABLE, {"date": D1, "product": "ads"}, _rows(D1, "ads", ["auc"], 3.0))
    table = _table(warehouse)
    row = table[table["date"].eq(D1) & table["product"].eq("ads")]
    assert row["delta"].tolist() == [3.0] and row["model_id"].isna().all()


def test_empty_incoming_rows_delete_that_products_day_only(warehouse):
    _seed(warehouse)
    warehouse.replace_where(TABLE, {"date": D1, "product": "jobs"}, _rows(D1, "jobs", [], 0.0))
    table = _table(warehouse)
    assert sorted(zip(table["date"], table["product"], strict=True)) == [(D1, "ads"), (D2, "ads")]


def test_a_failing_insert_rolls_back_the_delete(warehouse):
    _seed(warehouse)
    before = _table(warehouse)
    bad = _rows(D1, "ads", ["auc"], 0.0).assign(delta=["not a number"])
    with pytest.raises(Exception, match="(?i)conver|cast"):
        warehouse.replace_where(TABLE, {"date": D1, "product": "ads"}, bad)
    pd.testing.assert_frame_equal(_table(warehouse), before)


@pytest.mark.parametrize(
    ("keys", "rows", "message"),
    [
        ({}, _rows(D1, "ads", ["auc"], 0.0), r"needs at least one key column"),
        (
            {"date": D1, "product": "ads"},
            _rows(D1, "ads", ["auc"], 0.0).drop(columns=["product"]),
            r"lack the key columns \['product'\]",
        ),
        (
            {"date": D1, "product": "ads"},
            pd.concat([_rows(D1, "ads", ["auc"], 0.0), _rows(D1, "jobs", ["auc"], 0.0)]),
            r"1 of 2 rows for `product_verdicts` do not match keys .*'product': 'ads'",
        ),
        (
            {"date": D1, "product": "ads"},
            _rows(D2, "ads", ["auc", "ece"], 0.0),
            r"2 of 2 rows .* do not match keys",
        ),
        (
            {"date": D1, "product": "ads"},
            _rows(D1, "ads", ["auc"], 0.0).assign(product=[None]),
            r"1 of 1 rows .* do not match keys",
        ),
    ],
)
def test_rows_that_do_not_carry_their_keys_are_refused_and_nothing_is_written(
    warehouse, keys, rows, message
):
    _seed(warehouse)
    before = _table(warehouse)
    with pytest.raises(ValueError, match=message):
        warehouse.replace_where(TABLE, keys, rows)
    pd.testing.assert_frame_equal(_table(warehouse), before)


def test_a_refused_call_on_a_new_warehouse_creates_no_file(warehouse):
    with pytest.raises(ValueError, match="do not match keys"):
        warehouse.replace_where(TABLE, {"date": D1, "product": "ads"}, _rows(D2, "ads", ["a"], 0))
    assert not warehouse.data_root.layout.warehouse.exists()

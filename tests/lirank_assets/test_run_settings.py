"""Run settings parsed from the environment: yes/no and key=value settings, and where they land."""

import datetime as dt

import pandas as pd
import pytest

from lirank_assets.definitions import build_resources
from lirank_assets.resources import DataRoot, FileLogs, Warehouse
from lirank_assets.settings import bool_setting, mapping_setting, settings_from_env


@pytest.mark.parametrize(
    ("value", "expected"), [("", True), ("0", False), ("off", False), ("TRUE", True)]
)
def test_bool_setting_reads_yes_and_no(value, expected):
    assert bool_setting("LIRANK_SPARK_UI", True, {"LIRANK_SPARK_UI": value}) is expected


def test_bool_setting_names_a_bad_value():
    with pytest.raises(ValueError, match=r"LIRANK_SPARK_UI=.*'maybe'"):
        bool_setting("LIRANK_SPARK_UI", True, {"LIRANK_SPARK_UI": "maybe"})


def test_mapping_setting_parses_pairs_and_names_a_bad_item():
    env = {"P": "feed_impressions=drop_rows, posts = quarantine"}
    assert mapping_setting("P", env) == {"feed_impressions": "drop_rows", "posts": "quarantine"}
    assert mapping_setting("P", {}) == {}
    with pytest.raises(ValueError, match="bad item 'posts'"):
        mapping_setting("P", {"P": "feed_impressions=drop_rows,posts"})


def test_spark_exposure_and_value_policy_reach_the_resources(tmp_path):
    env = {
        "LIRANK_LOGS_PATH": str(tmp_path),
        "LIRANK_SPARK_UI": "off",
        "LIRANK_LOGS_VALUE_POLICY": "feed_impressions=drop_rows",
    }
    resources = build_resources(settings_from_env(env), str(tmp_path), env)
    assert resources["spark"].ui is False
    assert resources["spark"].bind_address == "127.0.0.1"
    assert isinstance(resources["log_source"], FileLogs)
    assert resources["log_source"].value_policy == {"feed_impressions": "drop_rows"}


def test_an_unknown_value_policy_fails_when_the_definitions_load(tmp_path):
    env = {"LIRANK_LOGS_PATH": str(tmp_path), "LIRANK_LOGS_VALUE_POLICY": "posts=ignore"}
    with pytest.raises(ValueError, match="ignore"):
        build_resources(settings_from_env(env), str(tmp_path), env)


def test_warehouse_takes_new_columns_on_an_older_table(tmp_path):
    warehouse = Warehouse(data_root=DataRoot(path=str(tmp_path)))
    day1, day2 = dt.date(2026, 1, 1), dt.date(2026, 1, 2)
    warehouse.replace_partition("models", day1, pd.DataFrame({"date": [day1], "model_id": ["a"]}))
    newer = pd.DataFrame({"date": [day2], "model_id": ["b"], "promoted": [True]})
    warehouse.replace_partition("models", day2, newer)
    rows = warehouse.table_or_empty("models")
    assert rows["model_id"].tolist() == ["a", "b"]
    assert pd.isna(rows["promoted"].iloc[0]) and bool(rows["promoted"].iloc[1]) is True

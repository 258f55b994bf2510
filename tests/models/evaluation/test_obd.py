"""Tests for models.evaluation.obd: the OBD adapter, the policies, their off-policy values."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.evaluation.obd import (
    CAMPAIGN_ITEMS,
    evaluate_campaign,
    greedy_policy,
    load_campaign,
    obd_dir,
    read_logged_feedback,
    rewarded_matches,
    thompson_policy,
    time_split,
)

N_ITEMS, BEST, BEST_CTR, OTHER_CTR = 5, 3, 0.5, 0.05


def _synthetic(rows: int = 4000, seed: int = 0) -> pd.DataFrame:
    """OBD-format rounds of uniform-random logging over 5 items; item 3 is clicked half the time."""
    rng = np.random.default_rng(seed)
    item = rng.integers(0, N_ITEMS, rows)
    ctr = np.where(item == BEST, BEST_CTR, OTHER_CTR)
    start = pd.Timestamp("2019-11-24", tz="UTC")
    frame = pd.DataFrame(
        {
            "timestamp": (start + pd.to_timedelta(np.arange(rows), unit="s")).astype(str),
            "item_id": item,
            "position": rng.integers(1, 4, rows),
            "click": (rng.random(rows) < ctr).astype(int),
            "propensity_score": 1.0 / N_ITEMS,
        }
    )
    for i in range(4):
        frame[f"user_feature_{i}"] = rng.choice(["a1b2", "c3d4"], rows)
    return frame


def _write(frame: pd.DataFrame, tmp_path: Path, name: str = "toy") -> Path:
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path)  # the first column is a row index, as in the dataset
    return path


def test_adapter_reads_and_orders_rounds(tmp_path):
    frame = _synthetic(200)
    shuffled = frame.sample(frac=1.0, random_state=1)
    logs = read_logged_feedback(_write(shuffled, tmp_path), N_ITEMS)
    assert len(logs) == 200 and logs.n_items == N_ITEMS and logs.campaign == "toy"
    assert (np.diff(logs.timestamp.astype(np.int64)) >= 0).all()
    assert set(np.unique(logs.position)) <= {0, 1, 2}
    assert logs.click.sum() == frame["click"].sum()
    train, test = time_split(logs, 0.7)
    assert (len(train), len(test)) == (140, 60)
    assert train.timestamp.max() <= test.timestamp.min()


def test_greedy_finds_planted_item_and_ips_values_it(tmp_path):
    logs = read_logged_feedback(_write(_synthetic(), tmp_path), N_ITEMS)
    train, _ = time_split(logs)
    assert greedy_policy(train).tolist() == [0, 0, 0, 1, 0]
    thompson = thompson_policy(train)
    assert thompson.sum() == pytest.approx(1.0) and thompson[BEST] > 0.99
    results = evaluate_campaign(logs, bootstrap=1000)
    for name in ("ips", "snips", "replay"):
        e = results["greedy"][name]
        assert e.ci_low <= BEST_CTR <= e.ci_high, (name, e)
    # The random policy's value is the mean CTR (0.5 + 4·0.05) / 5 = 0.14.
    diff = results["greedy"]["ips-diff"]
    assert diff.ci_low <= BEST_CTR - 0.14 <= diff.ci_high and diff.ci_low > 0
    assert results["greedy"]["replay"].effective_matches == pytest.approx(1200 / N_ITEMS, rel=0.2)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("item_id", 7, r"'item_id' must be an integer in 0\.\.4; 1 of 50 rows.*7"),
        ("position", 0, r"'position' must be an integer in 1\.\.3; 1 of 50.*0"),
        ("click", 2, r"'click' must be 0 or 1; 1 of 50.*2"),
        ("propensity_score", 0.0, r"'propensity_score' must be finite and in \(0, 1\]"),
        ("propensity_score", np.nan, r"'propensity_score' must be finite"),
        ("timestamp", "yesterday", r"'timestamp' must be a parseable date-time.*yesterday"),
    ],
)
def test_adapter_names_file_column_rule_and_count(tmp_path, column, value, message):
    frame = _synthetic(50)
    frame[column] = frame[column].astype(object)
    frame.loc[17, column] = value
    path = _write(frame, tmp_path)
    with pytest.raises(ValueError, match=message) as error:
        read_logged_feedback(path, N_ITEMS)
    assert str(path) in str(error.value)


def test_adapter_missing_columns_and_files(tmp_path):
    path = _write(_synthetic(20).drop(columns=["click", "user_feature_2"]), tmp_path)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['click', 'user_feature_2'\]"):
        read_logged_feedback(path, N_ITEMS)
    with pytest.raises(FileNotFoundError, match="LIRANK_OBD_DIR"):
        read_logged_feedback(tmp_path / "absent.csv", N_ITEMS)
    with pytest.raises(ValueError, match="Unknown campaign 'kids'"):
        load_campaign("kids", tmp_path)


def test_obd_dir_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("LIRANK_OBD_DIR", str(tmp_path))
    assert obd_dir() == tmp_path.resolve()
    assert obd_dir("/somewhere/else") == Path("/somewhere/else")
    monkeypatch.delenv("LIRANK_OBD_DIR")
    assert obd_dir().parts[-3:] == ("shared", "datasets", "obd")


@pytest.mark.skipif(not (obd_dir() / "random").is_dir(), reason="Open Bandit Dataset absent")
@pytest.mark.parametrize("campaign", sorted(CAMPAIGN_ITEMS))
def test_real_dataset_estimates(campaign):
    logs = load_campaign(campaign)
    assert len(logs) == 10_000 and logs.n_items == CAMPAIGN_ITEMS[campaign]
    assert np.allclose(logs.propensity, 1.0 / logs.n_items)
    results = evaluate_campaign(logs, bootstrap=500)
    for estimates in results.values():
        for e in estimates.values():
            assert all(math.isfinite(x) for x in (e.value, e.ci_low, e.ci_high)), e
            assert e.ci_low <= e.value <= e.ci_high, e
    random = results["random"]
    on_policy = random["on-policy"]
    assert random["ips"].value == pytest.approx(on_policy.value)
    assert on_policy.ci_low <= random["ips"].value <= on_policy.ci_high
    _, test = time_split(logs)
    assert rewarded_matches(test, np.full(logs.n_items, 1 / logs.n_items)) == test.click.sum()

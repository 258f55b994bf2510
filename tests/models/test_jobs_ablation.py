"""Tests for models.jobs_ablation: the ladder on a small synthetic jobs world with a planted
field-match signal (two days: train on the first, judge on the second)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.evaluation.jobs import qualified_top_k
from models.jobs import JobsModelConfig
from models.jobs_ablation import JOBS_ABLATION_COLUMNS, JOBS_LADDER, jobs_ablation
from models.jobs_examples import jobs_examples
from models.training.config import TrainingConfig
from spark.schemas import JOB_IMPRESSIONS, JOBS_GROUND_TRUTH

START = dt.date(2026, 1, 1)
TINY = JobsModelConfig(
    embedding_dim=4,
    matrix_buckets=(200, 200, 400, 20, 8),
    projection_dim=2,
    head_units=(8,),
    qr_collisions=16,
)


def _world(seed: int = 0, members: int = 60, jobs: int = 80):
    rng = np.random.default_rng(seed)

    def skills(n: int) -> list[list[int]]:
        return [
            sorted(rng.choice(30, rng.integers(1, 5), replace=False).tolist()) for _ in range(n)
        ]

    postings = pd.DataFrame(
        {
            "date": [START] * jobs,
            "job_id": np.arange(jobs, dtype=np.int64) + 5_000_000_000,
            "company_id": rng.integers(0, 20, jobs).astype(np.int64) * 1_000_003 + 10**12,
            "title_id": rng.integers(0, 12, jobs).astype(np.int32),
            "skill_ids": skills(jobs),
            "industry": rng.integers(0, 4, jobs).astype(np.int32),
            "seniority": rng.integers(0, 5, jobs).astype(np.int32),
            "country": rng.integers(0, 3, jobs).astype(np.int32),
        }
    )
    profiles = pd.DataFrame(
        {
            "date": [START] * members,
            "member_id": np.arange(members, dtype=np.int64),
            "title_id": rng.integers(0, 12, members).astype(np.int32),
            "skill_ids": skills(members),
            "company_id": rng.integers(0, 20, members).astype(np.int64),
            "industry": rng.integers(0, 4, members).astype(np.int32),
            "seniority": rng.integers(0, 5, members).astype(np.int32),
            "country": rng.integers(0, 3, members).astype(np.int32),
        }
    )
    return postings, profiles


def _day(day: int, postings: pd.DataFrame, profiles: pd.DataFrame, sessions: int = 500):
    """Impressions and truth of one day: P(apply | examined) = σ(−2.5 + 4·overlap + 1.5·[same
    title] − |seniority gap|), click ⊇ apply; the production order is random."""
    rng = np.random.default_rng(100 + day)
    served = 5
    member = np.repeat(rng.integers(0, len(profiles), sessions), served)
    job = np.concatenate(
        [rng.choice(len(postings), served, replace=False) for _ in range(sessions)]
    )
    session_id = np.repeat(np.arange(sessions, dtype=np.int64) + day * 10**6, served)
    position = np.tile(np.arange(served, dtype=np.int32), sessions)
    search = np.repeat(rng.random(sessions) < 0.5, served)
    p, m = postings.iloc[job].reset_index(drop=True), profiles.iloc[member].reset_index(drop=True)
    overlap = np.array(
        [len(set(a) & set(b)) / len(a) for a, b in zip(p["skill_ids"], m["skill_ids"], strict=True)]
    )
    gap = (p["seniority"] - m["seniority"]).to_numpy()
    logit = -2.5 + 4.0 * overlap + 1.5 * (p["title_id"] == m["title_id"]) - np.abs(gap)
    p_apply = 1 / (1 + np.exp(-logit))
    p_click = np.minimum(1.0, p_apply + 0.1)
    qualified = (np.abs(gap) <= 1) & (overlap >= 0.5)
    p_examine = 1 / (1 + 0.3 * position)
    examined = rng.random(len(job)) < p_examine
    click = examined & (rng.random(len(job)) < p_click)
    apply = click & (rng.random(len(job)) < p_apply / p_click)
    date = START + dt.timedelta(days=day)
    impressions = pd.DataFrame(
        {
            "date": [date] * len(job),
            "session_id": session_id,
            "member_id": m["member_id"].to_numpy(),
            "channel": np.where(search, "search", "jymbii"),
            "query_title_id": np.where(search, p["title_id"], -1).astype(np.int32),
            "platform": rng.choice(["web", "ios", "android"], len(job)),
            "hour": np.full(len(job), 12, dtype=np.int32),
            "position": position,
            "job_id": p["job_id"].to_numpy(),
            "ranker_score": (-position + rng.normal(0, 0.1, len(job))).astype(np.float32),
            "impressed": examined,
            "click": click.astype(np.int8),
            "apply": apply.astype(np.int8),
            "qualified_apply": (apply & qualified).astype(np.int8),
        }
    )
    truth = pd.DataFrame(
        {
            "date": [date] * len(job),
            "session_id": session_id,
            "job_id": p["job_id"].to_numpy(),
            "position": position,
            "p_examine": p_examine.astype(np.float32),
            "p_click": p_click.astype(np.float32),
            "p_apply": p_apply.astype(np.float32),
            "p_qualified_apply": (p_apply * qualified).astype(np.float32),
        }
    )
    assert list(impressions.columns) == JOB_IMPRESSIONS.names
    assert list(truth.columns) == JOBS_GROUND_TRUTH.names
    return jobs_examples(impressions, postings, profiles.assign(date=date)), truth


@pytest.fixture(scope="module")
def ladder_table():
    postings, profiles = _world()
    train, _ = _day(1, postings, profiles, sessions=1200)
    evaluate, truth = _day(2, postings, profiles)
    training = TrainingConfig(epochs=4, batch_size=128, learning_rate=0.02, log_every_n_steps=10)
    table = jobs_ablation(train, evaluate, truth, training, seeds=(0, 1), k=2, config=TINY)
    return table, evaluate, truth


def test_the_ladder_is_table_10(ladder_table):
    table, _, _ = ladder_table
    assert [(r.embedding, r.cross_layers) for r in JOBS_LADDER] == [
        ("hash", 0),
        ("qr", 0),
        ("qr", 2),
    ]
    assert list(table.columns) == list(JOBS_ABLATION_COLUMNS)
    assert table[["row", "head"]].values.tolist() == [
        [row, head] for row in range(3) for head in ("apply", "click")
    ]
    assert table["variant"].tolist()[::2] == [r.variant for r in JOBS_LADDER]


def test_parameters_and_ratios(ladder_table):
    table, _, _ = ladder_table
    full = (200 + 200 + 400 + 20 + 8) * 4
    qr = ((13 + 16) + (13 + 16) + (25 + 16) + (2 + 16) + 8) * 4  # seniority (8 ≤ m) stays full
    assert table["table_parameters"].tolist() == [full, full, qr, qr, qr, qr]
    np.testing.assert_allclose(table["param_ratio"], [1, 1] + [qr / full] * 4)


def test_baseline_deltas_are_zero_and_others_have_intervals(ladder_table):
    table, _, _ = ladder_table
    base = table[table["row"] == 0]
    assert (base[["auc_delta_vs_baseline", "delta_lo", "delta_hi"]] == 0).all().all()
    others = table[table["row"] > 0]
    assert np.isfinite(others[["delta_lo", "delta_hi"]]).all().all()
    assert (others["delta_lo"] < others["auc_delta_vs_baseline"]).all()
    assert (others["auc_delta_vs_baseline"] < others["delta_hi"]).all()


def test_every_row_learns_the_planted_signal_and_beats_the_random_production_order(ladder_table):
    table, evaluate, truth = ladder_table
    apply = table[table["head"] == "apply"]
    assert (apply["auc"] > 0.65).all(), apply  # the truth's p_apply scores 0.83
    assert np.isfinite(table["log_loss"]).all() and (table["log_loss"] < 0.69).all()
    production = qualified_top_k(evaluate, truth, {}, k=2)["qualified_rate"].iloc[0]
    assert (apply["qualified_rate"] > production).all(), (apply, production)
    # a head's qualified rate is the ladder row's (apply as the score), repeated on its rows
    assert (table.groupby("row")["qualified_rate"].nunique() == 1).all()


def test_bad_arguments_are_named():
    postings, profiles = _world(members=10, jobs=12)
    frame, truth = _day(1, postings, profiles, sessions=5)
    with pytest.raises(ValueError, match="seeds"):
        jobs_ablation(frame, frame, truth, TrainingConfig(), seeds=())
    with pytest.raises(ValueError, match="no impressed 'train' rows"):
        jobs_ablation(frame.assign(impressed=False), frame, truth, TrainingConfig(), config=TINY)

"""Tests for models.jobs_examples: joins, dense features, splits, value rules and model inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from models.jobs import DEFAULT_FIELDS, JOBS_DENSE_FEATURES, JobsModelConfig
from models.jobs_examples import (
    JOBS_EXAMPLE_COLUMNS,
    holdout_sessions,
    jobs_examples,
    jobs_inputs,
    jobs_labels,
    training_rows,
)
from spark.schemas import JOB_IMPRESSIONS, JOB_POSTINGS, MEMBER_PROFILES

DAY = dt.date(2026, 1, 5)


def postings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [dt.date(2026, 1, 5), dt.date(2026, 1, 2), dt.date(2026, 1, 4)],
            "job_id": np.array([10, 11, 9_000_000_000_123], dtype=np.int64),
            "company_id": np.array([5, 7_777_777_777, 5], dtype=np.int64),
            "title_id": np.array([3, 4, 3], dtype=np.int32),
            "skill_ids": [[1, 2, 3, 4], [7], [2, 2, 9]],
            "industry": np.array([1, 2, 1], dtype=np.int32),
            "seniority": np.array([2, 4, 1], dtype=np.int32),
            "country": np.array([0, 1, 0], dtype=np.int32),
        }
    )


def profiles() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": [DAY, DAY],
            "member_id": np.array([100, 200], dtype=np.int64),
            "title_id": np.array([3, 8], dtype=np.int32),
            "skill_ids": [[2, 4, 9], []],
            "company_id": np.array([5, 6], dtype=np.int64),
            "industry": np.array([1, 3], dtype=np.int32),
            "seniority": np.array([3, 0], dtype=np.int32),
            "country": np.array([0, 0], dtype=np.int32),
        }
    )


def impressions() -> pd.DataFrame:
    """Session 1 (member 100, search for title 3, ios): jobs 10, 11, big id; session 2 (member
    200, JYMBII, web): jobs 11, 10 (the second not impressed)."""
    return pd.DataFrame(
        {
            "date": [DAY] * 5,
            "session_id": np.array([1, 1, 1, 2, 2], dtype=np.int64),
            "member_id": np.array([100, 100, 100, 200, 200], dtype=np.int64),
            "channel": ["search", "search", "search", "jymbii", "jymbii"],
            "query_title_id": np.array([3, 3, 3, -1, -1], dtype=np.int32),
            "platform": ["ios", "ios", "ios", "web", "web"],
            "hour": np.array([9, 9, 9, 20, 20], dtype=np.int32),
            "position": np.array([0, 1, 2, 0, 1], dtype=np.int32),
            "job_id": np.array([10, 11, 9_000_000_000_123, 11, 10], dtype=np.int64),
            "ranker_score": np.array([2.0, 1.5, -0.5, 0.3, 0.1], dtype=np.float32),
            "impressed": [True, True, True, True, False],
            "click": np.array([1, 1, 0, 0, 0], dtype=np.int8),
            "apply": np.array([1, 0, 0, 0, 0], dtype=np.int8),
            "qualified_apply": np.array([1, 0, 0, 0, 0], dtype=np.int8),
        }
    )


def examples(**kwargs) -> pd.DataFrame:
    return jobs_examples(impressions(), postings(), profiles(), **kwargs)


def test_the_hand_made_frames_follow_the_contract():
    assert list(postings().columns) == JOB_POSTINGS.names
    assert list(profiles().columns) == MEMBER_PROFILES.names
    assert list(impressions().columns) == JOB_IMPRESSIONS.names


def test_joins_keep_every_served_row_in_order_with_its_fields():
    frame = examples()
    assert list(frame.columns) == list(JOBS_EXAMPLE_COLUMNS)
    assert frame["job_id"].tolist() == [10, 11, 9_000_000_000_123, 11, 10]
    assert frame["impressed"].tolist() == [True, True, True, True, False]
    assert frame["job_title"].tolist() == [3, 4, 3, 4, 3]
    assert frame["job_company"].tolist() == [5, 7_777_777_777, 5, 7_777_777_777, 5]
    assert frame["job_skills"].tolist() == [[1, 2, 3, 4], [7], [2, 2, 9], [7], [1, 2, 3, 4]]
    assert frame["member_title"].tolist() == [3, 3, 3, 8, 8]
    assert frame["member_skills"].tolist() == [[2, 4, 9]] * 3 + [[]] * 2
    assert frame["member_seniority"].tolist() == [3, 3, 3, 0, 0]
    assert frame["query_title"].tolist() == [3, 3, 3, -1, -1]
    assert frame["apply"].tolist() == [1, 0, 0, 0, 0]


def test_dense_features_on_hand_made_rows():
    dense = examples()[list(JOBS_DENSE_FEATURES)]
    # job 10 needs {1,2,3,4}, member 100 holds {2,4,9}: 2/4; job 11 needs {7}: 0;
    # the big job needs {2,9} (2 listed twice counts once): 2/2; member 200 holds none
    np.testing.assert_allclose(dense["skill_overlap"], [0.5, 0.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(dense["posting_age_days"], [0, 3, 1, 3, 0])
    np.testing.assert_allclose(dense["title_equal"], [1, 0, 1, 0, 0])
    np.testing.assert_allclose(dense["seniority_gap"], [2 - 3, 4 - 3, 1 - 3, 4 - 0, 2 - 0])
    np.testing.assert_allclose(dense["country_match"], [1, 0, 1, 0, 1])
    np.testing.assert_allclose(dense["industry_match"], [1, 0, 1, 0, 0])
    np.testing.assert_allclose(dense["channel_search"], [1, 1, 1, 0, 0])
    np.testing.assert_allclose(dense["channel_jymbii"], [0, 0, 0, 1, 1])
    np.testing.assert_allclose(dense["platform_ios"], [1, 1, 1, 0, 0])
    np.testing.assert_allclose(dense["platform_web"], [0, 0, 0, 1, 1])
    np.testing.assert_allclose(dense["platform_android"], 0)
    assert (dense.dtypes == np.float32).all()


def test_an_unknown_platform_encodes_as_zeros():
    rows = impressions().assign(platform="smart_tv")
    frame = jobs_examples(rows, postings(), profiles())
    assert (frame[[f for f in JOBS_DENSE_FEATURES if f.startswith("platform_")]] == 0).all().all()


def test_split_is_by_whole_session_stable_and_near_its_share():
    ids = np.arange(20_000, dtype=np.int64) * 7919 + 3
    holdout = holdout_sessions(ids, 0.1)
    assert abs(holdout.mean() - 0.1) < 0.01
    np.testing.assert_array_equal(holdout, holdout_sessions(ids, 0.1))
    assert not holdout_sessions(ids, 0.0).any()
    assert (holdout_sessions(ids, 0.1) <= holdout_sessions(ids, 0.5)).all()  # nested shares
    frame = examples(holdout_share=0.5)
    assert frame.groupby("session_id")["split"].nunique().eq(1).all()
    assert set(frame["split"]) <= {"train", "holdout"}
    with pytest.raises(ValueError, match="holdout_share"):
        examples(holdout_share=1.0)


def test_training_rows_keep_impressed_rows_of_the_split():
    frame = examples(holdout_share=0.0)
    assert training_rows(frame)["job_id"].tolist() == [10, 11, 9_000_000_000_123, 11]
    assert training_rows(frame, "holdout").empty
    assert len(training_rows(frame, None)) == 4


def test_inputs_and_labels_for_the_model():
    frame = examples()
    inputs, labels = jobs_inputs(frame), jobs_labels(frame)
    assert set(inputs) == {field for field, _ in DEFAULT_FIELDS} | {"dense"}
    np.testing.assert_array_equal(inputs["member_skills"][:, :3], [[2, 4, 9]] * 3 + [[-1] * 3] * 2)
    assert inputs["job_skills"].shape == (5, 4)
    np.testing.assert_array_equal(inputs["job_skills"][1], [7, -1, -1, -1])
    np.testing.assert_array_equal(inputs["job_company"][:, 0], frame["job_company"])
    assert inputs["job_company"].dtype == np.int64 and inputs["job_company"].shape == (5, 1)
    np.testing.assert_array_equal(inputs["query_title"][:, 0], [3, 3, 3, -1, -1])
    assert (
        inputs["dense"].shape == (5, len(JOBS_DENSE_FEATURES)) == (5, JobsModelConfig().num_dense)
    )
    assert inputs["dense"].dtype == np.float32
    assert set(labels) == {"apply", "click"}
    np.testing.assert_array_equal(labels["click"], [1, 1, 0, 0, 0])
    assert labels["apply"].dtype == np.float32


def test_inputs_reject_non_finite_dense_features():
    frame = examples()
    frame.loc[2, "posting_age_days"] = np.nan
    with pytest.raises(ValueError, match="posting_age_days.*finite"):
        jobs_inputs(frame)


def _set(frame: pd.DataFrame, row: int, **values) -> pd.DataFrame:
    frame = frame.copy()
    for column, value in values.items():
        frame.loc[row, column] = value
    return frame


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        ("impressions", lambda f: _set(f, 0, job_id=12), r"job_id.*among the live postings"),
        ("impressions", lambda f: _set(f, 3, member_id=300), r"member_id.*with a profile"),
        ("impressions", lambda f: _set(f, 0, channel="feed"), r"channel.*one of"),
        (
            "impressions",
            lambda f: _set(f, 3, query_title_id=5),
            r"query_title_id.*-1 exactly when channel == 'jymbii'",
        ),
        (
            "impressions",
            lambda f: _set(f, 0, query_title_id=-1),
            r"query_title_id.*-1 exactly when",
        ),
        ("impressions", lambda f: _set(f, 1, position=0), r"\(session_id, position\).*unique"),
        ("impressions", lambda f: _set(f, 1, job_id=10), r"\(session_id, job_id\).*unique"),
        ("impressions", lambda f: _set(f, 2, click=2), r"click.*in \{0, 1\}"),
        ("impressions", lambda f: _set(f, 4, click=1), r"click.*0 where not impressed"),
        ("impressions", lambda f: _set(f, 2, apply=1), r"apply.*apply only with click"),
        (
            "impressions",
            lambda f: _set(f, 1, qualified_apply=1),
            r"qualified_apply.*only with apply",
        ),
        ("impressions", lambda f: _set(f, 2, ranker_score=np.inf), r"ranker_score.*finite"),
        ("impressions", lambda f: _set(f, 2, ranker_score=np.nan), r"ranker_score.*finite"),
        ("impressions", lambda f: _set(f, 0, position=-1), r"position.*>= 0"),
        (
            "impressions",
            lambda f: _set(f, 0, date=dt.date(2026, 1, 4)),
            r"date.*on or after the posting's creation date",
        ),
        ("impressions", lambda f: f.drop(columns="platform"), r"lacks the columns \['platform'\]"),
        ("postings", lambda f: _set(f, 1, job_id=10), r"job_postings.\(job_id\).*unique"),
        ("postings", lambda f: _set(f, 0, title_id=-3), r"job_postings.title_id.*>= 0"),
        ("profiles", lambda f: _set(f, 1, member_id=100), r"member_profiles.\(member_id\)"),
    ],
)
def test_each_value_rule_raises_a_named_error(table, change, message):
    frames = {"impressions": impressions(), "postings": postings(), "profiles": profiles()}
    frames[table] = change(frames[table])
    with pytest.raises(ValueError, match=message) as error:
        jobs_examples(frames["impressions"], frames["postings"], frames["profiles"])
    assert "rows break the rule" in str(error.value) or "lacks the columns" in str(error.value)


def test_error_names_the_count_and_samples():
    rows = impressions()
    rows["job_id"] = rows["job_id"].replace({10: 99})
    with pytest.raises(ValueError, match=r"job_impressions.job_id: 2 rows .*99.*job_lifetime_days"):
        jobs_examples(rows, postings(), profiles())

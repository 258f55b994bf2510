"""Reliability: the served SavedModel under bad request rows (issue 11, "Safe serving").

One bad row (NaN, ±inf, a negative length, an hour of 99, an empty or 1 MB id, ...) is rejected
alone: it gets its `status` bits, probabilities 0 and a score below every valid row; the batch
never fails, and every other row scores exactly as in a clean batch. Unknown or empty categories
are scored from the out-of-vocabulary bucket and flagged in `imputed`. A wrong dtype sent through
`score_raw` names the column.
"""

from __future__ import annotations

import dataclasses
import re

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from models.feed import EVERY_BLOCK, TINY_FEED_MODEL, FeedModel
from models.serving import row_policy
from models.serving.row_policy import (
    MAX_STRING_BYTES,
    RULE_OF_COLUMN,
    RULES,
    explain_imputed,
    explain_status,
    rejected_score,
)
from models.serving.saved_model import (
    IMPUTED_OUTPUT,
    SCORE_OUTPUT,
    STATUS_OUTPUT,
    export_saved_model,
    model_outputs,
    raw_features,
    score_raw,
    serving_outputs,
)
from spark.schemas import LABELS
from spark.world.config import CONTENT_TYPES, PLATFORMS

# every block on (isotonic calibration, transformer history, QR ids, murmur string ids)
CONFIG = dataclasses.replace(
    TINY_FEED_MODEL, **EVERY_BLOCK, content_types=CONTENT_TYPES, platforms=PLATFORMS
)
ROWS = 24


def candidate_rows(n: int, seed: int = 0) -> pd.DataFrame:
    """`n` valid candidate rows holding the columns a request is built from."""
    rng = np.random.default_rng(seed)
    history = [rng.integers(0, 60, k) for k in rng.integers(0, 25, n)]
    return pd.DataFrame(
        {
            "member_id": rng.integers(0, 400, n),
            "author_id": rng.integers(0, 60, n),
            "post_id": np.arange(n) + 5000,
            "hist_post_ids": [3 * h + 1 for h in history],
            "hist_author_ids": history,
            "hist_actions": [rng.integers(0, 5, len(h)) for h in history],
            "hashtag_ids": [rng.integers(0, 40, k) for k in rng.integers(1, 4, n)],
            "content_type": rng.choice(np.array(CONTENT_TYPES), n),
            "platform": rng.choice(np.array(PLATFORMS), n),
            "member_seniority": rng.integers(0, 8, n),
            "member_industry": rng.integers(0, 30, n),
            "member_country": rng.integers(0, 20, n),
            "position": np.zeros(n, np.int64),
            "hour": rng.integers(0, 24, n),
            "member_log_connections": rng.uniform(2.0, 8.0, n),
            "length": rng.exponential(100.0, n),
            "post_age_hours": rng.uniform(0, 96, n),
            "author_log_followers": rng.uniform(1.0, 9.0, n),
        }
    )


@pytest.fixture(scope="module")
def model() -> FeedModel:
    keras.utils.set_random_seed(7)
    model = FeedModel(CONFIG)
    rng = np.random.default_rng(7)
    for weight in model.weights:  # weights far from init, so rows are told apart
        values = rng.normal(scale=0.3, size=tuple(weight.shape))
        if weight.path.endswith("moving_variance"):
            values = 1.0 + np.abs(values)
        weight.assign(values.astype(weight.dtype))
    return model


@pytest.fixture(scope="module")
def served(model, tmp_path_factory):
    path = export_saved_model(model, tmp_path_factory.mktemp("served") / "saved_model")
    return tf.saved_model.load(str(path))


@pytest.fixture(scope="module")
def clean() -> dict[str, np.ndarray]:
    return raw_features(candidate_rows(ROWS, seed=3), CONFIG)


# row -> (column, bad value, the status it must get); None: imputed, not rejected
BAD_ROWS = {
    1: ("author_log_followers", np.nan, "author_log_followers"),
    2: ("member_log_connections", np.inf, "member_log_connections"),
    3: ("length", -5.0, "length"),
    4: ("post_age_hours", -np.inf, "post_age_hours"),
    5: ("hour", 99, "hour"),
    6: ("member_id", b"", "member_id"),
    7: ("author_id", b"actor:" + b"7" * 1_000_000, "author_id"),
    8: ("content_type", b"hologram", None),
    9: ("platform", b"", None),
    10: ("member_seniority", -3, "member_seniority"),
    13: ("post_id", b"", "post_id"),
}


def bad_request(clean: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    raw = {key: value.copy() for key, value in clean.items()}
    for key in ("member_id", "author_id", "post_id", "content_type", "platform"):
        raw[key] = raw[key].astype(object)  # room for the 1 MB id
    for row, (column, value, _) in BAD_ROWS.items():
        raw[column][row] = value
    raw["hist_actions"][11, -1] = 7  # not an action
    raw["hist_author_ids"] = raw["hist_author_ids"].astype(object)
    raw["hist_author_ids"][12, -1] = b"actor:" + b"1" * 300  # oversized history id
    raw["hist_post_ids"] = raw["hist_post_ids"].astype(object)
    raw["hist_post_ids"][14, -1] = b"post:" + b"2" * 300  # oversized history post id
    return raw


def test_bad_rows_are_rejected_alone_sort_last_and_never_fail_the_batch(served, clean):
    expected = score_raw(served, clean)
    assert (expected[STATUS_OUTPUT] == 0).all() and (expected[IMPUTED_OUTPUT] == 0).all()
    out = score_raw(served, bad_request(clean))

    status = {row: RULE_OF_COLUMN[rule].value for row, (_, _, rule) in BAD_ROWS.items() if rule}
    status[11] = RULE_OF_COLUMN["hist_actions"].value
    status[12] = RULE_OF_COLUMN["hist_author_ids"].value
    status[14] = RULE_OF_COLUMN["hist_post_ids"].value
    want = np.zeros(ROWS, np.int32)
    want[list(status)] = list(status.values())
    np.testing.assert_array_equal(out[STATUS_OUTPUT], want)
    imputed = np.zeros(ROWS, np.int32)
    imputed[8], imputed[9] = 1, 2  # content_type, platform: the OOV bucket
    np.testing.assert_array_equal(out[IMPUTED_OUTPUT], imputed)

    for key in (*LABELS, SCORE_OUTPUT):
        assert np.isfinite(out[key]).all(), key
    rejected = want != 0
    for head in LABELS:
        assert (out[head][rejected] == 0).all(), head
    assert (out[SCORE_OUTPUT][rejected] == rejected_score(CONFIG.score_weights)).all()
    ranking = np.argsort(-out[SCORE_OUTPUT], kind="stable")
    assert set(ranking[-rejected.sum() :]) == set(np.flatnonzero(rejected))

    untouched = ~rejected & (imputed == 0)
    assert untouched.sum() == ROWS - len(BAD_ROWS) - 3  # and the history rows 11, 12, 14
    for key in (*LABELS, SCORE_OUTPUT):
        np.testing.assert_array_equal(out[key][untouched], expected[key][untouched], err_msg=key)
    assert np.std(expected[SCORE_OUTPUT]) > 0  # the rows are told apart


def test_status_explanations_name_the_column(served, clean):
    out = score_raw(served, bad_request(clean))
    for row, (column, _, rule) in BAD_ROWS.items():
        lines = explain_status(out[STATUS_OUTPUT][row])
        if rule is None:
            assert lines == [] and explain_imputed(out[IMPUTED_OUTPUT][row])[0].startswith(column)
        else:
            assert len(lines) == 1 and lines[0].startswith(f"{column}: "), lines
    assert explain_status(RULE_OF_COLUMN["length"].value | RULE_OF_COLUMN["hour"].value) == [
        "length: NaN, infinite, or outside [0, 1e+07] (bit 1)",
        "hour: outside [0, 23] (bit 8)",
    ]
    assert explain_status(0) == []


def test_unknown_and_empty_categories_are_scored_from_the_oov_bucket(served, clean):
    """Never-seen and empty categories do not fail the batch: every row is scored, like the
    same rows with the categories written as another out-of-vocabulary value."""
    raw = dict(clean)
    raw["content_type"] = np.array([b"hologram", b""] * (ROWS // 2), dtype=object)
    raw["platform"] = np.array([b"", b"fax"] * (ROWS // 2), dtype=object)
    out = score_raw(served, raw)
    assert (out[STATUS_OUTPUT] == 0).all() and (out[IMPUTED_OUTPUT] == 3).all()
    other = dict(raw, content_type=np.full(ROWS, b"zzz"), platform=np.full(ROWS, b"zzz"))
    np.testing.assert_array_equal(out[SCORE_OUTPUT], score_raw(served, other)[SCORE_OUTPUT])


def test_valid_rows_score_bit_identically_to_the_unchecked_path(model, clean):
    raw = {key: tf.constant(value) for key, value in clean.items()}
    checked, unchecked = serving_outputs(model, raw), model_outputs(model, raw)
    for key in (*LABELS, SCORE_OUTPUT):
        np.testing.assert_array_equal(checked[key].numpy(), unchecked[key].numpy(), err_msg=key)
    assert (checked[STATUS_OUTPUT].numpy() == 0).all()


def test_a_long_id_is_cut_before_hashing(model, clean):
    """A 1 MB id is hashed as its first MAX_STRING_BYTES bytes: the same model input, hence the
    same cost, as a MAX_STRING_BYTES-byte id."""
    long_id = b"actor:" + b"7" * 1_000_000
    raw = {key: tf.constant(value) for key, value in clean.items()}
    bounded = row_policy.bound_strings({**raw, "author_id": tf.constant([long_id] * ROWS)})
    assert bounded["author_id"].numpy()[0] == long_id[:MAX_STRING_BYTES]
    assert bounded["member_id"].numpy().tolist() == clean["member_id"].tolist()


def test_score_raw_names_the_column_of_a_wrong_dtype(served, clean):
    with pytest.raises(TypeError, match=r"column `hour` must be int32 \(integer\); found float64"):
        score_raw(served, {**clean, "hour": clean["hour"].astype(np.float64)})
    with pytest.raises(TypeError, match=r"column `member_id` must be string.*found int64"):
        score_raw(served, {**clean, "member_id": np.arange(ROWS)})
    with pytest.raises(TypeError, match=r"column `length` must be float32 \(float\)"):
        score_raw(served, {**clean, "length": clean["length"].astype(str)})
    with pytest.raises(ValueError, match=r"missing \['platform'\], unexpected \['platfrom'\]"):
        score_raw(served, {**{k: v for k, v in clean.items() if k != "platform"}, "platfrom": 1})
    with pytest.raises(
        ValueError,
        match=r"one entry per candidate row \(24 in most columns\); found {.length.: 3} rows",
    ):
        score_raw(served, {**clean, "length": clean["length"][:3]})
    hours = clean["hour"].astype(np.int64)
    hours[5] = 2**32
    with pytest.raises(ValueError, match=r"column `hour` holds 4294967296, outside int32"):
        score_raw(served, {**clean, "hour": hours})
    # lossless casts are made: int64 hours, float64 lengths, str ids score like the typed request
    loose = {
        **clean,
        "hour": clean["hour"].astype(np.int64),
        "length": clean["length"].astype(np.float64),
        "member_id": clean["member_id"].astype(str),
    }
    np.testing.assert_array_equal(
        score_raw(served, loose)[SCORE_OUTPUT], score_raw(served, clean)[SCORE_OUTPUT]
    )


def test_the_docstring_table_lists_every_rule():
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\S+(?: \S+)?) \|", row_policy.__doc__, re.M)
    assert [(int(b), int(v), c) for b, v, c in rows] == [
        (rule.bit, rule.value, rule.column) for rule in RULES
    ]

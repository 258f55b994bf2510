"""Tests for models.inputs.spec: TRAINING_EXAMPLE rows -> fixed-shape model inputs."""

from __future__ import annotations

import numpy as np
import pytest

from models.inputs.spec import (
    AFFINITY_FEATURES,
    DENSE_FEATURES,
    INPUT_KEYS,
    OOV_INDEX,
    InputSpec,
    count_out_of_vocabulary,
    dense_moments,
    examples_to_inputs,
    labels_from,
    learn_vocabularies,
    take,
    with_position,
)
from models.inputs.tf_transform import history_affinity as tf_history_affinity
from spark.schemas import LABELS
from spark.world.config import CONTENT_TYPES, PLATFORMS  # the simulator's values

SPEC = InputSpec(content_types=CONTENT_TYPES, platforms=PLATFORMS)


def history_affinity(author_ids, hist, actions):
    return tf_history_affinity(author_ids, hist, actions).numpy()


def test_shapes_and_dtypes(make_examples):
    df = make_examples(7)
    inputs = examples_to_inputs(df, InputSpec(history_length=5, max_hashtags=2))
    assert set(inputs) == set(INPUT_KEYS)
    assert inputs["hist_author_ids"].shape == (7, 5)
    assert inputs["hist_actions"].shape == (7, 5)
    assert inputs["hashtag_ids"].shape == (7, 2)
    assert inputs["dense"].shape == (7, len(DENSE_FEATURES))
    assert inputs["dense"].dtype == np.float32
    assert inputs["affinity"].shape == (7, len(AFFINITY_FEATURES))
    assert inputs["affinity"].dtype == np.float32
    assert inputs["member_id"].dtype == np.int64
    assert inputs["position"].dtype == np.int32
    for key in INPUT_KEYS:
        assert len(inputs[key]) == 7


def test_history_keeps_most_recent_at_the_end_and_pads_in_front(make_examples):
    df = make_examples(3)
    df["hist_author_ids"] = [[1, 2, 3, 4, 5, 6], [7], None]
    df["hist_actions"] = [[0, 1, 2, 3, 4, 0], [3], []]
    inputs = examples_to_inputs(df, InputSpec(history_length=4))
    np.testing.assert_array_equal(
        inputs["hist_author_ids"], [[3, 4, 5, 6], [-1, -1, -1, 7], [-1, -1, -1, -1]]
    )
    np.testing.assert_array_equal(
        inputs["hist_actions"], [[2, 3, 4, 0], [-1, -1, -1, 3], [-1, -1, -1, -1]]
    )


def test_history_posts_stay_aligned_with_authors_and_hash_in_the_post_namespace(make_examples):
    from models.inputs.murmur import murmur_int64

    df = make_examples(2)
    df["hist_post_ids"] = [[91, 92, 93, 94, 95, 96], [97]]
    df["hist_author_ids"] = [[1, 2, 3, 4, 5, 6], [7]]
    df["hist_actions"] = [[0, 1, 2, 3, 4, 0], [3]]
    df["post_id"] = [500, 501]
    inputs = examples_to_inputs(df, InputSpec(history_length=4))
    np.testing.assert_array_equal(inputs["hist_post_ids"], [[93, 94, 95, 96], [-1, -1, -1, 97]])
    np.testing.assert_array_equal(inputs["post_id"], [500, 501])
    hashed = examples_to_inputs(df, InputSpec(history_length=4, id_hash="murmur"))
    assert hashed["hist_post_ids"][1, -1] == murmur_int64("post:97") & (2**31 - 1)
    assert hashed["post_id"][0] == murmur_int64("post:500") & (2**31 - 1)
    np.testing.assert_array_equal(hashed["hist_post_ids"] < 0, inputs["hist_post_ids"] < 0)


def test_examples_written_before_post_histories_name_the_rebuild(make_examples):
    df = make_examples(2).drop(columns=["hist_post_ids"])
    with pytest.raises(ValueError, match=r"lack \['hist_post_ids'\].*session_explosion"):
        examples_to_inputs(df, SPEC)


def test_hashtags_keep_the_first_and_pad_at_the_end(make_examples):
    df = make_examples(2)
    df["hashtag_ids"] = [[9, 8, 7, 6], [5]]
    inputs = examples_to_inputs(df, InputSpec(max_hashtags=3))
    np.testing.assert_array_equal(inputs["hashtag_ids"], [[9, 8, 7], [5, -1, -1]])


def test_strings_map_to_one_plus_their_vocabulary_index(make_examples):
    df = make_examples(2)
    df["content_type"] = ["video", "text"]
    df["platform"] = ["android", "web"]
    inputs = examples_to_inputs(df, SPEC)
    assert list(inputs["content_type"]) == [CONTENT_TYPES.index("video") + 1, 1]
    assert list(inputs["platform"]) == [PLATFORMS.index("android") + 1, 1]


def test_unknown_categories_fall_in_the_oov_bucket_and_are_counted(make_examples):
    df = make_examples(4)
    df.loc[1, "content_type"] = "hologram"
    df.loc[[0, 2], "platform"] = ["fax", None]
    inputs = examples_to_inputs(df, SPEC)
    assert inputs["content_type"][1] == OOV_INDEX
    assert (inputs["content_type"][[0, 2, 3]] > 0).all()
    assert list(inputs["platform"][[0, 2]]) == [OOV_INDEX, OOV_INDEX]
    assert count_out_of_vocabulary(inputs) == {"content_type": 1, "platform": 2}
    # an empty vocabulary maps everything to the OOV bucket
    assert (examples_to_inputs(df, InputSpec())["content_type"] == OOV_INDEX).all()


def test_vocabularies_are_learned_most_frequent_first(make_examples):
    df = make_examples(6)
    df["content_type"] = ["b", "a", "c", "a", "b", "a"]
    df["platform"] = ["x", None, "", "y", "y", "x"]
    vocabularies = learn_vocabularies([df, df.iloc[:1]])
    assert vocabularies == {"content_type": ("a", "b", "c"), "platform": ("x", "y")}
    assert learn_vocabularies([df], min_count=3)["content_type"] == ("a",)
    spec = InputSpec.learned_from(df, id_hash="murmur")
    assert (spec.content_types, spec.platforms) == (("a", "b", "c"), ("x", "y"))
    assert spec.id_hash == "murmur"


@pytest.mark.parametrize(
    "vocabulary, message",
    [(("a", "a"), "repeats"), (("a", ""), "non-empty"), ((1,), "non-empty")],
)
def test_bad_vocabularies_are_named(vocabulary, message):
    with pytest.raises(ValueError, match=message):
        InputSpec(content_types=vocabulary)


def test_dense_features_are_the_documented_transforms(make_examples):
    df = make_examples(4)
    dense = examples_to_inputs(df, SPEC)["dense"]
    np.testing.assert_allclose(dense[:, 0], df["member_log_connections"], rtol=1e-6)
    np.testing.assert_allclose(dense[:, 1], np.log1p(df["length"]), rtol=1e-6)
    np.testing.assert_allclose(dense[:, 2], df["post_age_hours"] / 24.0, rtol=1e-6)
    np.testing.assert_allclose(dense[:, 3], df["author_log_followers"], rtol=1e-6)


def test_nan_dense_feature_names_column_and_count(make_examples):
    df = make_examples(5)
    df.loc[[1, 3], "post_age_hours"] = np.nan
    with pytest.raises(ValueError, match=r"post_age_hours.* 2 NaN"):
        examples_to_inputs(df, SPEC)
    df.loc[[1, 3], "post_age_hours"] = [1.0, np.inf]
    with pytest.raises(ValueError, match=r"post_age_hours.* 1 NaN or infinite"):
        examples_to_inputs(df, SPEC)


def test_missing_column_is_named(make_examples):
    df = make_examples(2).drop(columns=["hour"])
    with pytest.raises(ValueError, match="hour"):
        examples_to_inputs(df, SPEC)


def test_labels_are_float32_per_head(make_examples):
    df = make_examples(6)
    labels = labels_from(df)
    assert set(labels) == set(LABELS)
    for head in LABELS:
        assert labels[head].dtype == np.float32
        np.testing.assert_array_equal(labels[head], df[head].to_numpy())
    with pytest.raises(ValueError, match="long_dwell"):
        labels_from(df.drop(columns=["long_dwell"]))


def test_with_position_sets_every_position_without_touching_the_input(make_examples):
    inputs = examples_to_inputs(make_examples(10), SPEC)
    before = inputs["position"].copy()
    ranked = with_position(inputs, 0)
    assert np.all(ranked["position"] == 0)
    assert ranked["position"].dtype == before.dtype
    np.testing.assert_array_equal(inputs["position"], before)
    assert ranked["member_id"] is inputs["member_id"]


def test_dense_moments_and_take(make_examples):
    inputs = examples_to_inputs(make_examples(50), SPEC)
    mean, variance = dense_moments(inputs)
    np.testing.assert_allclose(mean, inputs["dense"].astype(np.float64).mean(axis=0))
    np.testing.assert_allclose(variance, inputs["dense"].astype(np.float64).var(axis=0))
    subset = take(inputs, np.array([3, 1]))
    np.testing.assert_array_equal(subset["hist_author_ids"][0], inputs["hist_author_ids"][3])


def test_history_affinity_hand_checked_values():
    # row 0: author 5 at steps-ago 3 (click) and 0 (like); row 1: author absent; row 2: no history
    hist = np.array([[-1, 5, 2, 7, 5], [-1, -1, 3, 4, 3], [-1, -1, -1, -1, -1]])
    actions = np.array([[-1, 0, 0, 2, 1], [-1, -1, 0, 0, 0], [-1, -1, -1, -1, -1]])
    affinity = history_affinity(np.array([5, 9, 5]), hist, actions)
    expected = [
        [np.log1p(2), np.log1p(1), 0.8**3 + 0.8**0, np.log1p(4)],
        [0.0, 0.0, 0.0, np.log1p(3)],
        [0.0, 0.0, 0.0, 0.0],
    ]
    np.testing.assert_allclose(affinity, expected, rtol=1e-6)


def test_history_affinity_ignores_front_padding_and_author_minus_one():
    hist = np.array([[3, 3]])
    actions = np.array([[0, 1]])
    padded = history_affinity(np.array([3]), np.array([[-1, -1, 3, 3]]), np.array([[-1, -1, 0, 1]]))
    np.testing.assert_allclose(history_affinity(np.array([3]), hist, actions), padded)
    # a (malformed) author id of -1 must not match the padding
    np.testing.assert_array_equal(
        history_affinity(np.array([-1]), np.array([[-1, -1]]), np.array([[-1, -1]]))[0, :3], 0
    )


def test_examples_to_inputs_affinity_matches_history(make_examples):
    df = make_examples(2)
    df["author_id"] = [4, 8]
    df["hist_author_ids"] = [[4, 1, 4], [1, 2]]
    df["hist_actions"] = [[0, 3, 1], [0, 0]]
    affinity = examples_to_inputs(df, SPEC)["affinity"]
    np.testing.assert_allclose(affinity[:, 0], [np.log1p(2), 0.0], rtol=1e-6)
    np.testing.assert_allclose(affinity[:, 1], [np.log1p(1), 0.0], rtol=1e-6)


def test_id_halves_keep_the_full_hash_as_two_int32_halves(make_examples):
    from models.inputs.murmur import model_id_halves

    df = make_examples(12, seed=4)
    short = examples_to_inputs(df, InputSpec(id_hash="murmur"))
    full = examples_to_inputs(df, InputSpec(id_hash="murmur", id_halves=True))
    assert full["member_id"].shape == (12, 2) and full["hist_author_ids"].shape == (12, 20, 2)
    assert full["post_id"].shape == (12, 2) and full["hist_post_ids"].shape == (12, 20, 2)
    np.testing.assert_array_equal(
        full["member_id"], model_id_halves([f"member:{i}" for i in df["member_id"]])
    )
    np.testing.assert_array_equal(
        full["author_id"][0], model_id_halves(f"actor:{df['author_id'][0]}")
    )
    # padding stays where it was, as (-1, -1); the other inputs are unchanged
    np.testing.assert_array_equal(
        (full["hist_author_ids"] == -1).all(-1), short["hist_author_ids"] < 0
    )
    np.testing.assert_array_equal((full["hist_post_ids"] == -1).all(-1), short["hist_post_ids"] < 0)
    for key in set(short) - {
        "member_id",
        "author_id",
        "post_id",
        "hist_author_ids",
        "hist_post_ids",
    }:
        np.testing.assert_array_equal(full[key], short[key], err_msg=key)


def test_id_halves_need_murmur():
    with pytest.raises(ValueError, match="id_hash='none'"):
        InputSpec(id_halves=True)

"""The blocking quality check on training examples: ±inf features and count labels fail it (a NaN
test alone let ±inf through to fail at cold start), and the message says what to fix."""

import numpy as np
import pandas as pd
import pytest

from models.evaluation.data_quality import DENSE_FEATURES, measure_example_quality
from spark.schemas import LABELS


def _examples(rows: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({col: rng.uniform(0, 5, rows) for col in DENSE_FEATURES})
    rates = {"click": 0.2, "like": 0.1, "comment": 0.02, "share": 0.02, "vote": 0.02}
    for label in LABELS:
        frame[label] = (rng.uniform(size=rows) < rates.get(label, 0.1)).astype("int8")
    return frame


def test_clean_examples_pass():
    quality = measure_example_quality(_examples())
    assert quality.passed, quality.describe()
    assert sum(quality.nonfinite_counts.values()) == 0


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_a_non_finite_feature_fails_naming_the_column_and_count(value):
    examples = _examples()
    examples.loc[[3, 7], "length"] = value
    quality = measure_example_quality(examples)
    assert not quality.passed
    assert quality.nonfinite_counts["length"] == 2
    assert "length has 2 NaN or infinite values" in quality.describe()
    assert "re-materialize the day" in quality.describe()


def test_count_labels_fail_the_check():
    examples = _examples()
    examples.loc[[0, 1, 2], "click"] = 2
    quality = measure_example_quality(examples)
    assert not quality.passed
    assert quality.non_binary_labels["click"] == 3
    assert "label click has 3 values other than 0 and 1" in quality.describe()

"""Every layer and every model family (Feed, Ads, Jobs) runs on the JAX backend (forward + one
SGD step) and matches TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("backend_parity.py")


def _start(backend: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": str(REPO),
        "JAX_PLATFORMS": "cpu",
    }
    return subprocess.Popen(
        [sys.executable, str(SCRIPT)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def backend_results() -> dict[str, dict]:
    processes = {backend: _start(backend) for backend in ("jax", "tensorflow")}
    results = {}
    for backend, process in processes.items():
        stdout, stderr = process.communicate(timeout=480)
        assert process.returncode == 0, f"{backend} run failed:\n{stderr[-4000:]}"
        results[backend] = json.loads(stdout.strip().splitlines()[-1])
    return results


LAYERS = [
    "low_rank_cross",
    "attention_low_rank_cross",
    "residual_dcn",
    "isotonic_calibration",
    "gated_mlp",
    "qr_embedding",
    "unlimited_vocab_embedding",
    "history_encoder",
]
MODELS = [
    "feed",
    "feed_every_block",
    "feed_experts_and_posts",
    "feed_mmoe",
    "feed_unlimited",
    "ads",
    "jobs",
]


def test_runs_on_the_requested_backends(backend_results):
    assert backend_results["jax"]["backend"] == "jax"
    assert backend_results["tensorflow"]["backend"] == "tensorflow"


@pytest.mark.parametrize("layer", LAYERS + MODELS)
def test_jax_matches_tensorflow(backend_results, layer):
    jax, tf = backend_results["jax"][layer], backend_results["tensorflow"][layer]
    for field in ("forward", "loss", "forward_after_step"):
        np.testing.assert_allclose(
            np.asarray(jax[field]), np.asarray(tf[field]), atol=1e-5, rtol=1e-5, err_msg=field
        )
    # The SGD step moved the outputs: gradients flowed on both backends.
    assert not np.allclose(jax["forward"], jax["forward_after_step"])

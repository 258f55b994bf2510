"""Isotonic calibration layer, co-trained on top of the final logit (LiRank Eq. 1, §3)."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops


def bucket_activations(
    logits: Any, lower_bound: float, upper_bound: float, step: float, num_buckets: int
) -> Any:
    """Eq. 1's bucket activations v for logits of shape [...]; returns [..., num_buckets].

    The logit is clipped to [lower_bound, upper_bound] and shifted by lower_bound, so that
    y' = clip(y) − lower_bound ≥ 0 (Eq. 1 assumes a positive input). Bucket i covers
    [i·step, (i+1)·step): v_i = step for the full buckets below y', the remainder
    y' − k·step for the bucket k holding y', and 0 above it. Σ_i v_i = y'.
    """
    shifted = ops.clip(logits, lower_bound, upper_bound) - lower_bound
    starts = ops.arange(num_buckets, dtype=shifted.dtype) * step
    return ops.clip(ops.expand_dims(shifted, -1) - starts, 0.0, step)


def calibrate(activations: Any, slopes: Any, lower_bound: float, bias: Any) -> Any:
    """y_cali = Σ_i slope_i · v_i + lower_bound + b, with slopes ≥ 0 (ReLU(w_i + e_i))."""
    return ops.sum(slopes * activations, axis=-1) + lower_bound + bias


def is_non_decreasing(values: np.ndarray, axis: int = -1) -> bool:
    """True when `values` never decreases along `axis`."""
    return bool(np.all(np.diff(np.asarray(values), axis=axis) >= 0))


@keras.saving.register_keras_serializable(package="lirank")
class IsotonicCalibration(keras.layers.Layer):
    """Monotone piecewise-linear calibration of a logit (LiRank Eq. 1).

        v = bucket_activations(clip(y, lower_bound, upper_bound) − lower_bound)
        e = Dense(num_buckets)(calibration_features)          (optional; 0 without features)
        y_cali = Σ_i ReLU(w_i + e_i) · v_i + lower_bound + b

    ReLU keeps every slope non-negative, so y_cali is a non-decreasing function of y for every
    calibration-feature row: `check_monotonic` verifies that on a grid. Weights w start at 1 and
    e, b at 0, so the untrained layer is the identity on [lower_bound, upper_bound].
    The calibration features (e.g. embeddings of device, channel, item IDs) make the slopes
    example-dependent. Feed y_cali to a sigmoid / `from_logits=True` loss.

    NOT CONFIRMED by the paper: step, bucket count, the lower-bound offset (needed because Eq. 1
    assumes y > 0) and how e is built (here: one Dense layer over the given features).

    Args:
        num_buckets: number of buckets, a positive int.
        step: bucket width, > 0.
        lower_bound: logits below are clipped to it (default -8.0).
        upper_bound: logits above are clipped to it; None means lower_bound + num_buckets·step.
            Must exceed lower_bound and lie within the buckets' reach.
        weights_initializer: initializer for w (default "ones": identity at start).
        calibration_initializer: kernel initializer of the Dense producing e.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        `logits`: [batch] or [batch, 1]; optional `calibration_features`: [batch, f].

    Output shape:
        same as `logits`.

    Example:

    ```python
    logit = keras.Input((1,))
    device = keras.Input((8,))
    y_cali = IsotonicCalibration(num_buckets=320, step=0.05)(logit, device)
    ```
    """

    def __init__(
        self,
        num_buckets: int,
        step: float,
        lower_bound: float = -8.0,
        upper_bound: float | None = None,
        weights_initializer: Any = "ones",
        calibration_initializer: Any = "zeros",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets <= 0:
            raise ValueError(
                f"`num_buckets` must be a positive integer. Received: num_buckets={num_buckets}"
            )
        if not step > 0:
            raise ValueError(f"`step` must be positive. Received: step={step}")
        reach = lower_bound + num_buckets * step
        if upper_bound is None:
            upper_bound = reach
        if not upper_bound > lower_bound:
            raise ValueError(
                "`upper_bound` must be greater than `lower_bound`. Received: "
                f"lower_bound={lower_bound}, upper_bound={upper_bound}"
            )
        if upper_bound > reach + 1e-9 * max(1.0, abs(reach)):
            raise ValueError(
                f"The buckets reach only lower_bound + num_buckets * step = {reach}; raise "
                f"`num_buckets` or `step`. Received: upper_bound={upper_bound}"
            )
        self.num_buckets = num_buckets
        self.step = float(step)
        self.lower_bound = float(lower_bound)
        self.upper_bound = float(upper_bound)
        self.weights_initializer = keras.initializers.get(weights_initializer)
        self.calibration_initializer = keras.initializers.get(calibration_initializer)
        self.calibration_dense = None

    def build(self, logits_shape: tuple, calibration_features_shape: tuple | None = None) -> None:
        if len(logits_shape) not in (1, 2) or (len(logits_shape) == 2 and logits_shape[-1] != 1):
            raise ValueError(
                f"`logits` must have shape [batch] or [batch, 1]. Received: {logits_shape}"
            )
        self.bucket_weights = self.add_weight(
            name="bucket_weights", shape=(self.num_buckets,), initializer=self.weights_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(), initializer="zeros")
        if calibration_features_shape is not None:
            self.calibration_dense = keras.layers.Dense(
                self.num_buckets,
                kernel_initializer=self.calibration_initializer,
                name="calibration_dense",
            )
            self.calibration_dense.build(calibration_features_shape)

    def slopes(self, calibration_features: Any = None) -> Any:
        """ReLU(w + e): [num_buckets] without features, [batch, num_buckets] with them."""
        if calibration_features is None or self.calibration_dense is None:
            return ops.relu(self.bucket_weights)
        return ops.relu(self.bucket_weights + self.calibration_dense(calibration_features))

    def call(self, logits: Any, calibration_features: Any = None) -> Any:
        if calibration_features is not None and self.calibration_dense is None:
            raise ValueError("This layer was built without `calibration_features`; pass none.")
        y = ops.reshape(logits, (-1,))
        activations = bucket_activations(
            y, self.lower_bound, self.upper_bound, self.step, self.num_buckets
        )
        y_cali = calibrate(
            activations, self.slopes(calibration_features), self.lower_bound, self.bias
        )
        return ops.reshape(y_cali, ops.shape(logits))

    def check_monotonic(
        self, calibration_inputs: Any = None, grid: np.ndarray | None = None
    ) -> bool:
        """True when y_cali is non-decreasing in the logit over `grid` for every feature row.

        `grid` defaults to 4 points per bucket spanning one step beyond both bounds.
        """
        if grid is None:
            grid = np.linspace(
                self.lower_bound - self.step, self.upper_bound + self.step, 4 * self.num_buckets + 3
            )
        grid = np.asarray(grid, dtype="float32").reshape(-1)
        if calibration_inputs is None:
            return is_non_decreasing(ops.convert_to_numpy(self(grid)))
        features = np.asarray(calibration_inputs, dtype="float32")
        rows, points = features.shape[0], grid.shape[0]
        tiled_logits = np.tile(grid, rows)
        tiled_features = np.repeat(features, points, axis=0)
        out = ops.convert_to_numpy(self(tiled_logits, tiled_features)).reshape(rows, points)
        return is_non_decreasing(out, axis=-1)

    def compute_output_shape(
        self, logits_shape: tuple, calibration_features_shape: tuple | None = None
    ) -> tuple:
        return tuple(logits_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "step": self.step,
                "lower_bound": self.lower_bound,
                "upper_bound": self.upper_bound,
                "weights_initializer": keras.initializers.serialize(self.weights_initializer),
                "calibration_initializer": keras.initializers.serialize(
                    self.calibration_initializer
                ),
            }
        )
        return config

"""Per-head logit calibration of the feed model, co-trained with it (paper §3, Eq. 1).

Every block maps the head logits {head: [b]} and the calibration features c [b, f] (the platform
and content-type embeddings, `CALIBRATION_FEATURES`; paper: device and channel) to calibrated
logits:

    "none":     y
    "isotonic": y_cali = Σ_i ReLU(w_i + e_i) · v_i(y) + lower_bound + b,   e = Dense(c)

Example:

    calibration = IsotonicHeads(heads=LABELS, num_buckets=160, step=0.1)
    calibration.build(calibration_dim=60)
    calibrated = calibration(logits, features)               # {head: [b]}
"""

from __future__ import annotations

import keras

from models.layers.isotonic import IsotonicCalibration

# sparse features whose pooled vectors form the calibration features
CALIBRATION_FEATURES: tuple[str, ...] = ("platform", "content_type")


@keras.saving.register_keras_serializable(package="lirank")
class NoCalibration(keras.layers.Layer):
    """The head logits unchanged."""

    def build(self, calibration_dim: int) -> None:
        self.built = True

    def call(self, logits, calibration_features):
        return logits


@keras.saving.register_keras_serializable(package="lirank")
class IsotonicHeads(NoCalibration):
    """One isotonic calibration layer per head on its logit (paper §3, Eq. 1):

        y_cali = Σ_i ReLU(w_i + e_i) · v_i(y) + lower_bound + b,   e = Dense([e_platform ; e_type])

    Each map is monotone in the logit and starts as the identity on [-8, -8 + buckets · step];
    logits outside are clipped (the range is NOT CONFIRMED by the paper).

    Args:
        heads: the heads to calibrate, one `IsotonicCalibration` each (`<head>_isotonic`).
        num_buckets: isotonic buckets per head.
        step: bucket width.
    """

    def __init__(
        self, heads: tuple[str, ...], num_buckets: int = 160, step: float = 0.1, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not heads:
            raise ValueError("`heads` must name at least one head. Received: heads=()")
        self.head_names = tuple(heads)
        self.num_buckets = num_buckets
        self.step = float(step)
        self.heads = {
            head: IsotonicCalibration(num_buckets, self.step, name=f"{head}_isotonic")
            for head in self.head_names
        }

    def build(self, calibration_dim: int) -> None:
        for layer in self.heads.values():
            layer.build((None,), (None, calibration_dim))
        self.built = True

    def call(self, logits, calibration_features):
        return {
            head: self.heads[head](logit, calibration_features) for head, logit in logits.items()
        }

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "heads": list(self.head_names),
            "num_buckets": self.num_buckets,
            "step": self.step,
        }


# calibration -> the block applied to the head logits (with the calibration features)
CALIBRATIONS: dict[str, type[NoCalibration]] = {
    "none": NoCalibration,
    "isotonic": IsotonicHeads,
}

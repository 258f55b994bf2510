"""Dense gating of hidden layers (GateNet hidden gate) and the (large) gated MLP (§4)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from models.layers.initializers import fresh_initializer

GATE_TYPES = ("bit", "vector")
LARGE_MLP_UNITS = (3500, 3500, 3500, 3500)


@keras.saving.register_keras_serializable(package="lirank")
class DenseGate(keras.layers.Layer):
    """GateNet-style hidden gate (Huang et al. 2020), LiRank's "Dense Gating" (§3.5):

        h' = h ⊙ σ(W_g h + b_g)

    `gate_type="bit"` learns one gate per unit (W_g ∈ ℝ^{d×d}); `"vector"` learns one gate per
    example (W_g ∈ ℝ^{d×1}, broadcast over units), which costs only d + 1 parameters. LiRank does
    not give the gate equation (NOT CONFIRMED); the bit-wise hidden gate is the default.

    Args:
        gate_type: "bit" or "vector".
        kernel_initializer: initializer for W_g.
        bias_initializer: initializer for b_g.
        kernel_regularizer: optional regularizer for W_g.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        [batch, d].

    Output shape:
        [batch, d].

    Example:

    ```python
    h = keras.layers.Dense(100, activation="relu")(x)
    h = DenseGate()(h)
    ```
    """

    def __init__(
        self,
        gate_type: str = "bit",
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if gate_type not in GATE_TYPES:
            raise ValueError(
                f"`gate_type` must be one of {GATE_TYPES}. Received: gate_type={gate_type!r}"
            )
        self.gate_type = gate_type
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape: tuple) -> None:
        dim = input_shape[-1]
        gates = dim if self.gate_type == "bit" else 1
        self.kernel = self.add_weight(
            name="kernel",
            shape=(dim, gates),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(name="bias", shape=(gates,), initializer=self.bias_initializer)

    def call(self, inputs: Any) -> Any:
        return inputs * ops.sigmoid(ops.matmul(inputs, self.kernel) + self.bias)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "gate_type": self.gate_type,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="lirank")
class GatedMLP(keras.layers.Layer):
    """MLP whose hidden layers are each followed by a `DenseGate` (LiRank §3.5, "Dense Gating"):

        h_{l+1} = g_l(act(W_l h_l + b_l)),   g_l(h) = h ⊙ σ(W_g h + b_g)   (g_l = id if not gated)

    The base Feed MLP is 4×100; the largest offline "LMLP" is 4×3500 (`GatedMLP.large()`).

    Args:
        units: widths of the hidden layers, positive ints (default (100, 100, 100, 100)).
        gated: whether to gate every hidden layer.
        activation: activation of the hidden layers.
        gate_type: see `DenseGate`.
        kernel_initializer: initializer for the hidden and gate kernels.
        bias_initializer: initializer for the hidden and gate biases.
        kernel_regularizer: optional regularizer for the hidden and gate kernels.
        **kwargs: standard `keras.layers.Layer` arguments.

    Input shape:
        [batch, d].

    Output shape:
        [batch, units[-1]].

    Example:

    ```python
    hidden = GatedMLP(units=(256, 128))(features)
    lmlp = GatedMLP.large(gated=True)
    ```
    """

    def __init__(
        self,
        units: Sequence[int] = (100, 100, 100, 100),
        gated: bool = True,
        activation: Any = "relu",
        gate_type: str = "bit",
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        units = tuple(units)
        if not units or any(isinstance(u, bool) or not isinstance(u, int) or u <= 0 for u in units):
            raise ValueError(
                f"`units` must be a non-empty sequence of positive ints. Received: units={units}"
            )
        if gate_type not in GATE_TYPES:
            raise ValueError(
                f"`gate_type` must be one of {GATE_TYPES}. Received: gate_type={gate_type!r}"
            )
        self.units = units
        self.gated = gated
        self.activation = keras.activations.get(activation)
        self.gate_type = gate_type
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        init = {"bias_initializer": bias_initializer, "kernel_regularizer": kernel_regularizer}
        self.dense_layers = [
            keras.layers.Dense(
                u,
                activation=activation,
                kernel_initializer=fresh_initializer(self.kernel_initializer, 2 * i),
                name=f"dense_{i}",
                **init,
            )
            for i, u in enumerate(units)
        ]
        self.gates = [
            DenseGate(
                gate_type=gate_type,
                kernel_initializer=fresh_initializer(self.kernel_initializer, 2 * i + 1),
                name=f"gate_{i}",
                **init,
            )
            for i in range(len(units) if gated else 0)
        ]

    @classmethod
    def large(cls, **kwargs: Any) -> GatedMLP:
        """The paper's largest offline Feed MLP, "LMLP": 4 layers × 3500 units."""
        return cls(units=LARGE_MLP_UNITS, **kwargs)

    def build(self, input_shape: tuple) -> None:
        shape = tuple(input_shape)
        for i, dense in enumerate(self.dense_layers):
            dense.build(shape)
            shape = (*shape[:-1], self.units[i])
            if self.gated:
                self.gates[i].build(shape)

    def call(self, inputs: Any) -> Any:
        h = inputs
        for i, dense in enumerate(self.dense_layers):
            h = dense(h)
            if self.gated:
                h = self.gates[i](h)
        return h

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], self.units[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": list(self.units),
                "gated": self.gated,
                "activation": keras.activations.serialize(self.activation),
                "gate_type": self.gate_type,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


def large_gated_mlp(**kwargs: Any) -> GatedMLP:
    """`GatedMLP.large(**kwargs)`: 4 × 3500 units ("LMLP", LiRank §3.5)."""
    return GatedMLP.large(**kwargs)

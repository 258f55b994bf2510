"""Multi-task blocks of the feed model: what each task tower sees (paper §9, Table 1).

Every block maps the interaction's features x [b, w] to one input per task tower, in the order of
`task_grouping` (a "task" here is one tower and its heads, `TASK_GROUPINGS`):

    "shared" (hard sharing, the Table 1 baseline):    x_k = x                    for every tower k

    "mmoe" (Ma et al. 2018, Eq. 5–6), E shared experts f_e(x) = ReLU(W_e x + b_e) ∈ ℝ^u and
    one softmax gate per task:

        g_k(x) = softmax(W_{g,k} x) ∈ ℝ^E,       x_k = Σ_e g_k(x)_e f_e(x)

    "ple" (Tang et al. 2020, one extraction layer, Eq. 2–4), E_s shared experts plus E_t experts
    owned by each task; task k's gate mixes its own and the shared experts only:

        S_k(x) = [f_{k,1}(x), …, f_{k,E_t}(x), f_{s,1}(x), …, f_{s,E_s}(x)]   (E_t + E_s)
        g_k(x) = softmax(W_{g,k} x) ∈ ℝ^{E_t+E_s},   x_k = Σ_e g_k(x)_e S_k(x)_e

    (with a single extraction layer the shared gate of PLE's inner layers has no consumer, so
    there is none). Towers then read x_k (width u for the expert blocks, w for "shared").

The paper reports +1.19% (MMoE) and +1.34% (PLE) contributions over hard sharing, at 3–10× the
parameters; the expert count and width are the config's `experts`, `task_experts` and
`expert_units` (NOT CONFIRMED by the paper). The math sits in the pure functions
`mixture_of_experts` and `expert_outputs`; the layers wire the weights, and `gates(x)` exposes
each task's gate for tests and inspection (every row sums to 1).

Example:

    block = MMoE(num_tasks=2, num_experts=4, expert_units=32, name="multitask_arch")
    block.build((None, 64))
    click_input, contribution_input = block(features)           # [b, 32] each
"""

from __future__ import annotations

import keras
from keras import ops


def expert_outputs(x, experts) -> object:
    """The experts' outputs stacked on axis 1: [b, w] -> [b, E, u]."""
    return ops.stack([expert(x) for expert in experts], axis=1)


def mixture_of_experts(outputs, gate) -> object:
    """Σ_e gate_e · outputs_e: [b, E, u], [b, E] -> [b, u]."""
    return ops.sum(outputs * ops.expand_dims(gate, -1), axis=1)


def _check_positive(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return value


def _expert(units: int, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(units, activation="relu", name=name)


@keras.saving.register_keras_serializable(package="lirank")
class SharedBottom(keras.layers.Layer):
    """Hard parameter sharing: every tower reads the interaction's features as they are.

    Args:
        num_tasks: towers fed (each gets the same tensor).
    """

    def __init__(self, num_tasks: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.num_tasks = _check_positive("num_tasks", num_tasks)

    def build(self, input_shape) -> None:
        self.built = True

    def call(self, x):
        return [x] * self.num_tasks

    def output_dim(self, input_dim: int) -> int:
        """Width of each tower's input for features of width `input_dim`."""
        return input_dim

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tasks": self.num_tasks}


@keras.saving.register_keras_serializable(package="lirank")
class MMoE(SharedBottom):
    """Multi-gate mixture of experts (Ma et al. 2018): `num_experts` shared ReLU experts of
    `expert_units`, one softmax gate per task.

    Args:
        num_tasks: towers, one gate each.
        num_experts: E, shared experts.
        expert_units: u, width of every expert (and of each tower's input).

    Input shape: [b, w]. Output: a list of `num_tasks` tensors [b, u].
    """

    def __init__(self, num_tasks: int, num_experts: int, expert_units: int, **kwargs) -> None:
        super().__init__(num_tasks, **kwargs)
        self.num_experts = _check_positive("num_experts", num_experts)
        self.expert_units = _check_positive("expert_units", expert_units)
        self.experts = [_expert(expert_units, f"expert_{e}") for e in range(num_experts)]
        self.gate_layers = [
            keras.layers.Dense(num_experts, name=f"gate_{k}") for k in range(num_tasks)
        ]

    def build(self, input_shape) -> None:
        for layer in (*self.experts, *self.gate_layers):
            layer.build((None, input_shape[-1]))
        self.built = True

    def gates(self, x) -> list:
        """Each task's gate g_k(x): `num_tasks` tensors [b, E], rows summing to 1."""
        return [ops.softmax(gate(x), axis=-1) for gate in self.gate_layers]

    def call(self, x):
        outputs = expert_outputs(x, self.experts)
        return [mixture_of_experts(outputs, gate) for gate in self.gates(x)]

    def output_dim(self, input_dim: int) -> int:
        return self.expert_units

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_experts": self.num_experts,
            "expert_units": self.expert_units,
        }


@keras.saving.register_keras_serializable(package="lirank")
class PLE(SharedBottom):
    """Progressive layered extraction with one extraction layer (Tang et al. 2020):
    `num_shared_experts` shared experts, `num_task_experts` experts per task, and one softmax
    gate per task over its own and the shared experts.

    Args:
        num_tasks: towers, each with its own experts and gate.
        num_shared_experts: E_s, experts every task's gate sees.
        num_task_experts: E_t, experts of each task (only its gate sees them).
        expert_units: u, width of every expert (and of each tower's input).

    Input shape: [b, w]. Output: a list of `num_tasks` tensors [b, u].
    """

    def __init__(
        self,
        num_tasks: int,
        num_shared_experts: int,
        num_task_experts: int,
        expert_units: int,
        **kwargs,
    ) -> None:
        super().__init__(num_tasks, **kwargs)
        self.num_shared_experts = _check_positive("num_shared_experts", num_shared_experts)
        self.num_task_experts = _check_positive("num_task_experts", num_task_experts)
        self.expert_units = _check_positive("expert_units", expert_units)
        self.shared_experts = [
            _expert(expert_units, f"shared_expert_{e}") for e in range(num_shared_experts)
        ]
        self.task_experts = [
            [_expert(expert_units, f"task_{k}_expert_{e}") for e in range(num_task_experts)]
            for k in range(num_tasks)
        ]
        self.gate_layers = [
            keras.layers.Dense(num_task_experts + num_shared_experts, name=f"gate_{k}")
            for k in range(num_tasks)
        ]

    def build(self, input_shape) -> None:
        layers = (*self.shared_experts, *sum(self.task_experts, []), *self.gate_layers)
        for layer in layers:
            layer.build((None, input_shape[-1]))
        self.built = True

    def gates(self, x) -> list:
        """Each task's gate g_k(x) over [its experts ; shared experts]: [b, E_t + E_s] each."""
        return [ops.softmax(gate(x), axis=-1) for gate in self.gate_layers]

    def call(self, x):
        shared = expert_outputs(x, self.shared_experts)
        return [
            mixture_of_experts(ops.concatenate([expert_outputs(x, own), shared], axis=1), gate)
            for own, gate in zip(self.task_experts, self.gates(x), strict=True)
        ]

    def output_dim(self, input_dim: int) -> int:
        return self.expert_units

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_shared_experts": self.num_shared_experts,
            "num_task_experts": self.num_task_experts,
            "expert_units": self.expert_units,
        }


# multitask -> the block between the interaction and the task towers
MULTITASKS: dict[str, type[SharedBottom]] = {
    "shared": SharedBottom,
    "mmoe": MMoE,
    "ple": PLE,
}

"""Data-parallel training backends: a local single-process one and Horovod (Gloo or MPI).

`models.training.loop` talks to one small interface: `rank`, `size`, `average_gradients`,
`broadcast_variables` and `barrier`. Horovod's own Keras wrappers (`DistributedOptimizer`,
`DistributedGradientTape`) fail on Keras 3 variables (`'Variable' object has no attribute 'ref'`),
so the Horovod backend works on plain tensors instead:

- gradients: g ← (1/N) Σ_r g_r with `hvd.allreduce(g, op=hvd.Average)` inside the train step
  (embedding gradients are densified first, i.e. Horovod's `sparse_as_dense`);
- initial state: v ← v_{rank 0} with `v.assign(hvd.broadcast(v.value, root_rank=0))`.

Run it with ``horovodrun -np 2 -H localhost:2 --gloo python -m models.training.cli ... --horovod``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Distributed(Protocol):
    """What the training loop needs from a data-parallel backend."""

    @property
    def rank(self) -> int: ...

    @property
    def size(self) -> int: ...

    def average_gradients(self, gradients: Sequence[Any]) -> list[Any]:
        """Element-wise mean of each tensor over all ranks (called inside the train step)."""
        ...

    def broadcast_variables(self, variables: Sequence[Any]) -> None:
        """Overwrite every variable with rank 0's value."""
        ...

    def barrier(self) -> None:
        """Return once every rank has reached this call."""
        ...


class LocalDistributed:
    """One process: rank 0 of 1; averaging and broadcasting are the identity."""

    rank = 0
    size = 1

    def average_gradients(self, gradients: Sequence[Any]) -> list[Any]:
        return list(gradients)

    def broadcast_variables(self, variables: Sequence[Any]) -> None:
        return None

    def barrier(self) -> None:
        return None


class HorovodDistributed:
    """Horovod data parallelism over TensorFlow tensors (imports horovod lazily, calls init)."""

    def __init__(self) -> None:
        try:
            import horovod.tensorflow as hvd
        except ImportError as error:
            raise RuntimeError(
                "horovod.tensorflow is not importable; build it with `make install` "
                "(horovod 0.28.1 built against the installed TensorFlow, see architecture.md)"
            ) from error
        hvd.init()
        self._hvd = hvd

    @property
    def rank(self) -> int:
        return int(self._hvd.rank())

    @property
    def size(self) -> int:
        return int(self._hvd.size())

    def average_gradients(self, gradients: Sequence[Any]) -> list[Any]:
        import tensorflow as tf

        averaged = []
        for index, gradient in enumerate(gradients):
            if gradient is None:
                averaged.append(None)
                continue
            dense = tf.convert_to_tensor(gradient)
            averaged.append(
                self._hvd.allreduce(dense, op=self._hvd.Average, name=f"average_gradient_{index}")
            )
        return averaged

    def broadcast_variables(self, variables: Sequence[Any]) -> None:
        for index, variable in enumerate(variables):
            variable.assign(
                self._hvd.broadcast(variable.value, root_rank=0, name=f"broadcast_{index}")
            )

    def barrier(self) -> None:
        import tensorflow as tf

        self._hvd.allreduce(tf.constant(0.0), op=self._hvd.Sum, name="barrier")

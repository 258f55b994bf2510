"""Data-parallel training backends: a local single-process one and Horovod (Gloo or MPI).

`models.training.loop` talks to one small interface: `rank`, `size`, `average_gradients`,
`broadcast_variables` and `barrier`. Horovod's own Keras wrappers (`DistributedOptimizer`,
`DistributedGradientTape`) fail on Keras 3 variables (`'Variable' object has no attribute 'ref'`),
so the Horovod backend works on plain tensors instead:

- dense gradients: g ← (1/N) Σ_r g_r with `hvd.allreduce(g, op=hvd.Average)` inside the train
  step;
- embedding-table gradients travel as sparse rows (`sparse_rows_average`): a lookup
  (`ops.take` / `tf.gather`) gives a `tf.IndexedSlices` of one row per looked-up ID, which each
  rank first sums per distinct row (`tf.unique` + `unsorted_segment_sum`), then
  `hvd.allgather`s as (rows, indices); the gathered rows are summed per distinct index again and
  divided by N. That is exactly the dense average's non-zero rows, so training matches the dense
  all-reduce (Horovod's `sparse_as_dense`) while each step moves the rows a batch touched
  instead of whole tables (`models.training.gradient_bytes` measures both). Every table goes
  sparse, small ones too: inside the traced step a table's row count is not a constant (its
  shape is a `VariableShape` op), and for a table of a few dozen rows either way costs a few KB;
- initial state: v ← v_{rank 0} with `v.assign(hvd.broadcast(v.value, root_rank=0))`.

Run it with ``horovodrun -np 2 -H localhost:2 --gloo python -m models.training.cli ... --horovod``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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
        self._exchange: dict | None = None
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

        hvd = self._hvd
        averaged = []
        counts = {"sparse_gradients": 0, "dense_gradients": 0}
        for index, gradient in enumerate(gradients):
            if gradient is None:
                averaged.append(None)
            elif travels_sparse(gradient):
                counts["sparse_gradients"] += 1
                averaged.append(
                    sparse_rows_average(
                        gradient,
                        lambda tensor, part, i=index: hvd.allgather(
                            tensor, name=f"gather_gradient_{i}_{part}"
                        ),
                        self.size,
                    )
                )
            else:
                counts["dense_gradients"] += 1
                averaged.append(
                    hvd.allreduce(
                        tf.convert_to_tensor(gradient),
                        op=hvd.Average,
                        name=f"average_gradient_{index}",
                    )
                )
        if self._exchange is None:  # the train step's trace (later callers: the Fisher pass)
            self._exchange = counts
        return averaged

    @property
    def exchange_record(self) -> dict:
        """How the traced train step exchanges gradients (the model's manifest records it); the
        dense count includes the rank-averaged loss, which rides along. The first exchange is
        the train step's; later ones (e.g. the Fisher diagonal's) do not overwrite it."""
        return dict(self._exchange or {})

    def broadcast_variables(self, variables: Sequence[Any]) -> None:
        for index, variable in enumerate(variables):
            variable.assign(
                self._hvd.broadcast(variable.value, root_rank=0, name=f"broadcast_{index}")
            )

    def barrier(self) -> None:
        import tensorflow as tf

        self._hvd.allreduce(tf.constant(0.0), op=self._hvd.Sum, name="barrier")


def travels_sparse(gradient: Any) -> bool:
    """Whether `gradient` goes to the other ranks as sparse rows: it is a `tf.IndexedSlices`
    (an embedding lookup's gradient: `ops.take` / `tf.gather` of a table)."""
    import tensorflow as tf

    return isinstance(gradient, tf.IndexedSlices)


def unique_rows(gradient: Any) -> Any:
    """`gradient` (a `tf.IndexedSlices`) with one summed row per distinct index: the same dense
    tensor, with no index repeated (a batch looks the same ID up many times)."""
    import tensorflow as tf

    indices, position = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(indices)[0])
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


def sparse_rows_average(gradient: Any, allgather: Callable[[Any, str], Any], ranks: int) -> Any:
    """The mean over ranks of an embedding gradient, moving only the rows it touches.

    Each rank sums its rows per distinct index, `allgather(tensor, part)` concatenates every
    rank's (rows, indices) along axis 0 (part is "values" or "indices"; Horovod's allgather
    accepts a different row count per rank), and the gathered rows are summed per distinct index
    and divided by `ranks`. The result's dense form equals the dense mean of the ranks' dense
    gradients, and its rows are distinct, so global-norm clipping sees the true norm.

    Args:
        gradient: this rank's `tf.IndexedSlices`.
        allgather: the collective (`hvd.allgather` in training; a fake in tests).
        ranks: the number of ranks N.
    """
    import tensorflow as tf

    local = unique_rows(gradient)
    gathered = tf.IndexedSlices(
        allgather(local.values, "values"), allgather(local.indices, "indices"), local.dense_shape
    )
    total = unique_rows(gathered)
    return tf.IndexedSlices(total.values / float(ranks), total.indices, total.dense_shape)

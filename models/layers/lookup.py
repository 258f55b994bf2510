"""Row lookups of embedding tables that stay sparse on TensorFlow (paper §11–12).

    gather_rows(E, ids) = E[ids]   (one row per id)

`keras.ops.take(E, ids)` is the backend-agnostic lookup, and on JAX it is what XLA wants. On
TensorFlow it reads the variable densely before gathering. Once a table takes sparse updates
(`models.training.optimizers`: AdaGrad or lazy Adam on the touched rows) TensorFlow switches the
variable to copy-on-read, so that dense read copies the whole table every step: a 1M × 32 table
trained at 26k examples/s against 337k with a `ResourceGather` (`bench/training.py`). On
TensorFlow, `gather_rows` gathers from the resource variable itself (`tf.gather(E.value, ids)`,
a `ResourceGather`), whose gradient is the same `tf.IndexedSlices`; elsewhere it is `ops.take`.
The values are identical either way.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


def gather_rows(table: Any, ids: Any) -> Any:
    """`table[ids]` along axis 0: a ResourceGather on TensorFlow, `ops.take` elsewhere."""
    if keras.backend.backend() == "tensorflow" and isinstance(table, keras.Variable):
        import tensorflow as tf

        return tf.gather(table.value, ids)
    return ops.take(table, ids, axis=0)


@keras.saving.register_keras_serializable(package="lirank")
class GatherEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` whose lookup is `gather_rows` (sparse reads on TensorFlow)."""

    def call(self, inputs: Any) -> Any:
        if self.quantization_mode is not None or getattr(self, "lora_enabled", False):
            return super().call(inputs)
        if inputs.dtype != "int32" and inputs.dtype != "int64":
            inputs = ops.cast(inputs, "int32")
        return ops.cast(gather_rows(self.embeddings, inputs), dtype=self.compute_dtype)

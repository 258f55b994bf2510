"""Two optimizers in one step: Adam for the dense weights, a sparse row optimizer for the
embedding tables (paper §16).

The paper found Adam generally good but AdaGrad much better for models with many sparse
features. `TrainingConfig.embedding_optimizer` picks what updates the tables:

* "adam": one Keras Adam over every weight (the tables included). Keras's Adam treats an
  embedding gradient as dense: every row's moments decay and every row moves every step, so a
  1M-row table costs a full pass over the table per step (`bench/models.py`).
* "adagrad": `SparseRowOptimizer("adagrad")` on the tables, Keras Adam on the rest. For the rows
  r a batch touches, with the batch's row gradient g_r (duplicate ids summed):

      a_r ← a_r + g_r²,     w_r ← w_r − lr · g_r / sqrt(a_r + ε)

  (Keras's Adagrad: a₀ = 0.1, ε = 1e-7). Untouched rows have g_r = 0, so dense AdaGrad would
  leave them unchanged too: the sparse update is exact, and costs O(touched rows).
* "lazy_adam": `SparseRowOptimizer("lazy_adam")`: Adam on the touched rows only (m_r, v_r and w_r
  of untouched rows are left as they are, as in TF-Addons' LazyAdam), with Keras's Adam step:

      m_r ← m_r + (g_r − m_r)(1 − β₁),  v_r ← v_r + (g_r² − v_r)(1 − β₂)
      w_r ← w_r − lr·sqrt(1 − β₂ᵗ)/(1 − β₁ᵗ) · m_r / (sqrt(v_r) + ε)

  It differs from dense Adam, whose moments of untouched rows keep decaying (and move them).

Embedding gradients arrive as `tf.IndexedSlices` (a gather's gradient): the sparse optimizer
dedupes their indices (`unique_rows`) and updates the touched rows with `scatter_update`, never
densifying the table. A dense gradient (e.g. after a dense all-reduce) is turned into its
nonzero rows first, so the same rows are updated either way.

Cost caveat (measured, `bench/training.py`): once a TensorFlow resource variable takes sparse
updates it is switched to copy-on-read, so a *dense* read of the table copies all of it. Keras's
`ops.take(table, ids)` (keras `Embedding`, `QREmbedding`) reads the table densely before the
gather, so with a 1M×32 table a step still costs a full copy (19 ms against 0.9 ms with a
ResourceGather, `tf.gather(table.value, ids)`, on 2 cores). The sparse optimizers reach their
O(touched rows) cost only with a sparse lookup in the embedding layers.

Clipping: with two optimizers the global norm is taken over all gradients together
(`tf.clip_by_global_norm`, embedding gradients deduped first, so the norm is that of the dense
gradient), then each optimizer applies its share unclipped.

Embedding variables (`embedding_variables`) are the 2-D weights of every `keras.layers.Embedding`
and `QREmbedding` in the model (the unlimited-vocabulary table is two QR tables), found by
walking the layer tree, so a table is recognised by what it is, not by its name.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from models.layers.qr_embedding import QREmbedding

SPARSE_KINDS: tuple[str, ...] = ("adagrad", "lazy_adam")
EMBEDDING_LAYERS: tuple[type, ...] = (keras.layers.Embedding, QREmbedding)


def embedding_variables(model: keras.Model) -> list:
    """The trainable embedding tables of `model` (2-D weights of `EMBEDDING_LAYERS` layers), in
    the order of `model.trainable_variables`."""
    tables = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, EMBEDDING_LAYERS):
            tables.update(id(v) for v in layer.trainable_weights if len(v.shape) == 2)
    return [v for v in model.trainable_variables if id(v) in tables]


def unique_rows(gradient, num_rows: int) -> tf.IndexedSlices:
    """`gradient` of a [num_rows, d] table as IndexedSlices with unique indices (duplicate
    indices summed); a dense gradient gives its nonzero rows."""
    if isinstance(gradient, tf.IndexedSlices):
        unique, position = tf.unique(gradient.indices)
        values = tf.math.unsorted_segment_sum(gradient.values, position, tf.shape(unique)[0])
        indices = unique
    else:
        gradient = tf.convert_to_tensor(gradient)
        indices = tf.where(tf.reduce_any(tf.not_equal(gradient, 0), axis=1))[:, 0]
        values = tf.gather(gradient, indices)
    dense_shape = tf.constant([num_rows, -1], tf.int64)
    return tf.IndexedSlices(values, tf.cast(indices, tf.int64), dense_shape)


class SparseRowOptimizer:
    """AdaGrad or lazy Adam over the rows of embedding tables that a batch touches.

    Args:
        kind: "adagrad" or "lazy_adam" (equations in the module docstring).
        learning_rate: a float or a `LearningRateSchedule` of the step (0-based).
        variables: the tables it updates (Keras variables, 2-D).
        beta_1, beta_2, epsilon, initial_accumulator_value: Keras's defaults.
    """

    def __init__(
        self,
        kind: str,
        learning_rate,
        variables,
        *,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        initial_accumulator_value: float = 0.1,
    ) -> None:
        if kind not in SPARSE_KINDS:
            raise ValueError(f"`kind` must be one of {SPARSE_KINDS}. Received: kind={kind!r}")
        self.kind = kind
        self.learning_rate = learning_rate
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.iterations = keras.Variable(0, dtype="int64", trainable=False, name="sparse_iter")
        self._tables = list(variables)
        self._slots: list[list] = []
        for index, table in enumerate(self._tables):
            shape = tuple(table.shape)
            if kind == "adagrad":
                fill = np.full(shape, initial_accumulator_value, dtype="float32")
                slots = [keras.Variable(fill, trainable=False, name=f"accumulator_{index}")]
            else:
                slots = [
                    keras.Variable(np.zeros(shape, "float32"), trainable=False, name=f"{n}_{index}")
                    for n in ("m", "v")
                ]
            self._slots.append(slots)

    @property
    def variables(self) -> list:
        return [self.iterations, *(slot for slots in self._slots for slot in slots)]

    def slots(self, table) -> list:
        """The slot variables of `table` (AdaGrad: [accumulator]; lazy Adam: [m, v])."""
        for candidate, slots in zip(self._tables, self._slots, strict=True):
            if candidate is table:
                return slots
        raise KeyError(f"{table.path} is not a table of this optimizer")

    def _rate(self):
        if callable(self.learning_rate):
            return tf.cast(self.learning_rate(self.iterations), tf.float32)
        return tf.constant(self.learning_rate, tf.float32)

    def apply(self, gradients, variables) -> None:
        """Update the touched rows of each table from its gradient (None: no update)."""
        rate = self._rate()
        step = tf.cast(self.iterations + 1, tf.float32)
        for gradient, table in zip(gradients, variables, strict=True):
            if gradient is None:
                continue
            rows = unique_rows(gradient, table.shape[0])
            index, g = rows.indices, tf.cast(rows.values, tf.float32)
            weights = table.value if isinstance(table, keras.Variable) else table
            slots = [s.value for s in self.slots(table)]
            if self.kind == "adagrad":
                (accumulator,) = slots
                a = tf.gather(accumulator, index) + tf.square(g)
                w = tf.gather(weights, index) - rate * g / tf.sqrt(a + self.epsilon)
                accumulator.scatter_update(tf.IndexedSlices(a, index))
            else:
                m_slot, v_slot = slots
                m = tf.gather(m_slot, index)
                v = tf.gather(v_slot, index)
                m = m + (g - m) * (1.0 - self.beta_1)
                v = v + (tf.square(g) - v) * (1.0 - self.beta_2)
                alpha = (
                    rate
                    * tf.sqrt(1.0 - tf.pow(self.beta_2, step))
                    / (1.0 - tf.pow(self.beta_1, step))
                )
                w = tf.gather(weights, index) - alpha * m / (tf.sqrt(v) + self.epsilon)
                m_slot.scatter_update(tf.IndexedSlices(m, index))
                v_slot.scatter_update(tf.IndexedSlices(v, index))
            weights.scatter_update(tf.IndexedSlices(w, index))
        self.iterations.assign_add(1)

"""Bytes of embedding-table gradients per training step: dense all-reduce vs sparse rows.

A data-parallel step must combine every rank's embedding gradients. Sent dense (Horovod's
`sparse_as_dense`), each table travels whole, whatever the batch touched:

    dense_bytes = Σ_tables rows × dim × 4            (float32; one all-reduce payload per step)

Sent as sparse rows (`models.training.distributed.sparse_rows_average`), each rank all-gathers
only the distinct rows its batch touched, with their indices, and every rank receives every
rank's rows:

    sparse_bytes = Σ_tables touched_rows × (dim × 4 + index_bytes) × ranks

with `touched_rows` the distinct rows of the given batch (taken as every rank's count: ranks see
batches of the same distribution). Both are payloads, not wire bytes: a ring all-reduce moves
about 2·(N−1)/N of its payload through each rank, an all-gather (N−1)/N of its result.

Which tables count: the variables whose gradient is a `tf.IndexedSlices` (an `ops.take` /
`tf.gather` lookup), found by differentiating the model's outputs on the batch once, so the
count holds for any table kind (hashed, QR, unlimited) without knowing how IDs are hashed.
Every such table travels sparse in training (`distributed.travels_sparse`), so every one is
counted both ways; for a tiny table (a few rows, all touched) sparse costs up to ~2× its few
dense KB, which the `tables` rows show.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def embedding_gradient_bytes(
    model: Any,
    batch_inputs: Mapping[str, Any],
    ranks: int = 2,
) -> dict:
    """Per-step bytes of the embedding-table gradients of `model` on `batch_inputs`, both ways.

    Args:
        model: a built Keras model on the TensorFlow backend (e.g. `FeedModel`).
        batch_inputs: one rank's batch, the model's input dict (numpy arrays or tensors).
        ranks: the number of Horovod ranks N (the sparse all-gather grows with N; the dense
            all-reduce payload does not).

    Returns:
        {"ranks", "batch_rows", "dense_bytes", "sparse_bytes", "ratio" (dense / sparse),
        "tables": [{"variable", "rows", "dim", "touched_rows", "lookups", "dense_bytes",
        "sparse_bytes"}, ...]}; `dense_bytes` and `sparse_bytes` sum the tables.

    Raises:
        ValueError: `ranks` < 1, or the model has no embedding-table gradient on this batch.
    """
    import numpy as np
    import tensorflow as tf

    if not isinstance(ranks, int) or ranks < 1:
        raise ValueError(f"`ranks` must be a positive integer. Received: ranks={ranks!r}")
    batch = {key: tf.convert_to_tensor(value) for key, value in batch_inputs.items()}
    with tf.GradientTape() as tape:
        outputs = model(batch, training=False)
        # any scalar of the outputs: which rows a gradient touches does not depend on the loss
        total = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32)) for o in tf.nest.flatten(outputs)])
    variables = model.trainable_variables
    tables = []
    for variable, gradient in zip(variables, tape.gradient(total, variables), strict=True):
        if not isinstance(gradient, tf.IndexedSlices):
            continue
        rows, dim = int(variable.shape[0]), int(np.prod(variable.shape[1:]))
        touched = int(tf.size(tf.unique(gradient.indices).y))
        dense = rows * dim * 4
        index_bytes = gradient.indices.dtype.size
        tables.append(
            {
                "variable": variable.path,
                "rows": rows,
                "dim": dim,
                "touched_rows": touched,
                "lookups": int(gradient.indices.shape[0]),
                "dense_bytes": dense,
                "sparse_bytes": touched * (dim * 4 + index_bytes) * ranks,
            }
        )
    if not tables:
        raise ValueError(
            f"{getattr(model, 'name', model)!r} has no embedding-table gradient (no "
            "tf.IndexedSlices) on this batch; pass a model with embedding lookups, on the "
            "TensorFlow backend"
        )
    dense_bytes = sum(t["dense_bytes"] for t in tables)
    sparse_bytes = sum(t["sparse_bytes"] for t in tables)
    return {
        "ranks": ranks,
        "batch_rows": int(tf.shape(tf.nest.flatten(batch)[0])[0]),
        "dense_bytes": dense_bytes,
        "sparse_bytes": sparse_bytes,
        "ratio": dense_bytes / max(sparse_bytes, 1),
        "tables": tables,
    }

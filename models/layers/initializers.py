"""Per-weight initializers: a seeded Keras initializer reused for two weights gives both the same
values (identical query/key/value kernels, or QR tables whose sum collides as (q, r) ~ (r, q))."""

from __future__ import annotations

from typing import Any

import keras


def fresh_initializer(initializer: Any, offset: int) -> keras.initializers.Initializer:
    """A new initializer like `initializer`, with its seed (if any) shifted by `offset`.

    Unseeded initializers get a new default seed; deterministic ones ("ones", constants) are
    returned as equal copies.
    """
    config = keras.initializers.serialize(keras.initializers.get(initializer))
    inner = config.get("config") if isinstance(config, dict) else None
    if isinstance(inner, dict) and isinstance(inner.get("seed"), int):
        inner["seed"] += offset
    return keras.initializers.get(config)

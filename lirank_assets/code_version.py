"""Code versions of assets, derived from the source of the packages that compute them.

Dagster marks a partition stale ("code version changed") when an asset's `code_version` differs
from the one it was materialized with. A version here is a hash of the Python source of the
packages that decide what the asset is, so editing any of them (a layer, the feature transform,
the training loop) shows every trained model as stale in the UI, with no constant to remember to
bump. Comments and docstrings count too: a false "stale" costs a glance, a missed one a wrong
model.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

FEED_MODEL_PACKAGES: tuple[str, ...] = (
    "models.feed",
    "models.layers",
    "models.inputs",
    "models.training",
    "models.registry",
    "models.serving",
)
"""What a trained feed model is made of: architecture, inputs, training loop, saving, serving."""


def source_version(modules: tuple[str, ...]) -> str:
    """A short hash of the `.py` files of `modules` (packages or single modules).

    Raises:
        ModuleNotFoundError: a module does not exist (named).
    """
    digest = hashlib.sha256()
    for name in modules:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"cannot version module {name!r}: it does not exist")
        origin = Path(spec.origin)
        files = sorted(origin.parent.rglob("*.py")) if origin.name == "__init__.py" else [origin]
        for file in files:
            digest.update(f"{name}:{file.relative_to(origin.parent)}\n".encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()[:12]

"""Interaction blocks of the feed model: between the embedded features and the towers (paper §2).

Every block takes the F pooled embedding vectors e_1..e_F ([b, d] each) and their concatenation
with the dense features, x₀ = flat [b, D], and returns the tower input:

    "none":         x₀
    "dot":          concat(x₀, [⟨e_i, e_j⟩ for i < j])                       (DLRM)
    "cross":        x_{l+1} = x₀ ⊙ (U_l V_lᵀ x_l + b_l) + x_l,  out = x_L        (DCNv2, paper §2)
    "residual_dcn": low-rank cross stack + attention low-rank cross stack on x₀  (paper §2, Table 6)

`build(num_vectors, flat_dim)` creates the weights; `output_dim(num_vectors, flat_dim)` is the
tower input width.

Example:

    interaction = CrossInteraction(layers=2, projection_dim=32, name="interaction_arch")
    interaction.build(num_vectors=13, flat_dim=398)
    features = interaction(vectors, flat)                    # [b, 398]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from models.layers.cross import LowRankCross, check_projection_dim
from models.layers.residual_dcn import ResidualDCN


def _check_layers(layers: int) -> None:
    if isinstance(layers, bool) or not isinstance(layers, int) or layers <= 0:
        raise ValueError(f"`layers` must be a positive integer. Received: layers={layers!r}")


@keras.saving.register_keras_serializable(package="lirank")
class FlatInteraction(keras.layers.Layer):
    """No explicit interaction: the tower input is the concatenated features themselves."""

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        self.built = True

    def call(self, vectors, flat):
        return flat


@keras.saving.register_keras_serializable(package="lirank")
class DotInteraction(keras.layers.Layer):
    """DLRM pairwise interaction: the features plus every dot product of two pooled embeddings.

        out = concat(flat, [⟨e_i, e_j⟩ for i < j])        (F vectors -> F(F-1)/2 dot products)

    With member-side vectors (member, hist-authors, hist-actions, seniority, platform ...) and
    post-side ones (author, hashtags, content type ...) in one space, ⟨hist, hashtags⟩ is the
    member-interest × post-topic match and ⟨seniority, content type⟩ a categorical cross, which
    an MLP over concatenated embeddings only approximates (DLRM; paper §2 keeps the dot/DCN
    interaction in front of the towers).
    """

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim + num_vectors * (num_vectors - 1) // 2

    def build(self, num_vectors: int, flat_dim: int) -> None:
        rows, cols = np.triu_indices(num_vectors, k=1)
        self._pairs = (rows * num_vectors + cols).astype("int32")
        self.built = True

    def call(self, vectors, flat):
        stacked = ops.stack(vectors, axis=1)  # [b, F, d]
        gram = ops.matmul(stacked, ops.transpose(stacked, (0, 2, 1)))  # [b, F, F]
        count = len(vectors)
        dots = ops.take(ops.reshape(gram, (-1, count * count)), self._pairs, axis=1)
        return ops.concatenate([flat, dots], axis=-1)


@keras.saving.register_keras_serializable(package="lirank")
class CrossInteraction(keras.layers.Layer):
    """DCNv2 over the features (paper §2: 2 low-rank cross layers before the towers).

        x_{l+1} = x₀ ⊙ (U_l V_lᵀ x_l + b_l) + x_l,   out = x_L

    Args:
        layers: L, cross layers (paper §2: 2).
        projection_dim: rank r of U_l, V_l.
    """

    def __init__(self, layers: int = 2, projection_dim: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        _check_layers(layers)
        check_projection_dim(projection_dim, allow_none=False)
        self.num_layers = layers
        self.projection_dim = projection_dim
        self.crosses = [
            LowRankCross(projection_dim=projection_dim, name=f"cross_{i}") for i in range(layers)
        ]

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        for layer in self.crosses:
            layer.build((None, flat_dim), (None, flat_dim))
        self.built = True

    def call(self, vectors, flat):
        x = flat
        for layer in self.crosses:
            x = layer(flat, x)
        return x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "layers": self.num_layers,
            "projection_dim": self.projection_dim,
        }


@keras.saving.register_keras_serializable(package="lirank")
class ResidualDCNInteraction(keras.layers.Layer):
    """Residual DCN over the features (paper §2, Table 6 "RDCN"): a low-rank cross stack and an
    attention low-rank cross stack in parallel on x₀ = the features, summed (`ResidualDCN`):

        out = x^c_L + x^a_L

    Args:
        layers: L, cross layers of each stack (paper §2: 2).
        projection_dim: rank r of both stacks.
    """

    def __init__(self, layers: int = 2, projection_dim: int = 32, **kwargs) -> None:
        super().__init__(**kwargs)
        _check_layers(layers)
        self.num_layers = layers
        self.projection_dim = projection_dim
        self.dcn = ResidualDCN(projection_dim=projection_dim, num_layers=layers, name="dcn")

    def output_dim(self, num_vectors: int, flat_dim: int) -> int:
        return flat_dim

    def build(self, num_vectors: int, flat_dim: int) -> None:
        self.dcn.build((None, flat_dim))
        self.built = True

    def call(self, vectors, flat):
        return self.dcn(flat)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "layers": self.num_layers,
            "projection_dim": self.projection_dim,
        }


# interaction -> the block between the features and the towers
INTERACTIONS: dict[str, type[keras.layers.Layer]] = {
    "none": FlatInteraction,
    "dot": DotInteraction,
    "cross": CrossInteraction,
    "residual_dcn": ResidualDCNInteraction,
}

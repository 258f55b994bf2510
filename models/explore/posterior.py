"""The last-layer posterior for explore/exploit: Bayesian linear regression on Z(x) (paper §7).

Neural-Linear (Riquelme et al. 2018, as LiRank uses it): the ranker's last-layer input Z(x) is
kept fixed and the last layer's weights get a conjugate Normal–inverse-gamma posterior:

    y = wᵀz + ε,   ε ~ N(0, σ²),   w | σ² ~ N(μ₀, σ² Λ₀⁻¹),   σ² ~ InvGamma(a₀, b₀)

    Λ_n = Λ₀ + ZᵀZ
    μ_n = Λ_n⁻¹ (Λ₀ μ₀ + Zᵀy)
    a_n = a₀ + n / 2
    b_n = b₀ + ½ (yᵀy + μ₀ᵀ Λ₀ μ₀ − μ_nᵀ Λ_n μ_n)

Everything the posterior needs from the data is the sufficient statistics (ZᵀZ, Zᵀy, yᵀy, n),
which add over days, so the update after each day's training (`update`) gives exactly the
posterior of a batch fit on all the days' rows (`tests/models/explore/test_posterior.py`).

Decisions the paper leaves open (paper-notes §7, "NOT CONFIRMED"), made here:
- **Target**: the 0/1 *contribution* label (any of like, comment, share, vote), the event the
  feed's final score ranks by; a linear-probability regression, so a sampled ranking score is
  wᵀz on the probability scale.
- **Z(x)**: the last hidden layers of the towers that hold the final score's heads, concatenated,
  plus a constant 1 (the intercept) (`models.explore.features`).
- **Prior**: μ₀ = 0, Λ₀ = λ I with λ = 1 / `prior_scale`² (w's prior standard deviation in units
  of σ), a₀ = b₀ = 1 (weak). Larger `prior_scale` explores more on little data.
- **Representation drift**: the network is retrained daily, so older days' ZᵀZ was computed with
  an older Z; `forgetting` ∈ (0, 1] scales the accumulated statistics before each day is added
  (1 keeps them all, the exact batch posterior).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np


@dataclasses.dataclass(frozen=True)
class LastLayerPosterior:
    """Normal–inverse-gamma posterior of the last layer's weights, from sufficient statistics.

    Attributes:
        zz: Σ z zᵀ (d, d).  zy: Σ z y (d,).  yy: Σ y².  rows: n.
        prior_scale: prior standard deviation of each weight, in units of σ (Λ₀ = I / scale²).
        a0, b0: the inverse-gamma prior of σ².
    """

    zz: np.ndarray
    zy: np.ndarray
    yy: float
    rows: int
    prior_scale: float = 1.0
    a0: float = 1.0
    b0: float = 1.0

    @classmethod
    def prior(cls, dim: int, prior_scale: float = 1.0) -> LastLayerPosterior:
        """The prior over `dim` weights (no data yet)."""
        if dim < 1:
            raise ValueError(f"`dim` must be >= 1. Received: dim={dim}")
        if not (np.isfinite(prior_scale) and prior_scale > 0):
            raise ValueError(f"`prior_scale` must be finite and > 0. Received: {prior_scale}")
        return cls(np.zeros((dim, dim)), np.zeros(dim), 0.0, 0, float(prior_scale))

    @property
    def dim(self) -> int:
        return len(self.zy)

    @property
    def prior_precision(self) -> np.ndarray:
        return np.eye(self.dim) / self.prior_scale**2

    @property
    def precision(self) -> np.ndarray:
        """Λ_n = Λ₀ + ZᵀZ."""
        return self.prior_precision + self.zz

    @property
    def mean(self) -> np.ndarray:
        """μ_n = Λ_n⁻¹ Zᵀy (μ₀ = 0)."""
        return np.linalg.solve(self.precision, self.zy)

    @property
    def a(self) -> float:
        return self.a0 + self.rows / 2.0

    @property
    def b(self) -> float:
        mean = self.mean
        return self.b0 + 0.5 * max(self.yy - float(mean @ self.precision @ mean), 0.0)

    @property
    def noise_variance(self) -> float:
        """E[σ²] = b_n / (a_n − 1) (a_n > 1 once there are data)."""
        return self.b / (self.a - 1.0) if self.a > 1.0 else float("inf")

    def covariance(self) -> np.ndarray:
        """Marginal covariance of w: E[σ²] Λ_n⁻¹."""
        return self.noise_variance * np.linalg.inv(self.precision)

    @property
    def mean_weight_std(self) -> float:
        """The mean over weights of their marginal standard deviation (NaN before any data):
        the posterior's uncertainty in one number."""
        if not self.rows:
            return float("nan")
        return float(np.sqrt(np.diag(self.covariance())).mean())

    def update(self, z: np.ndarray, y: np.ndarray, forgetting: float = 1.0) -> LastLayerPosterior:
        """The posterior after also seeing rows (z, y); the earlier statistics are first scaled by
        `forgetting` (1: exact, equal to a batch fit on every row seen).

        Raises:
            ValueError: shapes disagree, values are not finite, or `forgetting` is outside (0, 1].
        """
        z = np.asarray(z, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).ravel()
        if z.ndim != 2 or z.shape[1] != self.dim or len(y) != len(z):
            raise ValueError(
                f"need z of shape (n, {self.dim}) and y of shape (n,). "
                f"Received: z.shape={z.shape}, y.shape={y.shape}"
            )
        for name, values in (("z", z), ("y", y)):
            bad = ~np.isfinite(values)
            if bad.any():
                raise ValueError(f"`{name}` holds {int(bad.sum())} non-finite values")
        if not 0.0 < forgetting <= 1.0:
            raise ValueError(f"`forgetting` must be in (0, 1]. Received: forgetting={forgetting}")
        return dataclasses.replace(
            self,
            zz=forgetting * self.zz + z.T @ z,
            zy=forgetting * self.zy + z.T @ y,
            yy=forgetting * self.yy + float(y @ y),
            rows=int(round(forgetting * self.rows)) + len(y),
        )

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` Thompson draws of the weights (n, d): σ² ~ InvGamma(a_n, b_n), then
        w ~ N(μ_n, σ² Λ_n⁻¹), one σ² per draw."""
        chol = np.linalg.cholesky(self.precision)  # Λ = L Lᵀ, so L⁻ᵀ ε ~ N(0, Λ⁻¹)
        sigma2 = self.b / rng.gamma(self.a, 1.0, size=n)
        eps = rng.standard_normal((self.dim, n))
        offsets = np.linalg.solve(chol.T, eps).T * np.sqrt(sigma2)[:, None]
        return self.mean[None, :] + offsets

    # --------------------------------------------------------------------------- storage

    def save(self, directory: Path) -> Path:
        """Write `posterior.npz` and a readable `posterior.json` summary into `directory`."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / "posterior.npz",
            zz=self.zz,
            zy=self.zy,
            scalars=np.array([self.yy, self.rows, self.prior_scale, self.a0, self.b0]),
        )
        summary = {
            "dim": self.dim,
            "rows": self.rows,
            "prior_scale": self.prior_scale,
            "noise_variance": self.noise_variance,
            "mean_weight_std": self.mean_weight_std,
        }
        (directory / "posterior.json").write_text(json.dumps(summary, indent=2))
        return directory

    @classmethod
    def load(cls, directory: Path) -> LastLayerPosterior:
        path = Path(directory) / "posterior.npz"
        if not path.exists():
            raise FileNotFoundError(
                f"no last-layer posterior at {path}; materialize `explore_exploit_posterior`"
            )
        with np.load(path) as data:
            yy, rows, prior_scale, a0, b0 = data["scalars"]
            return cls(data["zz"], data["zy"], float(yy), int(rows), float(prior_scale), a0, b0)

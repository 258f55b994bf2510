"""Number formats shared by the pages (NaN shows as an em dash)."""

from __future__ import annotations

import math

RANKER_LABELS: dict[str, str] = {
    "model": "Model",
    "popularity_baseline": "Popularity baseline",
    "production": "Production",
    "random": "Random",
}


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def pct(value: float | None, digits: int = 2) -> str:
    """0.34375 → '34.38%'."""
    return "—" if _missing(value) else f"{value:.{digits}%}"


def signed_pct(value: float | None, digits: int = 1) -> str:
    """0.5 → '+50.0%'."""
    return "—" if _missing(value) else f"{value:+.{digits}%}"


def points(value: float | None) -> str:
    """Difference of two rates in percentage points: 0.1 → '+10.00 pp'."""
    return "—" if _missing(value) else f"{value * 100:+.2f} pp"


def num(value: float | None, digits: int = 4) -> str:
    """0.71234 → '0.7123'."""
    return "—" if _missing(value) else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    """0.01 → '+0.0100'."""
    return "—" if _missing(value) else f"{value:+.{digits}f}"

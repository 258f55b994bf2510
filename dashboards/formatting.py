"""Number formats shared by the pages (NaN shows as an em dash)."""

from __future__ import annotations

import math
from collections.abc import Callable

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


def points(value: float | None, digits: int = 1) -> str:
    """Difference of two rates in percentage points: 0.1 → '+10.0 pp'."""
    return "—" if _missing(value) else f"{value * 100:+.{digits}f} pp"


def num(value: float | None, digits: int = 4) -> str:
    """0.71234 → '0.7123'."""
    return "—" if _missing(value) else f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    """0.01 → '+0.0100'."""
    return "—" if _missing(value) else f"{value:+.{digits}f}"


def ci(low: float | None, high: float | None, fmt: Callable[[float], str] = signed) -> str:
    """A 95% interval in words: (-0.01, 0.02) → '95% CI -0.0100 to +0.0200'."""
    if _missing(low) or _missing(high):
        return "no interval"
    return f"95% CI {fmt(low)} to {fmt(high)}"


def with_ci(
    value: float | None, low: float | None, high: float | None, fmt: Callable[[float], str]
) -> str:
    """A value and its interval for a table cell: '+0.0100 [-0.0100, +0.0300]'."""
    if _missing(value):
        return "—"
    if _missing(low) or _missing(high):
        return fmt(value)
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]"


def sentence(text: str) -> str:
    """The first letter upper-cased, the rest kept: 'model LOSES to x' → 'Model LOSES to x'."""
    return text[:1].upper() + text[1:]


def count(n: int, noun: str) -> str:
    """2, 'day' → '2 days'; 1, 'day' → '1 day'; thousands separated."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def gap(value: float | None, low: float | None, high: float | None, digits: int = 1) -> str:
    """A difference and its interval in points (× 100): (-0.022, -0.03, -0.014) →
    '-2.2 points [-3.0, -1.4]'."""
    if _missing(value):
        return "—"
    text = f"{value * 100:+.{digits}f} points"
    if _missing(low) or _missing(high):
        return text
    return f"{text} [{low * 100:+.{digits}f}, {high * 100:+.{digits}f}]"


def verdict_headline(
    verdict: str, value: float | None, low: float | None, high: float | None
) -> str:
    """The verdict in words with the difference that decided it:
    'model LOSES to production', -0.022, -0.03, -0.014 →
    'Model LOSES to production: -2.2 points [-3.0, -1.4]'."""
    return f"{sentence(verdict)}: {gap(value, low, high)}"


PRODUCT_VERDICT_WORDS: dict[str, str] = {
    "wins": "Model beats production",
    "loses": "Model LOSES to production",
    "no significant difference": "No significant difference from production",
}
"""`product_verdicts.verdict` (Ads and Jobs pages) → the headline in words."""


def product_verdict(
    verdict: str,
    metric: str,
    model_value: float | None,
    production_value: float | None,
    delta: float | None,
    low: float | None,
    high: float | None,
) -> str:
    """One `product_verdicts` row in words, the difference with its interval:
    'loses', 'auc', 0.765, 0.773, -0.008, -0.011, -0.005 → '**Model LOSES to production on
    `auc`**: model 0.7650 vs production 0.7730; model − production -0.0080 (95% CI -0.0110 to
    -0.0050)'. An unknown verdict is shown as it is."""
    headline = PRODUCT_VERDICT_WORDS.get(verdict, sentence(verdict))
    return (
        f"**{headline} on `{metric}`**: model {num(model_value)} vs production "
        f"{num(production_value)}; model − production {signed(delta)} ({ci(low, high)})"
    )

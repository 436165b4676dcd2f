"""Number formatting and direction-aware highlighting, shared by every output format.

Precision is chosen once per metric column, so every cell of a column has the same
number of decimals (which also makes right-aligned columns decimal-aligned): two
significant digits of the median positive std of the column, or four significant
digits of the largest mean when no cell has a spread. Highlighting compares the values
*as displayed*, so two cells that print the same are tied: all best-valued cells are bold,
all cells with the next distinct value underlined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

MAX_DECIMALS = 6
STD_SIGNIFICANT = 2
MEAN_SIGNIFICANT = 4


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def column_decimals(means: Sequence[float | None], stds: Sequence[float | None]) -> int:
    """Decimals for one metric column (see module docstring), in [0, MAX_DECIMALS]."""
    spread = sorted(s for s in _finite(stds) if s > 0)
    if spread:
        # the (lower) median std: one cell with a freak tiny spread (two seeds that agree
        # by chance) must not blow up the precision of the whole column
        exponent = math.floor(math.log10(spread[(len(spread) - 1) // 2]))
        decimals = STD_SIGNIFICANT - 1 - exponent
    else:
        level = [abs(m) for m in _finite(means) if m != 0]
        if not level:
            return 2
        decimals = MEAN_SIGNIFICANT - 1 - math.floor(math.log10(max(level)))
    return max(0, min(MAX_DECIMALS, decimals))


def fixed(x: float, decimals: int) -> str:
    """``x`` with ``decimals`` decimals; never prints ``-0.00``."""
    text = f"{x:.{decimals}f}"
    if re.fullmatch(r"-0\.?0*", text):
        text = text[1:]
    return text


def delta_percent(mean: float, reference: float) -> float | None:
    """Change of ``mean`` relative to the reference, in percent; None when undefined."""
    if not (math.isfinite(mean) and math.isfinite(reference)) or reference == 0:
        return None
    return (mean - reference) / abs(reference) * 100.0


def signed_percent(pct: float, decimals: int = 1) -> str:
    """``+3.2`` / ``-12.5`` / ``0.0`` (no sign when it rounds to zero)."""
    text = fixed(pct, decimals)
    return text if text.startswith("-") or float(text) == 0 else "+" + text


def rank_marks(values: Sequence[float | None], direction: str) -> list[str | None]:
    """``"best"`` / ``"second"`` / None per value; None values (missing cells) are unranked.

    ``values`` are the displayed (rounded) numbers; ``direction`` is ``"min"`` or ``"max"``.
    Ties share a mark: every cell with the best value is best, every cell with the next
    distinct value is second.
    """
    if direction not in ("min", "max"):
        raise ValueError(f"direction must be 'min' or 'max', got {direction!r}")
    distinct = sorted(set(_finite(values)), reverse=direction == "max")
    marks: list[str | None] = []
    for v in values:
        if v is None or not math.isfinite(v):
            marks.append(None)
        elif v == distinct[0]:
            marks.append("best")
        elif len(distinct) > 1 and v == distinct[1]:
            marks.append("second")
        else:
            marks.append(None)
    return marks


def seed_list(seeds: Sequence[int]) -> str:
    """``0, 1, 2`` (sorted)."""
    return ", ".join(str(s) for s in sorted(seeds))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def sweep_label(value: object) -> str:
    """A searched value as a row label: ``0.1``, ``1e-05``, ``sparsemax``, ``True``."""
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def slug(text: str) -> str:
    """A file-name and LaTeX-label safe version of ``text``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"

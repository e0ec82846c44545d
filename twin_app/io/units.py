"""Length units of imported files, and whether a resulting size is plausible.

STL, OBJ, PLY and OFF carry no unit: the person importing says which one the designer used
(millimetres by default for STL, the default of most CAD tools; metres for the others).
STEP, 3MF, glTF and COLLADA declare theirs and it is used as is. Everything is stored in
metres; the unit used is kept on the imported group (``props["units"]``).

A size is "implausible" for a plant or a part when its largest dimension is over
``MAX_PLAUSIBLE_M`` (a part 304 m wide was almost certainly drawn in millimetres) or under
``MIN_PLAUSIBLE_M``; ``size_warning`` words it and suggests the unit that fits.
"""

from __future__ import annotations

from collections.abc import Sequence

UNITS: dict[str, float] = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "in": 0.0254, "ft": 0.3048}
"""Metres per unit, by the short name shown to people and accepted by ``twin-import``."""
UNIT_LABELS: dict[str, str] = {
    "mm": "millimetres (mm)", "cm": "centimetres (cm)", "m": "metres (m)",
    "in": "inches (in)", "ft": "feet (ft)",
}
CHOICES: tuple[str, ...] = ("mm", "cm", "m", "in")
"""The units offered for unitless formats (feet only ever comes from a file)."""
UNITLESS_FORMATS: dict[str, str] = {"STL": "mm", "OBJ": "m", "PLY": "m", "OFF": "m"}
"""Formats that carry no unit, with the unit assumed until the person says otherwise."""

MAX_PLAUSIBLE_M = 200.0
MIN_PLAUSIBLE_M = 0.002


def unit_name(metres_per_unit: float) -> str:
    """Return the short name of a unit factor (``0.001`` → ``"mm"``), or ``"x m"``."""
    for name, factor in UNITS.items():
        if abs(factor - metres_per_unit) <= 1e-9 * factor:
            return name
    return f"{metres_per_unit:g} m"


def plausible(size_m: Sequence[float]) -> bool:
    """True if the largest of ``size_m`` (dx, dy, dz in metres) fits a part or a plant."""
    big = max(size_m, default=0.0)
    return MIN_PLAUSIBLE_M <= big <= MAX_PLAUSIBLE_M


def size_text(size_m: Sequence[float]) -> str:
    """Word a size for people: ``"1.2 × 0.8 × 0.5 m"`` or ``"30 × 12 × 4 mm"``."""
    big = max(size_m, default=0.0)
    if big >= 1.0 or big == 0.0:
        unit, scale = "m", 1.0
    elif big >= 0.1:
        unit, scale = "cm", 100.0
    else:
        unit, scale = "mm", 1000.0
    return " × ".join(_num(v * scale) for v in size_m) + f" {unit}"


def _num(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def size_warning(size_m: Sequence[float], unit: str) -> str | None:
    """Return a warning when ``size_m`` (read as ``unit``) is implausible, else None.

    The warning names the size and the unit that would make it plausible, e.g.
    ``"304 m wide — was it millimetres?"``.
    """
    if plausible(size_m) or max(size_m, default=0.0) == 0.0:
        return None
    big = max(size_m)
    native = big / UNITS.get(unit, 1.0)
    # Millimetres first (most CAD tools' default), then metres, inches, centimetres.
    better = [u for u in ("mm", "m", "in", "cm") if u != unit and plausible([native * UNITS[u]])]
    wide = f"{_num(big)} m wide" if big >= 1.0 else f"{_num(big * 1000)} mm wide"
    if not better:
        return f"{wide} — that is unusual for a part or a plant."
    guess = UNIT_LABELS[better[0]].split(" (")[0]
    return f"{wide} — was it {guess}?"

"""sRGB ↔ linear colour conversion at the file-format boundary.

Twinroom's document stores display colours in sRGB (what a colour picker shows, what 3MF,
OBJ and STEP colours are). glTF stores ``baseColorFactor`` in linear RGB, and cascadio's
STEP→GLB conversion writes linear values too: importers convert linear → sRGB, the GLB
exporter converts back, so a colour survives a round trip and looks as in the CAD tool.
The formulas are those of IEC 61966-2-1 (the sRGB transfer function).
"""

from __future__ import annotations

Color = tuple[float, float, float]


def linear_to_srgb(c: float) -> float:
    """Return the sRGB value (0–1) of a linear-light channel value (clamped to 0–1)."""
    c = min(max(c, 0.0), 1.0)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def srgb_to_linear(c: float) -> float:
    """Return the linear-light value (0–1) of an sRGB channel value (clamped to 0–1)."""
    c = min(max(c, 0.0), 1.0)
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def to_srgb(rgb: Color) -> Color:
    """Convert a linear RGB triple to sRGB."""
    return (linear_to_srgb(rgb[0]), linear_to_srgb(rgb[1]), linear_to_srgb(rgb[2]))


def to_linear(rgb: Color) -> Color:
    """Convert an sRGB triple to linear RGB."""
    return (srgb_to_linear(rgb[0]), srgb_to_linear(rgb[1]), srgb_to_linear(rgb[2]))

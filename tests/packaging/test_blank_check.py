"""The bundle check's blank-window test can fail: a flat window or an empty 3D view fail it,
the real window on the demo plant passes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from check_bundle import blank_reasons  # noqa: E402


def test_a_drawn_plant_passes_and_blank_windows_fail(tmp_path):
    from PIL import Image, ImageDraw

    assert blank_reasons(ROOT / "docs" / "screenshot-main.png") == []
    flat = tmp_path / "flat.png"
    Image.new("RGB", (1280, 800), (239, 239, 239)).save(flat)
    assert blank_reasons(flat)
    # Panels drawn, but the 3D view in the middle is one colour (no scene rendered).
    shot = Image.open(ROOT / "docs" / "screenshot-main.png").convert("RGB")
    w, h = shot.size
    ImageDraw.Draw(shot).rectangle((int(w * 0.28), int(h * 0.1), int(w * 0.72), int(h * 0.9)), fill=(20, 20, 20))
    empty_view = tmp_path / "empty-view.png"
    shot.save(empty_view)
    reasons = blank_reasons(empty_view)
    assert reasons and "3D view" in reasons[-1]

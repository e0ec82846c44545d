"""Render twin_app/assets/icons/twinroom.svg to the PNG sizes desktops and installers use.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_icons.py

Writes twinroom-<size>.png and the Windows twinroom.ico next to the SVG (committed; rerun
after editing the SVG). The macOS .icns is made from the 512 px PNG when the bundle is built.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ICONS = Path(__file__).resolve().parent.parent / "twin_app" / "assets" / "icons"
SIZES = (16, 32, 48, 64, 128, 256, 512)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(ICONS / "twinroom.svg"))
    if not renderer.isValid():
        sys.stderr.write("twinroom.svg does not render\n")
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        image.save(str(ICONS / f"twinroom-{size}.png"))
    from PIL import Image  # (Pillow comes with the app extra, through matplotlib)

    Image.open(ICONS / "twinroom-256.png").save(
        ICONS / "twinroom.ico", sizes=[(s, s) for s in (16, 24, 32, 48, 64, 128, 256)])
    del app
    sys.stdout.write(f"icons written to {ICONS}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

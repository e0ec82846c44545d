"""Light and dark themes that follow the system colour scheme (Qt 6 style hints).

``apply_theme(app, "system")`` leaves the choice to the platform and follows it live
(``styleHints().colorSchemeChanged``); "light"/"dark" force one. The Fusion style is used
everywhere so both schemes look the same on every desktop; if a platform ignores the
requested scheme, an explicit palette is set instead.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

MODES = ("system", "light", "dark")


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 32, 36), QColor(43, 45, 50), QColor(220, 222, 226)
    for role, color in (
        (QPalette.ColorRole.Window, window), (QPalette.ColorRole.WindowText, text),
        (QPalette.ColorRole.Base, base), (QPalette.ColorRole.AlternateBase, window),
        (QPalette.ColorRole.ToolTipBase, window), (QPalette.ColorRole.ToolTipText, text),
        (QPalette.ColorRole.Text, text), (QPalette.ColorRole.Button, window),
        (QPalette.ColorRole.ButtonText, text), (QPalette.ColorRole.BrightText, QColor("#ff6b6b")),
        (QPalette.ColorRole.Highlight, QColor(58, 110, 200)),
        (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255)),
        (QPalette.ColorRole.Link, QColor(110, 160, 240)),
        (QPalette.ColorRole.PlaceholderText, QColor(130, 132, 138)),
        (QPalette.ColorRole.Mid, QColor(70, 72, 78)),
    ):
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 122, 128))
    return p


def is_dark(app: QGuiApplication | None = None) -> bool:
    """True if the application currently shows a dark palette."""
    instance = app or QGuiApplication.instance()
    if not isinstance(instance, QGuiApplication):
        return False
    return instance.palette().color(QPalette.ColorRole.Window).lightnessF() < 0.5


def apply_theme(app: QApplication, mode: str = "system") -> bool:
    """Apply ``mode`` (system, light or dark) and return True if the result is dark."""
    app.setStyle("Fusion")
    hints = app.styleHints()
    want_dark: bool | None = None
    # An explicit choice sets the palette directly: some platforms (X11 without a desktop
    # portal) ignore a requested colour scheme and would later reset the palette.
    if mode == "dark":
        want_dark = True
    elif mode == "light":
        want_dark = False
    else:
        scheme = hints.colorScheme()
        if scheme != Qt.ColorScheme.Unknown:
            want_dark = scheme == Qt.ColorScheme.Dark
    style = app.style()
    if want_dark is None:
        app.setPalette(style.standardPalette())
    elif want_dark:
        app.setPalette(_dark_palette())
    else:
        app.setPalette(style.standardPalette())
    return is_dark(app)

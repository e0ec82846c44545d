"""The schema version of the app's settings (``QSettings`` or a ``--settings`` INI file).

Settings carry ``schema/version`` = ``SCHEMA_VERSION``. Settings of an older release are
migrated in place (``MIGRATIONS``; 0 = written before versions, by 0.1.x); settings of a
newer release are refused with ``SettingsTooNew`` and left untouched, instead of being
misread and then overwritten when the window closes.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings

from twin_app import __version__

SCHEMA_VERSION = 1
KEY = "schema/version"


class SettingsTooNew(RuntimeError):
    """Settings written by a newer release (the message says what to do)."""


def _from_0(settings: QSettings) -> None:
    # 0.1.x wrote the same keys; recent rooms were a string when there was only one.
    recent = settings.value("rooms/recent")
    if isinstance(recent, str):
        settings.setValue("rooms/recent", [recent] if recent else [])


# MIGRATIONS[n] turns schema n into n + 1. Never edit a released step; add the next one.
MIGRATIONS: dict[int, Callable[[QSettings], None]] = {0: _from_0}


def stored_version(settings: QSettings) -> int:
    """The schema version the settings were written with (0: before versions existed)."""
    try:
        return int(str(settings.value(KEY, 0)))
    except ValueError:
        return 0


def check_and_migrate(settings: QSettings) -> None:
    """Migrate older settings to ``SCHEMA_VERSION``; raise ``SettingsTooNew`` for newer ones."""
    version = stored_version(settings)
    if version > SCHEMA_VERSION:
        where = settings.fileName()
        raise SettingsTooNew(
            f"Your settings ({where}) were written by a newer Twinroom (settings schema "
            f"{version}; Twinroom {__version__} reads up to {SCHEMA_VERSION}). Update "
            "Twinroom, or start it with --settings FILE to use separate settings.")
    for step in range(version, SCHEMA_VERSION):
        MIGRATIONS[step](settings)
    if version != SCHEMA_VERSION:
        settings.setValue(KEY, SCHEMA_VERSION)
        settings.sync()

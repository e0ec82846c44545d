"""Refuse to run on a Qt binding that leaks references to ``None``, ``True`` or ``False``.

PySide6/shiboken6 6.12.0 on CPython 3.11 drops one reference to ``None`` on every call of
a Qt method that returns nothing (``QAction.setText``, ``QLabel.setText``, ``setEnabled``
…) and likewise for ``True``/``False``. CPython then frees ``None`` and aborts with
``Fatal Python error: none_dealloc`` — after ~28 s of live editing, or ~28 min idle.
``pyproject.toml`` keeps pip away from that build, but a distribution's package or a
hand-installed wheel can still bring it, so the app measures the binding at start (a
few thousand calls, well under a millisecond each) and stops with a clear message instead
of dying later without a traceback. On CPython ≥ 3.12 these objects are immortal and
their reference counts are constant, so the check always passes there.
"""

from __future__ import annotations

import sys

CALLS = 2000


class LeakingBinding(RuntimeError):
    """The installed Qt binding corrupts the reference counts of ``None``/``True``/``False``."""


def refcount_drift(calls: int = CALLS) -> dict[str, float]:
    """Call void Qt setters ``calls`` times; return the reference-count change per call.

    Needs a ``QApplication``. Keys are ``"None"``, ``"True"`` and ``"False"``; a healthy
    binding gives ~0 for each, the broken one −1 (or −2 for ``True``/``False``).
    """
    from PySide6.QtGui import QAction

    action = QAction("probe")
    before = {name: sys.getrefcount(obj) for name, obj in _OBJECTS.items()}
    for i in range(calls):
        action.setText("a" if i & 1 else "b")  # returns None
        action.setEnabled(bool(i & 1))  # takes True and False
        action.setVisible(True)
    after = {name: sys.getrefcount(obj) for name, obj in _OBJECTS.items()}
    return {name: (after[name] - before[name]) / calls for name in _OBJECTS}


_OBJECTS = {"None": None, "True": True, "False": False}


def check_binding() -> None:
    """Raise ``LeakingBinding`` (with what to install instead) if the binding leaks."""
    drift = refcount_drift()
    bad = {k: v for k, v in drift.items() if v <= -0.5}
    if not bad:
        return
    import PySide6

    raise LeakingBinding(
        f"PySide6 {PySide6.__version__} on Python {sys.version.split()[0]} loses references "
        f"to {', '.join(bad)} on every Qt call and would crash this app within minutes "
        "('Fatal Python error: none_dealloc').\n\n"
        "Install a PySide6 before 6.12 (pip install 'PySide6-Essentials<6.12') "
        "or run Twinroom on Python 3.12 or newer."
    )

"""Twinroom: collaborative digital-twin design.

This package imports nothing heavy so the sync server can use :mod:`twin_app.core` and
:mod:`twin_app.protocol` on a machine without Qt or VTK.
"""

__version__ = "0.1.0"

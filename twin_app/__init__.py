"""Twinroom: collaborative digital-twin design.

This package imports nothing heavy so the sync server can use :mod:`twin_app.core` and
:mod:`twin_app.protocol` on a machine without Qt or VTK.
"""

# The one place the release is written: pyproject.toml reads it (dynamic version), every
# command's --version prints it, the server sends it in WELCOME. See CHANGELOG.md.
__version__ = "0.2.0"


def version_line(prog: str) -> str:
    """What ``PROG --version`` prints: the release and the wire protocol it speaks."""
    from twin_app.protocol import REVISION, VERSION

    return f"{prog} {__version__} (Twinroom protocol {VERSION}.{REVISION})"

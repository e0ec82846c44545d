"""Errors of the AR module, each with a message a person can act on."""

from __future__ import annotations


class ARError(Exception):
    """Base class: the message is shown to the user as is."""


class BoardFileError(ARError):
    """A board definition file is missing, unreadable or inconsistent."""


class CalibrationError(ARError):
    """A camera calibration could not be computed, read or used."""


class SourceError(ARError):
    """A webcam or video file could not be opened or read."""

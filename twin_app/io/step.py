"""STEP → GLB through cascadio (OpenCASCADE), in a child process.

Why a child process: OpenCASCADE is native code fed with untrusted files; a crash or a
runaway tessellation there must not take the desktop app down, and the user must be able
to cancel a conversion that takes minutes. The child runs a three-line script that only
imports cascadio (so it works whether or not this package is installed), writes the GLB
into a private temporary directory, and is killed on cancel or timeout.

cascadio's GLB is in metres with Z up (it keeps the STEP frame rather than rotating to
glTF's Y up), one mesh per STEP part.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

TIMEOUT_S = 900.0
_POLL_S = 0.05
_SCRIPT = (
    "import sys, cascadio\n"
    "sys.exit(cascadio.step_to_glb(sys.argv[1], sys.argv[2], "
    "tol_linear=float(sys.argv[3]), tol_angular=float(sys.argv[4])))\n"
)


class StepConversionError(RuntimeError):
    """The STEP file could not be converted (message is user-facing)."""


def step_to_glb(
    src: Path,
    cancelled: Callable[[], bool] = lambda: False,
    tol_linear: float = 0.01,
    tol_angular: float = 0.5,
    timeout: float = TIMEOUT_S,
) -> bytes:
    """Convert the STEP file ``src`` to GLB bytes.

    Polls ``cancelled`` while the converter runs and kills it when it returns True (then
    returns ``b""``; the caller raises its own cancellation). Raises
    ``StepConversionError`` on failure or timeout.
    """
    with tempfile.TemporaryDirectory(prefix="twin-step-") as tmp:
        out = Path(tmp) / "model.glb"
        cmd = [sys.executable, "-c", _SCRIPT, str(src), str(out), repr(tol_linear), repr(tol_angular)]
        log_path = Path(tmp) / "log.txt"
        with log_path.open("wb") as log_file:
            try:
                proc = subprocess.Popen(
                    cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT
                )
            except OSError as exc:
                raise StepConversionError(f"cannot start the STEP converter: {exc}") from exc
            deadline = time.monotonic() + timeout
            try:
                while True:
                    try:
                        proc.wait(timeout=_POLL_S)
                        break
                    except subprocess.TimeoutExpired:
                        if cancelled():
                            return b""
                        if time.monotonic() > deadline:
                            raise StepConversionError(
                                f"the STEP conversion took longer than {timeout:.0f} s"
                            ) from None
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            output = log_path.read_bytes()[-20_000:].decode("utf-8", "replace")
            log.debug("cascadio exit %s: %s", proc.returncode, output)
            raise StepConversionError(_reason(output, proc.returncode))
        return out.read_bytes()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _reason(output: str, code: int | None) -> str:
    """Return the first error line of the converter's output, cleaned for the user."""
    if code is not None and code < 0:
        return f"the STEP converter crashed (signal {-code})"
    for line in _ANSI.sub("", output).splitlines():
        text = line.strip().strip("*").strip()
        if text.startswith("ERR") or text.startswith("Error"):
            text = re.sub(r"^(ERR\s+\w+\s*:\s*|Error:\s*)", "", text)
            return text[:200] or "conversion failed"
    return "OpenCASCADE could not read it"

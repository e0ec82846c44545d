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
    """The STEP file could not be converted (message is user-facing, in plain words;
    ``details`` holds the converter's own words, for a "Details" section)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


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
            raise StepConversionError(_reason(output, proc.returncode), _ANSI.sub("", output).strip()[-4000:])
        return out.read_bytes()


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _reason(output: str, code: int | None) -> str:
    """Say in plain words why the conversion failed (the converter's lines go to details)."""
    if code is not None and code < 0:
        return f"the STEP reader (OpenCASCADE) crashed on it (signal {-code})"
    text = _ANSI.sub("", output).lower()
    if "unexpected end" in text or "end of file" in text or "incomplete" in text:
        return "the STEP data ends too early: the file is cut short or damaged"
    if "syntax" in text or "parse" in text or "parsing" in text:
        return "the STEP data has syntax errors: the file is damaged or not STEP"
    return "the STEP reader (OpenCASCADE) found no shape it could read in it"


# -- product structure, read from the STEP text -----------------------------------------------
# cascadio names glTF nodes after STEP *instances* (the NEXT_ASSEMBLY_USAGE_OCCURRENCE's name,
# else its id: "NAUO1"…) and meshes after parts' products, so sub-assemblies and parts placed
# under their instance ids lose the names the designer gave. These few entities are enough to
# map an instance back to the product it places: NAUO → PRODUCT_DEFINITION →
# PRODUCT_DEFINITION_FORMATION → PRODUCT.
_STR = r"'((?:[^']|'')*)'"
_REF = r"#(\d+)"
_PRODUCT = re.compile(rf"#(\d+)\s*=\s*PRODUCT\s*\(\s*{_STR}\s*,\s*{_STR}")
_FORMATION = re.compile(
    rf"#(\d+)\s*=\s*PRODUCT_DEFINITION_FORMATION(?:_WITH_SPECIFIED_SOURCE)?\s*\(\s*{_STR}\s*,"
    rf"\s*{_STR}\s*,\s*{_REF}"
)
_DEFINITION = re.compile(
    rf"#(\d+)\s*=\s*PRODUCT_DEFINITION(?:_WITH_ASSOCIATED_DOCUMENTS)?\s*\(\s*{_STR}\s*,\s*{_STR}"
    rf"\s*,\s*{_REF}"
)
_NAUO = re.compile(
    rf"NEXT_ASSEMBLY_USAGE_OCCURRENCE\s*\(\s*{_STR}\s*,\s*{_STR}\s*,\s*(?:{_STR}|\$)\s*,"
    rf"\s*{_REF}\s*,\s*{_REF}"
)
_LENGTH_UNIT = re.compile(
    r"LENGTH_UNIT\s*\(\s*\)\s*NAMED_UNIT\s*\(\s*\*\s*\)\s*SI_UNIT\s*\(\s*(\$|\.\w+\.)\s*,\s*\.METRE\.",
)
_CONVERTED_UNIT = re.compile(r"CONVERSION_BASED_UNIT\s*\(\s*'(\w+)'", re.IGNORECASE)
_SI_PREFIX = {"$": 1.0, ".MILLI.": 1e-3, ".CENTI.": 1e-2, ".DECI.": 1e-1, ".KILO.": 1e3,
              ".MICRO.": 1e-6}
_CONVERTED = {"INCH": 0.0254, "FOOT": 0.3048, "MILLIMETRE": 1e-3, "METRE": 1.0}


def step_string(text: str) -> str:
    """Decode a STEP string literal's body: doubled quotes and ``\\X2\\…\\X0\\`` UTF-16."""
    text = text.replace("''", "'")

    def x2(m: re.Match[str]) -> str:
        hexes = m.group(1)
        return "".join(chr(int(hexes[i : i + 4], 16)) for i in range(0, len(hexes) - 3, 4))

    text = re.sub(r"\\X2\\([0-9A-Fa-f]*)\\X0\\", x2, text)
    return re.sub(r"\\X\\([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), text)


def product_names(data: bytes) -> dict[str, str]:
    """Return ``{instance name: product name}`` for each assembly occurrence of a STEP file.

    The instance name is the one cascadio gives the glTF node: the occurrence's name, else
    its id. A product's name is its ``PRODUCT`` name, else its id.
    """
    text = data.decode("latin-1")
    products = {m.group(1): step_string(m.group(3) or m.group(2)) for m in _PRODUCT.finditer(text)}
    formations = {m.group(1): m.group(4) for m in _FORMATION.finditer(text)}
    definitions = {m.group(1): m.group(4) for m in _DEFINITION.finditer(text)}
    out: dict[str, str] = {}
    for m in _NAUO.finditer(text):
        ident, name, child = step_string(m.group(1)), step_string(m.group(2)), m.group(5)
        product = products.get(formations.get(definitions.get(child, ""), ""), "")
        key = name.strip() or ident
        if product and key not in out:
            out[key] = product
    return out


def length_unit(data: bytes) -> float | None:
    """Return the metres per length unit a STEP file declares, or None if none is found."""
    head = data.decode("latin-1")
    m = _LENGTH_UNIT.search(head)
    if m is not None:
        return _SI_PREFIX.get(m.group(1).upper())
    c = _CONVERTED_UNIT.search(head)
    if c is not None:
        return _CONVERTED.get(c.group(1).upper())
    return None

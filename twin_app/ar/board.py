"""The ChArUco board: its geometry, where it sits in the world, and its printable image.

A ``BoardSpec`` is plain data (squares, sizes in metres, ArUco dictionary name, and
``board_to_world``: the 4×4 pose of the board frame in the document's world frame, i.e.
where the board is fixed on the fixture). It saves to and loads from a small JSON file
so a person can read and edit it. ``cv_board`` builds the OpenCV object once per spec.

Board frame (OpenCV's): origin at the top-left outer corner of the chessboard, x along
the first row, y down the columns, z into the board.
A board lying face up on a table therefore has z pointing down into the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.errors import BoardFileError
from twin_app.ar.geometry import Mat4, rotation

FORMAT = "twinroom-board"
VERSION = 1
DICTIONARIES = {
    name: getattr(cv2.aruco, name)
    for name in ("DICT_4X4_50", "DICT_4X4_100", "DICT_5X5_50", "DICT_5X5_100", "DICT_5X5_250",
                 "DICT_6X6_50", "DICT_6X6_100", "DICT_6X6_250", "DICT_APRILTAG_36h11")
}


def _flat_face_up() -> Mat4:
    # x_b → +X, y_b → −Y, z_b → −Z: the board lies on a table, printed face up.
    return rotation((1.0, 0.0, 0.0), 180.0)


@dataclass(frozen=True)
class BoardSpec:
    """A ChArUco board and its fixed pose in the world.

    ``squares``: (columns, rows) of chessboard squares; ``square_m`` and ``marker_m``:
    square and marker side in metres; ``dictionary``: an OpenCV ArUco dictionary name;
    ``board_to_world``: 4×4 ``T_world_board`` as nested tuples.
    """

    squares: tuple[int, int] = (8, 6)
    square_m: float = 0.035
    marker_m: float = 0.026
    dictionary: str = "DICT_5X5_100"
    board_to_world: tuple[tuple[float, ...], ...] = field(
        default_factory=lambda: tuple(tuple(float(v) for v in row) for row in _flat_face_up()))

    def __post_init__(self) -> None:
        cols, rows = self.squares
        if cols < 3 or rows < 3:
            raise BoardFileError(f"A ChArUco board needs at least 3×3 squares, not {cols}×{rows}.")
        if not 0 < self.marker_m < self.square_m:
            raise BoardFileError(
                f"Markers ({self.marker_m * 1000:g} mm) must be smaller than the squares "
                f"({self.square_m * 1000:g} mm).")
        if self.dictionary not in DICTIONARIES:
            raise BoardFileError(f"Unknown ArUco dictionary {self.dictionary!r}; use one of "
                                 + ", ".join(DICTIONARIES) + ".")
        m = np.asarray(self.board_to_world, dtype=np.float64)
        if m.shape != (4, 4) or not np.all(np.isfinite(m)):
            raise BoardFileError("board_to_world must be a 4×4 matrix of numbers.")
        r = m[:3, :3]
        if (not np.allclose(r.T @ r, np.eye(3), atol=1e-6) or abs(np.linalg.det(r) - 1) > 1e-6
                or not np.allclose(m[3], (0, 0, 0, 1))):
            raise BoardFileError("board_to_world must be a rigid transform (a rotation and "
                                 "a translation, last row 0 0 0 1).")
        markers = (cols * rows) // 2
        if markers > _dictionary_size(self.dictionary):
            raise BoardFileError(f"{cols}×{rows} squares need {markers} markers; "
                                 f"{self.dictionary} has only {_dictionary_size(self.dictionary)}.")

    @property
    def T_world_board(self) -> Mat4:
        """``board_to_world`` as a 4×4 array."""
        return np.asarray(self.board_to_world, dtype=np.float64)

    @property
    def size_m(self) -> tuple[float, float]:
        """Width and height of the chessboard area in metres."""
        return self.squares[0] * self.square_m, self.squares[1] * self.square_m

    @property
    def corner_count(self) -> int:
        """Number of inner chessboard corners (the points the pose is computed from)."""
        return (self.squares[0] - 1) * (self.squares[1] - 1)

    def with_pose(self, board_to_world: Mat4) -> BoardSpec:
        """Return this board placed at ``board_to_world`` (4×4)."""
        return BoardSpec(self.squares, self.square_m, self.marker_m, self.dictionary,
                         tuple(tuple(float(v) for v in row) for row in board_to_world))

    def cv_board(self) -> cv2.aruco.CharucoBoard:
        """Return the OpenCV board object (cached per spec)."""
        return _cv_board(self.squares, self.square_m, self.marker_m, self.dictionary)

    def object_points(self) -> NDArray[np.float64]:
        """Return the inner corners' board-frame coordinates (n×3), indexed by corner id."""
        return np.asarray(self.cv_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    def outline(self) -> NDArray[np.float64]:
        """Return the board's four outer chessboard corners in board coordinates (4×3)."""
        w, h = self.size_m
        return np.array([[0, 0, 0], [w, 0, 0], [w, h, 0], [0, h, 0]], dtype=np.float64)

    def image(self, px_per_m: float, margin_m: float | None = None) -> NDArray[np.uint8]:
        """Return the printable board (grey, uint8) at ``px_per_m`` with a white margin
        (default: half a square) around it. Pixel centre ``(u, v)`` shows board point
        ``((u + 0.5) / px_per_m - margin_m, (v + 0.5) / px_per_m - margin_m)``."""
        margin = self.square_m / 2 if margin_m is None else margin_m
        sq_px = px_per_m * self.square_m
        if abs(sq_px - round(sq_px)) > 1e-6:
            raise ValueError("px_per_m × square_m must be a whole number of pixels")
        w, h = (round(px_per_m * s) for s in self.size_m)
        img = self.cv_board().generateImage((w, h), marginSize=0, borderBits=1)
        m = round(margin * px_per_m)
        out = cv2.copyMakeBorder(img, m, m, m, m, cv2.BORDER_CONSTANT, value=255)
        return np.asarray(out, dtype=np.uint8)

    # -- files -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the spec as a JSON-ready dict (the board file's content)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "squares": list(self.squares),
            "square_mm": round(self.square_m * 1000, 6),
            "marker_mm": round(self.marker_m * 1000, 6),
            "dictionary": self.dictionary,
            "board_to_world": [list(row) for row in self.board_to_world],
        }

    @classmethod
    def from_json(cls, data: object) -> BoardSpec:
        """Build a spec from a board file's content. Raises ``BoardFileError``."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise BoardFileError(f"Not a board file (expected \"format\": \"{FORMAT}\").")
        if data.get("version") != VERSION:
            raise BoardFileError(f"Board file version {data.get('version')!r} is not supported "
                                 f"(this build reads version {VERSION}).")
        try:
            cols, rows = (int(v) for v in data["squares"])
            return cls((cols, rows), float(data["square_mm"]) / 1000,
                       float(data["marker_mm"]) / 1000, str(data["dictionary"]),
                       tuple(tuple(float(v) for v in row) for row in data["board_to_world"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BoardFileError(f"The board file is incomplete or has a wrong value: {exc}") from exc

    def save(self, path: str | Path) -> None:
        """Write the board file (JSON) to ``path``."""
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> BoardSpec:
        """Read a board file. Raises ``BoardFileError`` with the reason in words."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise BoardFileError(f"The board file {path} is not a text (JSON) file.") from exc
        except OSError as exc:
            raise BoardFileError(f"Cannot read the board file {path}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BoardFileError(f"The board file {path} is not valid JSON "
                                 f"(line {exc.lineno}: {exc.msg}).") from exc
        return cls.from_json(data)


@lru_cache(maxsize=16)
def _cv_board(squares: tuple[int, int], square_m: float, marker_m: float,
              dictionary: str) -> cv2.aruco.CharucoBoard:
    d = cv2.aruco.getPredefinedDictionary(DICTIONARIES[dictionary])
    return cv2.aruco.CharucoBoard(squares, square_m, marker_m, d)


@lru_cache(maxsize=16)
def _dictionary_size(dictionary: str) -> int:
    d = cv2.aruco.getPredefinedDictionary(DICTIONARIES[dictionary])
    return int(d.bytesList.shape[0])

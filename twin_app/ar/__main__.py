"""``python -m twin_app.ar``: print a board, calibrate a camera, check a video.

    python -m twin_app.ar board board.json --png board.png [--dpi 300]
    python -m twin_app.ar calibrate VIDEO_OR_IMAGES... --board board.json --out camera.json
    python -m twin_app.ar check VIDEO --board board.json --camera camera.json

Every command exits 0 on success and 2 with a sentence on stderr on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from twin_app.ar.board import BoardSpec
from twin_app.ar.calibrate import calibrate, detections_from_images, detections_from_video
from twin_app.ar.camera import CameraModel
from twin_app.ar.detect import BoardDetector
from twin_app.ar.errors import ARError
from twin_app.ar.pose import PoseTracker
from twin_app.ar.source import FrameSource

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"}


def _out(text: str, err: bool = False) -> None:
    (sys.stderr if err else sys.stdout).write(text + "\n")


def _board(path: str | None) -> BoardSpec:
    return BoardSpec.load(path) if path else BoardSpec()


def cmd_board(args: argparse.Namespace) -> int:
    spec = BoardSpec.load(args.file) if Path(args.file).exists() and not args.new else BoardSpec()
    if not Path(args.file).exists() or args.new:
        spec.save(args.file)
        _out(f"wrote {args.file}")
    if args.png:
        px_per_m = round(args.dpi / 0.0254 * spec.square_m) / spec.square_m
        cv2.imwrite(args.png, spec.image(px_per_m))
        w, h = spec.size_m
        _out(f"wrote {args.png}: print at {args.dpi} dpi without scaling; the chessboard "
              f"must measure {w * 1000:.1f} × {h * 1000:.1f} mm")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    spec = _board(args.board)
    paths = [Path(p) for p in args.sources]
    if all(p.suffix.lower() in IMAGE_SUFFIXES for p in paths):
        dets = detections_from_images(spec, paths)
    elif len(paths) == 1:
        dets = detections_from_video(spec, paths[0], max_views=args.max_views)
    else:
        raise ARError("Give one video file, or several images.")
    cam = calibrate(spec, dets, name=args.name or paths[0].stem)
    cam.save(args.out)
    _out(json.dumps({"out": args.out, "views": cam.views, "rms_px": round(cam.rms_px or 0, 4),
                      "fx": round(cam.fx, 2), "fy": round(cam.fy, 2), "cx": round(cam.cx, 2),
                      "cy": round(cam.cy, 2), "dist": [round(v, 5) for v in cam.dist]}))
    if (cam.rms_px or 0) > 1.0:
        _out("warning: reprojection error above 1 px — blurred frames or a bent board?", True)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    spec = _board(args.board)
    src = FrameSource(args.video)
    try:
        first = src.read()
        if first is None:
            raise ARError(f"{args.video} has no frames.")
        h, w = first.shape[:2]
        cam = CameraModel.load(args.camera) if args.camera else CameraModel.guess(w, h)
        det, tracker = BoardDetector(spec), PoseTracker(spec, cam)
        frame: NDArray[np.uint8] | None = first
        i = 0
        while frame is not None:
            r = tracker.update(det.detect(frame))
            _out(json.dumps({"frame": i, "trusted": r.trusted, "reason": r.reason,
                              "rms_px": None if r.rms_px is None else round(r.rms_px, 3),
                              "corners": r.corners, "flip": r.flip}))
            frame = src.read()
            i += 1
    finally:
        src.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    ap = argparse.ArgumentParser(prog="python -m twin_app.ar", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("board", help="write a board file (default board) and a printable PNG")
    b.add_argument("file")
    b.add_argument("--png")
    b.add_argument("--dpi", type=float, default=300.0)
    b.add_argument("--new", action="store_true", help="overwrite the board file")
    b.set_defaults(fn=cmd_board)
    c = sub.add_parser("calibrate", help="fit intrinsics to a video or images of the board")
    c.add_argument("sources", nargs="+")
    c.add_argument("--board")
    c.add_argument("--out", required=True)
    c.add_argument("--name", default="")
    c.add_argument("--max-views", type=int, default=40)
    c.set_defaults(fn=cmd_calibrate)
    k = sub.add_parser("check", help="print the pose verdict of every frame of a video")
    k.add_argument("video")
    k.add_argument("--board")
    k.add_argument("--camera")
    k.set_defaults(fn=cmd_check)
    args = ap.parse_args(argv)
    try:
        return int(args.fn(args))
    except ARError as exc:
        _out(f"error: {exc}", True)
        return 2


if __name__ == "__main__":
    sys.exit(main())

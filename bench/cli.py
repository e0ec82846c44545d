"""``twin-bench``: run a benchmark and print one JSON object.

    twin-bench sync [--quick]     sync backbone (latency vs raw ZeroMQ, throughput, join, recovery)
    twin-bench render [--quick]   rendering at plant scale (vs a bare pyvista baseline)
    twin-bench sensors [--quick]  sensor lane: ingest rate, sample-to-screen latency, recolour, bytes/sample
    twin-bench ar [--quick]       camera AR: board detection + pose per 1080p frame, accuracy
    twin-bench sources [--quick]  sensor sources: MQTT JSON/Sparkplug decode rate, bridge send rate
    twin-bench all [--quick]      every suite above, merged
    twin-bench soak [--minutes N] a server and a window under load for N minutes (memory, threads, log size)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any


def _sync(quick: bool, durability: str) -> dict[str, Any]:
    from bench import sync

    return sync.run(quick, durability)


def _render(quick: bool, _durability: str) -> dict[str, Any]:
    from bench import render

    result: dict[str, Any] = render.run(quick)
    return result


def _sensors(quick: bool, _durability: str) -> dict[str, Any]:
    from bench import sensors

    return sensors.run(quick)


def _ar(quick: bool, _durability: str) -> dict[str, Any]:
    from bench import ar

    return ar.run(quick)


def _sources(quick: bool, _durability: str) -> dict[str, Any]:
    from bench import sources

    return sources.run(quick)


SUITES = {"sync": _sync, "render": _render, "sensors": _sensors, "ar": _ar, "sources": _sources}


def _soak(minutes: float) -> dict[str, Any]:
    from bench import soak

    return soak.run(minutes)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen suite(s) and print their JSON; return the exit status."""
    from twin_app import version_line

    p = argparse.ArgumentParser(prog="twin-bench", description="Twinroom benchmarks (JSON on stdout)")
    p.add_argument("--version", action="version", version=version_line("twin-bench"))
    p.add_argument("suite", choices=[*SUITES, "all", "soak"])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (< 2 minutes per suite)")
    p.add_argument("--minutes", type=float, default=5.0, help="soak: how long to run (default 5)")
    p.add_argument("--durability", choices=["power", "process"], default="power",
                   help="sync: the server's durability mode (default power, as the server's)")
    args = p.parse_args(argv)
    out: dict[str, Any] = {
        "suite": args.suite, "quick": args.quick, "python": platform.python_version(),
        "machine": platform.machine(), "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    if args.suite == "soak":
        t0 = time.perf_counter()
        out.update(_soak(args.minutes))
        out["soak_bench_s"] = round(time.perf_counter() - t0, 1)
        sys.stdout.write(json.dumps(out, indent=2) + "\n")
        return 0
    for name in SUITES if args.suite == "all" else [args.suite]:
        t0 = time.perf_counter()
        out.update(SUITES[name](args.quick, args.durability))
        out[f"{name}_bench_s"] = round(time.perf_counter() - t0, 1)
    sys.stdout.write(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

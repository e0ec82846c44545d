"""The built-in plant simulator: believable signals for every sensor of a document.

Realistic enough to diagnose, not only to look busy:

* **temperature** drifts slowly (a 15-minute swell) with noise; fault ``overheat`` ramps
  it up until it passes the alarm threshold;
* **vibration** is a waveform at ``WAVE_HZ`` on ``<tag>/wave`` (shaft speed and its
  harmonic, broadband noise) and its RMS on ``<tag>`` every 100 ms; fault ``bearing``
  adds an impulsive outer-race defect at the bearing frequency (second ``fault_hz``
  value, else 3.57 × shaft) whose amplitude grows over ``FAULT_GROWTH_S``, so the peak
  appears in the spectrum before the RMS alarm goes off;
* **current** steps up when the machine starts (inrush spike) and down when it stops;
* **force**, **pressure** follow press-like cycles; **presence**, **interlock** and other
  switches toggle; **vision** pass rate hovers just under 100 %;
* **thermal** sensors are array streams: a 24 × 32 image with a warm spot;
* any channel may drop out now and then (``DROPOUT_EVERY_S``) for longer than its
  stale time, and fault ``dropout`` silences it until cleared.

Faults come from the sensors' ``sim_fault`` property (``faults()`` returns the current
map of tag → fault), so injecting one is an ordinary, synced, recorded edit.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sync_server.sensors import Sink
from twin_app.core.document import Document
from twin_app.core.sensors import GOOD, sensor_specs

log = logging.getLogger(__name__)

BATCH_S = 0.05
WAVE_HZ = 2000.0
FAULT_GROWTH_S = 60.0
DROPOUT_EVERY_S = 3600.0
DROPOUT_S = 8.0
THERMAL_SHAPE = (24, 32)
THERMAL_HZ = 4.0


@dataclass
class Channel:
    """One simulated sensor."""

    tag: str
    sensor_type: str
    lo: float
    hi: float
    unit: str = ""
    fault_hz: tuple[float, ...] = ()
    seed: int = 0
    # running state
    phase: float = 0.0
    running: bool = True
    next_switch: float = 0.0
    fault_since: float | None = None
    dropout_until: float = 0.0
    rng: np.random.Generator = field(default_factory=np.random.default_rng)

    @property
    def span(self) -> float:
        return self.hi - self.lo if self.hi > self.lo else 1.0


def channels_from_document(doc: Document) -> list[Channel]:
    """A channel for every sensor node with a tag (one per tag)."""
    out: dict[str, Channel] = {}
    for spec in sensor_specs(doc).values():
        if spec.tag in out:
            continue
        lo = spec.range_min if math.isfinite(spec.range_min) else 0.0
        hi = spec.range_max if math.isfinite(spec.range_max) else lo + 100.0
        seed = int.from_bytes(spec.tag.encode()[:8].ljust(8, b"\0"), "little") ^ len(spec.tag)
        out[spec.tag] = Channel(spec.tag, spec.sensor_type, lo, hi, spec.unit, spec.fault_hz, seed,
                                rng=np.random.default_rng(seed))
    return list(out.values())


class Simulator:
    """A ``Source`` generating every channel in batches of ``BATCH_S``."""

    name = "simulator"

    def __init__(self, channels: list[Channel], faults: Callable[[], dict[str, str]] | None = None,
                 dropouts: bool = True) -> None:
        self.channels = channels
        self._faults = faults or dict
        self._dropouts = dropouts
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()
        self._thermal_next = 0.0

    def update(self, channels: list[Channel]) -> None:
        """Simulate these channels from now on (a sensor was bound, unbound or retagged);
        channels that stay keep their state."""
        have = {c.tag: c for c in self.channels}
        self.channels = [have.get(c.tag, c) for c in channels]  # one assignment: thread-safe

    def start(self, sink: Sink) -> None:
        self._thread = threading.Thread(target=self._run, args=(sink,), name="simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self, sink: Sink) -> None:
        sink.source_status(self.name, True, f"{len(self.channels)} simulated sensors")
        last = time.time_ns()
        while not self._stop.wait(BATCH_S):
            now = time.time_ns()
            try:
                self.step(sink, last, now)
            except Exception:  # a bug in one signal model must not end the simulation
                log.exception("simulator: step failed")
            last = now
        sink.source_status(self.name, False, "stopped")

    def step(self, sink: Sink, t_from: int, t_to: int) -> None:
        """Generate the samples in ``(t_from, t_to]`` and push them as one batch."""
        faults = self._faults()
        tags: list[str] = []
        units: list[str] = []
        idx: list[np.ndarray] = []
        ts: list[np.ndarray] = []
        vs: list[np.ndarray] = []
        el = time.monotonic() - self._t0
        for ch in self.channels:
            fault = faults.get(ch.tag, "")
            if fault and ch.fault_since is None:
                ch.fault_since = el
            elif not fault:
                ch.fault_since = None
            if fault == "dropout" or el < ch.dropout_until:
                continue
            if self._dropouts and ch.rng.random() < BATCH_S / DROPOUT_EVERY_S:
                ch.dropout_until = el + DROPOUT_S
                continue
            if ch.sensor_type == "thermal":
                if el >= self._thermal_next:
                    sink.push_array(ch.tag, t_to, self._thermal(ch, el, fault), GOOD)
                continue
            for tag, unit, t, v in self._signals(ch, t_from, t_to, el, fault):
                tags.append(tag)
                units.append(unit)
                idx.append(np.full(len(t), len(tags) - 1, np.uint32))
                ts.append(t)
                vs.append(v)
        if el >= self._thermal_next:
            self._thermal_next = el + 1.0 / THERMAL_HZ
        if tags:
            v = np.concatenate(vs)
            sink.push(tags, np.concatenate(idx), np.concatenate(ts), v, np.zeros(len(v), np.uint8), units)

    @staticmethod
    def _times(t_from: int, t_to: int, hz: float) -> np.ndarray:
        step = int(1e9 / hz)
        first = (t_from // step + 1) * step
        return np.arange(first, t_to + 1, step, dtype=np.int64)

    def _growth(self, ch: Channel, el: float) -> float:
        return 0.0 if ch.fault_since is None else min(1.0, (el - ch.fault_since) / FAULT_GROWTH_S)

    def _signals(self, ch: Channel, t_from: int, t_to: int, el: float,
                 fault: str) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        kind, lo, span, rng = ch.sensor_type, ch.lo, ch.span, ch.rng
        if kind == "vibration":
            return self._vibration(ch, t_from, t_to, el, fault)
        t = self._times(t_from, t_to, 10.0)
        if not len(t):
            return []
        secs = (t / 1e9) % 86400.0
        n = len(t)
        if kind == "temperature":
            base = lo + span * (0.45 + 0.05 * np.sin(2 * np.pi * secs / 900.0 + ch.seed % 7))
            if fault == "overheat":
                base += span * 0.6 * self._growth(ch, el)
            v = base + rng.normal(0, 0.004 * span, n)
        elif kind == "current":
            if el >= ch.next_switch:
                ch.running = not ch.running
                ch.next_switch = el + rng.uniform(15.0, 40.0)
                ch.phase = el
            on = lo + span * 0.55
            v = np.full(n, on if ch.running else lo + span * 0.03) + rng.normal(0, 0.01 * span, n)
            if ch.running and el - ch.phase < 0.5:
                v[0] += span * 0.15  # inrush
        elif kind in ("force", "pressure"):
            cycle = np.clip(np.sin(2 * np.pi * secs / 12.0 + ch.seed % 5), 0.0, None)
            rest = 0.5 if kind == "pressure" else 0.05
            amp = 0.15 if kind == "pressure" else 0.6
            v = lo + span * (rest + amp * cycle) + rng.normal(0, 0.005 * span, n)
        elif kind in ("presence", "interlock", "door_interlock", "state"):
            if el >= ch.next_switch:
                ch.running = not ch.running
                ch.next_switch = el + rng.uniform(5.0, 30.0)
            v = np.full(n, 1.0 if ch.running else 0.0)
        elif kind == "vision":
            v = np.clip(lo + span * (0.985 + rng.normal(0, 0.006, n)), lo, ch.hi)
        else:
            v = lo + span * (0.5 + 0.1 * np.sin(2 * np.pi * secs / 120.0)) + rng.normal(0, 0.01 * span, n)
        return [(ch.tag, ch.unit, t, v)]

    def _vibration(self, ch: Channel, t_from: int, t_to: int, el: float,
                   fault: str) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
        t = self._times(t_from, t_to, WAVE_HZ)
        if not len(t):
            return []
        shaft = ch.fault_hz[0] if ch.fault_hz else 24.5
        bpfo = ch.fault_hz[1] if len(ch.fault_hz) > 1 else 3.57 * shaft
        s = (t % 3_600_000_000_000) / 1e9
        span = ch.span
        base = 0.12 * span
        wave = base * (np.sin(2 * np.pi * shaft * s) + 0.4 * np.sin(2 * np.pi * 2 * shaft * s + 1.0))
        wave += ch.rng.normal(0, 0.04 * span, len(t))
        g = self._growth(ch, el) if fault == "bearing" else 0.0
        if g:
            # Outer-race defect: impacts at BPFO exciting a ~1 kHz-ish resonance, growing.
            wave += g * 1.1 * span * np.sin(2 * np.pi * bpfo * s) * (1 + 0.5 * np.sin(2 * np.pi * 350 * s))
        rms_t = self._times(t_from, t_to, 10.0)
        out = [(ch.tag + "/wave", ch.unit, t, wave)]
        if len(rms_t):
            win = int(WAVE_HZ / 10)
            rms = np.array([math.sqrt(float(np.mean(wave[max(0, i - win):i + 1] ** 2)))
                            for i in np.searchsorted(t, rms_t).clip(0, len(t) - 1)])
            out.append((ch.tag, ch.unit, rms_t, rms))
        return out

    def _thermal(self, ch: Channel, el: float, fault: str) -> np.ndarray:
        rows, cols = THERMAL_SHAPE
        y, x = np.mgrid[0:rows, 0:cols]
        cy, cx = rows * 0.55, cols * (0.45 + 0.05 * math.sin(el / 20.0))
        heat = 0.35 + (0.5 * self._growth(ch, el) if fault == "overheat" else 0.0)
        spot = np.exp(-(((y - cy) / 4.0) ** 2 + ((x - cx) / 5.0) ** 2))
        img = ch.lo + ch.span * (0.25 + heat * spot) + ch.rng.normal(0, 0.005 * ch.span, (rows, cols))
        out: np.ndarray = img.astype(np.float32)
        return out

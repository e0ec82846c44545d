"""MQTT source (paho-mqtt 2): plain JSON payloads or Sparkplug B.

Settings (a ``[[source]]`` table with ``type = "mqtt"``)::

    url = "mqtt://host:1883"        # mqtts:// for TLS (port 8883 by default)
    username = "twin"               # optional; password or password_env
    tls = true                      # optional (implied by mqtts://); ca_file = "ca.pem"
    topics = ["plant/#"]            # for Sparkplug default "spBv1.0/#"
    format = "json"                 # or "sparkplug"
    qos = 1
    share = "twinroom"              # MQTT 5 shared subscription: $share/twinroom/<topic>
    client_id = ""                  # default: twinroom-<name>-<random>
    keepalive = 30

JSON payloads (tag = the topic, or ``topic/key`` for a map of several values):

* a bare number (``21.5``), or ``true``/``false`` (1/0);
* ``{"value": 21.5, "ts": 1733130000123, "quality": "good"}`` — ``ts`` or ``t`` in
  seconds, milliseconds, microseconds or nanoseconds since the epoch (told apart by
  magnitude) or an ISO 8601 string; ``quality``/``q`` a name (good, uncertain, bad) or
  0–4; without a time the sample is stamped on arrival;
* a map of named values ``{"temp": 21.5, "hum": {"value": 40, "q": "bad"}, "ts": …}``
  (a shared ``ts``/``quality`` applies to all);
* an array frame (e.g. a thermal camera): ``{"frame": [[…], …], "ts": …}`` (rows of
  numbers) or ``{"frame": […], "shape": [rows, cols]}``, delivered as one array sample;
* a list of any of these.

Anything else is garbage: counted per topic and logged once per topic, never fatal.
Non-finite values and out-of-order or repeated times are passed on as they are — the hub
marks non-finite values bad and drops samples not newer than the stream's newest.

The connection reconnects by itself with a doubling back-off (``reconnect_min_s`` …
``reconnect_max_s``, whole seconds) and resubscribes; the sink hears ``source_status`` on each change.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import ssl
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from sync_server.sensors import Sink
from sync_server.sensors.config import SettingError, Settings
from sync_server.sensors.sparkplug import SparkplugHost
from sync_server.sensors.tags import Batcher
from twin_app.core.sensors import BAD, GOOD, QUALITY_NAMES

log = logging.getLogger(__name__)

Sample = tuple[str, int, float, int]  # tag, t_ns, value, quality
FrameSample = tuple[str, int, "npt.NDArray[np.float32]", int]  # tag, t_ns, rows × cols, quality
MAX_FRAME_CELLS = 1 << 20
_QUALITY = {name: i for i, name in enumerate(QUALITY_NAMES)}
_TIME_KEYS = ("ts", "t", "time", "timestamp")
_QUALITY_KEYS = ("quality", "q")
_VALUE_KEYS = ("value", "v")


class PayloadError(ValueError):
    """A payload that is not one of the accepted shapes."""


def time_ns(ts: Any) -> int:
    """A JSON time (number of s/ms/µs/ns since the epoch, or ISO 8601) in ns."""
    if isinstance(ts, bool):
        raise PayloadError("a time cannot be true/false")
    if isinstance(ts, int | float):
        if not math.isfinite(ts) or ts <= 0:
            raise PayloadError(f"bad time {ts!r}")
        a = abs(ts)
        # Seconds up to year 5138, milliseconds from 1973, microseconds, nanoseconds.
        mult = 1_000_000_000 if a < 1e11 else 1_000_000 if a < 1e14 else 1_000 if a < 1e17 else 1
        if isinstance(ts, int):
            return ts * mult
        # Through the shortest decimal form: 1764670000.005 s is exactly …005000000 ns.
        return int(Decimal(repr(ts)) * mult)
    if isinstance(ts, str):
        try:
            dt = datetime.fromisoformat(ts.strip())
        except ValueError as exc:
            raise PayloadError(f"bad time {ts[:40]!r}") from exc
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
    raise PayloadError(f"bad time {ts!r}")


def quality_of(q: Any) -> int:
    if isinstance(q, str) and q.lower() in _QUALITY:
        return _QUALITY[q.lower()]
    if isinstance(q, int) and not isinstance(q, bool) and 0 <= q < len(QUALITY_NAMES):
        return q
    raise PayloadError(f"bad quality {q!r}")


def _number(v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        try:
            return float(v)
        except OverflowError as exc:
            raise PayloadError(f"number out of range: {str(v)[:20]}…") from exc
    if v is None:
        return math.nan
    raise PayloadError(f"not a number: {str(v)[:40]!r}")


def _first(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in obj:
            return obj[k]
    return None


def decode_json(topic: str, data: bytes, now_ns: int,
                frames: list[FrameSample] | None = None) -> list[Sample]:
    """The samples of one JSON payload (see the module docstring); array frames go to
    ``frames``. Raises ``PayloadError``."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise PayloadError(f"not JSON: {exc}") from exc
    out: list[Sample] = []
    arrays: list[FrameSample] = [] if frames is None else frames
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise PayloadError("an empty list")
    for item in items:
        _decode_item(topic, item, now_ns, out, arrays)
    return out


def _frame(obj: dict[str, Any]) -> npt.NDArray[np.float32]:
    """``{"frame": [[…], …]}`` or ``{"frame": […], "shape": [rows, cols]}`` as rows × cols."""
    raw, shape = obj["frame"], obj.get("shape")
    if not isinstance(raw, list) or not raw:
        raise PayloadError("'frame' must be a non-empty list")
    rows = raw if isinstance(raw[0], list) else [raw]
    if not all(isinstance(r, list) and len(r) == len(rows[0]) for r in rows):
        raise PayloadError("'frame' rows differ in length")
    if len(rows) * len(rows[0]) > MAX_FRAME_CELLS or not rows[0]:
        raise PayloadError(f"'frame' must have 1 to {MAX_FRAME_CELLS} cells")
    try:
        a = np.array([[math.nan if x is None else x for x in r] for r in rows], np.float64)
    except (ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(f"'frame' holds something that is not a number: {exc}") from exc
    if a.ndim != 2:
        raise PayloadError("'frame' must be rows of numbers")
    if shape is not None:
        if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(d, int) and 0 < d <= 4096
                                                                    for d in shape)
                and shape[0] * shape[1] == a.size):
            raise PayloadError(f"'shape' {shape!r} does not fit the frame's {a.size} cells")
        a = a.reshape(shape)
    if a.shape[0] > 4096 or a.shape[1] > 4096:
        raise PayloadError("a frame has at most 4096 rows and columns")
    return a.astype(np.float32)


def _decode_item(topic: str, obj: Any, now_ns: int, out: list[Sample], frames: list[FrameSample]) -> None:
    if not isinstance(obj, dict):
        v = _number(obj)
        out.append((topic, now_ns, v, BAD if obj is None else GOOD))
        return
    ts = _first(obj, _TIME_KEYS)
    t = time_ns(ts) if ts is not None else now_ns
    qv = _first(obj, _QUALITY_KEYS)
    q = quality_of(qv) if qv is not None else GOOD
    if "frame" in obj:
        frames.append((topic, t, _frame(obj), q))
        return
    value = _first(obj, _VALUE_KEYS)
    if value is not None or any(k in obj for k in _VALUE_KEYS):
        v = _number(value)
        out.append((topic, t, v, BAD if value is None else q))
        return
    n = len(out)
    for key, val in obj.items():
        if key in _TIME_KEYS or key in _QUALITY_KEYS:
            continue
        if isinstance(val, dict):
            vt = _first(val, _TIME_KEYS)
            vq = _first(val, _QUALITY_KEYS)
            inner = _first(val, _VALUE_KEYS)
            if inner is None and not any(k in val for k in _VALUE_KEYS):
                raise PayloadError(f"{key!r} has no value")
            out.append((f"{topic}/{key}", time_ns(vt) if vt is not None else t, _number(inner),
                        BAD if inner is None else quality_of(vq) if vq is not None else q))
        else:
            out.append((f"{topic}/{key}", t, _number(val), BAD if val is None else q))
    if len(out) == n:
        raise PayloadError("an object without values")


def _reason(rc: ReasonCode | int | None) -> str:
    if rc is None:
        return ""
    return str(getattr(rc, "getName", lambda: rc)())


class MqttSource:
    """Subscribes to a broker and delivers the samples of its messages (module docstring)."""

    def __init__(self, name: str, url: str, topics: list[str], fmt: str = "json", qos: int = 1,
                 share: str | None = None, username: str | None = None,
                 password: str | None = None, tls: bool = False, ca_file: str | None = None,
                 client_id: str | None = None, keepalive: int = 30,
                 reconnect_min_s: int = 1, reconnect_max_s: int = 30,
                 batch_s: float = 0.01) -> None:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise SettingError("url", f"'url' must start with mqtt:// or mqtts://, not {parts.scheme}://")
        try:
            port = parts.port
        except ValueError as exc:
            raise SettingError("url", f"'url' has a bad port: {exc}") from exc
        if not parts.hostname:
            raise SettingError("url", "'url' names no host")
        if fmt not in ("json", "sparkplug"):
            raise SettingError("format", f"'format' is {fmt!r}; it must be json or sparkplug")
        if share is not None and (not share or any(c in share for c in "/+#")):
            raise SettingError("share", "'share' must be a group name without '/', '+' or '#'")
        if share is not None and fmt == "sparkplug":
            raise SettingError("share", "a Sparkplug subscription cannot be shared (each edge node's "
                                        "births and sequence numbers must reach one bridge); split "
                                        "the topics by group or node instead")
        self.name = name
        self.url = url
        self.host = parts.hostname
        self.tls = tls or parts.scheme in ("mqtts", "ssl")
        self.port = port or (8883 if self.tls else 1883)
        self.topics = topics
        self.format = fmt
        self.qos = qos
        self.share = share
        self.username = username if username is not None else parts.username
        self.password = password if password is not None else parts.password
        self.ca_file = ca_file
        self.client_id = client_id or f"twinroom-{name}-{secrets.token_hex(4)}"
        self.keepalive = keepalive
        self.reconnect = (reconnect_min_s, reconnect_max_s)
        self.batch_s = batch_s
        self.counts: dict[str, int] = {"messages": 0, "samples": 0, "garbage": 0, "connects": 0}
        self.garbage_by_topic: dict[str, int] = {}
        self.online = False
        self._last_status: tuple[bool, str] | None = None
        self._stopping = False
        self._sink: Sink | None = None
        self._batcher: Batcher | None = None
        self._client: mqtt.Client | None = None
        self._host: SparkplugHost | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, name: str, s: Settings) -> MqttSource:
        fmt = s.text("format", "json", ("json", "sparkplug"))
        return cls(
            name, s.text("url"),
            s.text_list("topics", ["spBv1.0/#"] if fmt == "sparkplug" else None), fmt,
            qos=s.integer("qos", 1, 0, 2), share=s.opt_text("share"),
            username=s.opt_text("username"), password=s.secret("password"),
            tls=s.flag("tls", False), ca_file=str(s.path("ca_file")) if s.opt_text("ca_file") else None,
            client_id=s.opt_text("client_id"), keepalive=s.integer("keepalive", 30, 5, 3600),
            reconnect_min_s=s.integer("reconnect_min_s", 1, 1, 60),
            reconnect_max_s=s.integer("reconnect_max_s", 30, 1, 3600),
        )

    def __repr__(self) -> str:
        return f"MqttSource({self.name!r}, {self.url!r}, {self.format})"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        self._sink = sink
        self._batcher = Batcher(sink, self.batch_s, name=f"mqtt-{self.name}")
        self._batcher.start()
        if self.format == "sparkplug":
            self._host = SparkplugHost(self._emit, self._publish, self.name)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                        protocol=mqtt.MQTTv5)
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.tls:
            c.tls_set(ca_certs=self.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        c.reconnect_delay_set(min_delay=self.reconnect[0], max_delay=max(self.reconnect))
        c.on_connect = self._on_connect
        c.on_connect_fail = self._on_connect_fail
        c.on_disconnect = self._on_disconnect
        c.on_subscribe = self._on_subscribe
        c.on_message = self._on_message
        # A bug in a handler is logged by paho instead of ending its network loop.
        c.suppress_exceptions = True
        self._client = c
        self._status(False, f"connecting to {self.host}:{self.port}")
        c.connect_async(self.host, self.port, self.keepalive, clean_start=True)
        c.loop_start()

    def stop(self) -> None:
        self._stopping = True
        c = self._client
        if c is not None:
            c.disconnect()
            c.loop_stop()
            self._client = None
        if self._batcher is not None:
            self._batcher.stop()
        self._status(False, "stopped")

    # -- paho callbacks (its network thread) ---------------------------------------------------
    def _status(self, online: bool, detail: str) -> None:
        with self._lock:
            changed = (online, detail) != self._last_status
            self._last_status = (online, detail)
            self.online = online
        if self._batcher is not None:
            self._batcher.flush()  # samples before the status change that follows them
        if changed and self._sink is not None:
            self._sink.source_status(self.name, online, detail)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode,
                    props: Properties | None) -> None:
        if rc.is_failure:
            self._status(False, f"broker refused the connection: {_reason(rc)}")
            return
        self.counts["connects"] += 1
        opts = SubscribeOptions(qos=self.qos)
        subs = [(f"$share/{self.share}/{t}" if self.share else t, opts) for t in self.topics]
        client.subscribe(subs)
        log.info("%s: connected to %s:%d, subscribing to %s", self.name, self.host, self.port,
                 ", ".join(t for t, _ in subs))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, rcs: list[ReasonCode],
                      props: Properties | None) -> None:
        refused = [self.topics[i] for i, rc in enumerate(rcs) if rc.is_failure and i < len(self.topics)]
        if refused and len(refused) == len(rcs):
            self._status(False, f"the broker refused the subscription to {', '.join(refused)}: "
                                f"{_reason(rcs[0])}")
            return
        if refused:
            log.warning("%s: the broker refused the subscription to %s", self.name, ", ".join(refused))
        # Online once the broker has confirmed the subscriptions: from now on we receive.
        self._status(True, f"connected to {self.host}:{self.port}")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        # paho does not pass the reason on; name the likely ones.
        why = " over TLS (down, or its certificate is not trusted: check ca_file)" if self.tls else ""
        self._status(False, f"cannot reach the broker at {self.host}:{self.port}{why}")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, rc: ReasonCode,
                       props: Properties | None) -> None:
        if self._host is not None:
            self._host.connection_lost()
        last = self._last_status
        if self._stopping or (last is not None and not last[0] and last[1].startswith("broker refused")):
            return  # our own goodbye, or a refusal that says more than the disconnection
        why = _reason(rc)
        self._status(False, f"lost the broker at {self.host}:{self.port}" + (f": {why}" if why else ""))

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self.counts["messages"] += 1
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            self._garbage("<undecodable topic>", "the topic is not UTF-8")
            return
        if self._host is not None:
            try:
                self._host.handle(topic, bytes(msg.payload))
            except Exception:  # a bug here must not end the subscription
                log.exception("%s: handling a Sparkplug message on %s failed", self.name, topic)
            return
        frames: list[FrameSample] = []
        try:
            samples = decode_json(topic, bytes(msg.payload), time.time_ns(), frames)
        except (PayloadError, ValueError, TypeError, OverflowError) as exc:
            # e.g. an integer too large for a float: garbage like any other
            self._garbage(topic, str(exc) or type(exc).__name__)
            return
        b = self._batcher
        assert b is not None
        for tag, t, v, q in samples:
            b.add(tag, t, v, q)
        self.counts["samples"] += len(samples)
        if frames and self._sink is not None:
            b.flush()  # keep the order of arrival
            for tag, t, a, q in frames:
                self._sink.push_array(tag, t, a, q)
            self.counts["samples"] += len(frames)

    def _garbage(self, topic: str, why: str) -> None:
        self.counts["garbage"] += 1
        n = self.garbage_by_topic.get(topic, 0) + 1
        self.garbage_by_topic[topic] = n
        if n == 1:
            log.warning("%s: ignored a payload on %s: %s (further ones on this topic are only "
                        "counted)", self.name, topic, why)

    def _emit(self, tag: str, t_ns: int, value: float, quality: int) -> None:
        assert self._batcher is not None
        self._batcher.add(tag, t_ns, value, quality)
        self.counts["samples"] += 1

    def _publish(self, topic: str, payload: bytes) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=0)

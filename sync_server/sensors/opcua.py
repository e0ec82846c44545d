"""OPC UA source (asyncua): monitored items on a server, status codes as data quality.

Settings (a ``[[source]]`` table with ``type = "opcua"``)::

    url = "opc.tcp://plc.plant.local:4840"
    nodes = ["ns=2;s=Press.Force", "ns=2;i=1002"]   # node ids; each is a source tag
    sampling_ms = 100               # how often the server samples each item
    publishing_ms = 100             # how often it sends what changed
    username = "twin"               # optional; password or password_env
    timeout_s = 4

The client runs on its own thread with its own asyncio loop. Each data change becomes a
sample of the tag named by the node id (the mapping file renames it), stamped with the
server's source timestamp (else its server timestamp, else the arrival time). The status
code's severity is the quality: Good → GOOD, Uncertain → UNCERTAIN, Bad → BAD (with a
NaN value when the server sends none). An array value (e.g. a thermal camera's frame, its
shape from the value's dimensions) is delivered as one array sample. Other non-numeric
values are skipped, logged once per node.

When the server goes away (the client's watchdog notices within about a second) the
source reports itself offline, then reconnects with a doubling back-off and subscribes
again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.node import Node
from asyncua.common.subscription import DataChangeNotif
from asyncua.ua.uaerrors import UaError

from sync_server.sensors import Sink
from sync_server.sensors.config import SettingError, Settings
from sync_server.sensors.tags import Batcher
from twin_app.core.sensors import BAD, GOOD, UNCERTAIN

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def quality_of(code: int) -> int:
    """An OPC UA status code's severity (its two top bits) as a sample quality."""
    severity = (code >> 30) & 0b11
    return GOOD if severity == 0 else UNCERTAIN if severity == 1 else BAD


def _ns(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    d = dt - _EPOCH
    return (d.days * 86_400 + d.seconds) * 1_000_000_000 + d.microseconds * 1_000


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    return None


class OpcUaSource:
    """Subscribes to monitored items of one OPC UA server (see the module docstring)."""

    def __init__(self, name: str, url: str, nodes: list[str], sampling_ms: float = 100.0,
                 publishing_ms: float = 100.0, username: str | None = None,
                 password: str | None = None, timeout_s: float = 4.0,
                 reconnect_min_s: float = 0.5, reconnect_max_s: float = 30.0,
                 watchdog_s: float = 1.0, batch_s: float = 0.01) -> None:
        if not url.startswith("opc.tcp://"):
            raise SettingError("url", "'url' must start with opc.tcp://")
        for nid in nodes:
            try:
                ua.NodeId.from_string(nid)
            except (ValueError, UaError, IndexError) as exc:
                raise SettingError("nodes", f"'nodes': {nid!r} is not an OPC UA node id "
                                            f"(e.g. ns=2;s=Press.Force or ns=2;i=1002): {exc}") from exc
        self.name = name
        self.url = url
        self.node_ids = nodes
        self.sampling_ms = sampling_ms
        self.publishing_ms = publishing_ms
        self.username = username
        self.password = password
        self.timeout_s = timeout_s
        self.reconnect = (reconnect_min_s, reconnect_max_s)
        self.watchdog_s = watchdog_s
        self.batch_s = batch_s
        self.counts = {"changes": 0, "skipped": 0, "connects": 0}
        self.online = False
        self._sink: Sink | None = None
        self._batcher: Batcher | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._tags: dict[str, str] = {}  # node id as the server writes it → configured tag
        self._logged: set[str] = set()
        self._started = threading.Event()

    @classmethod
    def from_settings(cls, name: str, s: Settings) -> OpcUaSource:
        return cls(
            name, s.text("url"), s.text_list("nodes"),
            sampling_ms=s.number("sampling_ms", 100.0, 0.0, 3_600_000),
            publishing_ms=s.number("publishing_ms", 100.0, 1.0, 3_600_000),
            username=s.opt_text("username"), password=s.secret("password"),
            timeout_s=s.number("timeout_s", 4.0, 0.1, 600),
            reconnect_min_s=s.number("reconnect_min_s", 0.5, 0.05, 60),
            reconnect_max_s=s.number("reconnect_max_s", 30.0, 0.1, 3600),
        )

    def __repr__(self) -> str:
        return f"OpcUaSource({self.name!r}, {self.url!r}, {len(self.node_ids)} nodes)"

    # -- lifecycle (any thread) ------------------------------------------------------------
    def start(self, sink: Sink) -> None:
        self._sink = sink
        self._batcher = Batcher(sink, self.batch_s, name=f"opcua-{self.name}")
        self._batcher.start()
        self._thread = threading.Thread(target=self._thread_main, name=f"opcua-{self.name}", daemon=True)
        self._thread.start()
        self._started.wait(10)

    def stop(self) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._batcher is not None:
            self._batcher.stop()
        self._status(False, "stopped")

    def _thread_main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._main())
        finally:
            pending = asyncio.all_tasks(loop)  # tasks the client left running, if any
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- the loop's thread ------------------------------------------------------------------
    def _status(self, online: bool, detail: str) -> None:
        if self._batcher is not None:
            self._batcher.flush()
        if (online, detail) != getattr(self, "_last_status", None):
            self._last_status = (online, detail)
            self.online = online
            if self._sink is not None:
                self._sink.source_status(self.name, online, detail)

    async def _main(self) -> None:
        self._stop = stop = asyncio.Event()
        self._started.set()
        delay = self.reconnect[0]
        self._status(False, f"connecting to {self.url}")
        while not stop.is_set():
            lost = asyncio.Event()
            client = Client(self.url, timeout=self.timeout_s, watchdog_intervall=self.watchdog_s)
            if self.username:
                client.set_user(self.username)
                if self.password:
                    client.set_password(self.password)

            async def on_lost(exc: Exception, _lost: asyncio.Event = lost) -> None:
                _lost.set()

            client.connection_lost_callback = on_lost
            connected = False
            try:
                await client.connect()
                connected = True
                await self._subscribe(client)
                self.counts["connects"] += 1
                delay = self.reconnect[0]
                self._status(True, f"connected to {self.url}")
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())]
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                if not stop.is_set():
                    self._status(False, f"lost the server at {self.url}")
            except (OSError, TimeoutError, UaError, ConnectionError) as exc:
                self._status(False, f"cannot reach the server at {self.url}: {exc or type(exc).__name__}")
            finally:
                if connected:
                    try:
                        await asyncio.wait_for(client.disconnect(), self.timeout_s)
                    except (OSError, TimeoutError, UaError, ConnectionError):
                        pass  # the server is gone; nothing to close politely
            if stop.is_set():
                break
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, self.reconnect[1])

    async def _subscribe(self, client: Client) -> None:
        nodes = [client.get_node(nid) for nid in self.node_ids]
        self._tags = {n.nodeid.to_string(): nid for n, nid in zip(nodes, self.node_ids, strict=True)}
        sub = await client.create_subscription(self.publishing_ms, self)
        results = await sub.subscribe_data_change(nodes, sampling_interval=ua.Double(self.sampling_ms))
        for nid, res in zip(self.node_ids, results if isinstance(results, list) else [results], strict=False):
            if isinstance(res, ua.StatusCode):
                self._once(f"sub:{nid}", "cannot monitor %s: %s", nid, res.name)

    def _once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._logged:
            self._logged.add(key)
            log.warning("%s: " + msg, self.name, *args)

    # asyncua's subscription handler interface.
    def datachange_notification(self, node: Node, val: Any, data: DataChangeNotif) -> None:
        dv = data.monitored_item.Value
        code = dv.StatusCode.value if dv.StatusCode is not None else 0
        q = quality_of(code)
        tag = self._tags.get(node.nodeid.to_string(), node.nodeid.to_string())
        if isinstance(val, list) and val:
            self._array(tag, val, dv, q)
            return
        v = _number(val)
        if v is None:
            if val is not None or q == GOOD:
                self.counts["skipped"] += 1
                self._once(f"type:{tag}", "%s has a value that is not a number (%s); skipped",
                           tag, type(val).__name__)
                return
            v = math.nan
        t = _ns(dv.SourceTimestamp) or _ns(dv.ServerTimestamp) or time.time_ns()
        self.counts["changes"] += 1
        assert self._batcher is not None
        self._batcher.add(tag, t, v, q)

    def _array(self, tag: str, val: list[Any], dv: ua.DataValue, q: int) -> None:
        """An array value (e.g. a thermal camera's frame) as one rows × cols array sample."""
        try:
            a = np.asarray(val, np.float32)
        except (ValueError, TypeError):
            a = np.zeros(0, np.float32)
        if a.size == 0 or a.ndim > 2 or a.size > 1 << 20:
            self.counts["skipped"] += 1
            self._once(f"array:{tag}", "%s has an array value that is not rows of numbers; skipped", tag)
            return
        dims = dv.Value.Dimensions if dv.Value is not None else None
        if a.ndim == 1:
            a = a.reshape(dims) if dims and len(dims) == 2 and dims[0] * dims[1] == a.size else a.reshape(1, -1)
        t = _ns(dv.SourceTimestamp) or _ns(dv.ServerTimestamp) or time.time_ns()
        self.counts["changes"] += 1
        if self._batcher is not None and self._sink is not None:
            self._batcher.flush()  # keep the order of arrival
            self._sink.push_array(tag, t, a, q)

    def status_change_notification(self, status: ua.StatusChangeNotification) -> None:
        if quality_of(status.Status.value) != GOOD:
            log.info("%s: subscription status %s", self.name, status.Status.name)

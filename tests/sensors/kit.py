"""Test kit for the sensor sources: a real Mosquitto broker, a publisher, a recording sink."""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from sync_server.sensors import F64, I64, U8, U32, Tags


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``pred`` until it holds (an event we cannot subscribe to, e.g. a port opening)."""
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


class Broker:
    """A Mosquitto broker on a free loopback port; can be killed and restarted on it."""

    def __init__(self, workdir: Path, users: dict[str, str] | None = None,
                 tls: tuple[Path, Path, Path] | None = None) -> None:
        """``users``: name → password (anonymous clients are then refused); ``tls``: CA,
        certificate and key files for a second, TLS listener on ``tls_port``."""
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            pytest.fail("mosquitto is not installed (scripts/setup.sh installs it)")
        self.exe = exe
        self.port = free_port()
        self.tls_port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        # MQTT 5 (and its shared subscriptions) is on by default in Mosquitto 2.
        conf = (
            # Started as root, Mosquitto would drop to its own user, which cannot read the
            # test's private folder (password file, certificates, log).
            f"user {getpass.getuser()}\n"
            f"listener {self.port} 127.0.0.1\n"
            "persistence false\n"
            f"log_dest file {self.log}\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        if users:
            pw = workdir / "passwords"
            pw.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
            subprocess.run([shutil.which("mosquitto_passwd") or "mosquitto_passwd", "-U", str(pw)], check=True)
            conf += f"allow_anonymous false\npassword_file {pw}\n"
        else:
            conf += "allow_anonymous true\n"
        if tls:
            ca, cert, key = tls
            conf += f"listener {self.tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        self.conf.write_text(conf)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self) -> Broker:
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_until(lambda: self._listening() or self.proc is None or self.proc.poll() is not None,
                   10, "mosquitto to listen")
        if self.proc.poll() is not None:
            err = self.proc.stderr.read().decode() if self.proc.stderr else ""
            raise RuntimeError(f"mosquitto did not start: {err}")
        return self

    def kill(self) -> None:
        """Kill -9: clients see the connection drop, no clean goodbye."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None


class RecordingSink:
    """A real sink that keeps everything it is given (the boundary the sources own)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.samples: list[tuple[str, int, float, int]] = []
        self.units: dict[str, str] = {}
        self.arrays: list[tuple[str, int, npt.NDArray[np.float32], int]] = []
        self.status: list[tuple[str, bool, str]] = []
        self.batches = 0

    def push(self, tags: Tags, idx: U32, t_ns: I64, values: F64, quality: U8,
             units: Sequence[str] | None = None) -> None:
        assert len(idx) == len(t_ns) == len(values) == len(quality)
        assert idx.dtype == np.uint32 and t_ns.dtype == np.int64
        assert values.dtype == np.float64 and quality.dtype == np.uint8
        with self.cond:
            self.batches += 1
            for i, t, v, q in zip(idx.tolist(), t_ns.tolist(), values.tolist(), quality.tolist(), strict=True):
                self.samples.append((tags[i], t, v, q))
            if units is not None:
                for tag, unit in zip(tags, units, strict=True):
                    if unit:
                        self.units[tag] = unit
            self.cond.notify_all()

    def push_array(self, tag: str, t_ns: int, values: npt.NDArray[np.float32], quality: int) -> None:
        with self.cond:
            self.arrays.append((tag, t_ns, values, quality))
            self.cond.notify_all()

    def source_status(self, name: str, online: bool, detail: str = "") -> None:
        with self.cond:
            self.status.append((name, online, detail))
            self.cond.notify_all()

    # -- for tests ---------------------------------------------------------------------------
    def wait(self, pred: Callable[[RecordingSink], bool], timeout: float = 10.0, what: str = "") -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self), timeout):
                raise AssertionError(f"timed out waiting for {what or 'the sink'}; "
                                     f"have {len(self.samples)} samples, status {self.status[-3:]}")

    def of(self, tag: str) -> list[tuple[int, float, int]]:
        with self.cond:
            return [(t, v, q) for g, t, v, q in self.samples if g == tag]

    def tags(self) -> set[str]:
        with self.cond:
            return {s[0] for s in self.samples}

    def online(self, name: str) -> bool | None:
        with self.cond:
            for n, on, _ in reversed(self.status):
                if n == name:
                    return on
            return None


class Publisher:
    """A paho MQTT 5 client that publishes and waits until the broker has each message."""

    def __init__(self, broker: Broker, client_id: str = "test-publisher",
                 auth: tuple[str, str] | None = None) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if auth:
            self.client.username_pw_set(*auth)
        self.connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self.connected.set()
        self.client.connect("127.0.0.1", broker.port, 30)
        self.client.loop_start()
        if not self.connected.wait(10):
            raise AssertionError("the test publisher could not connect")

    def publish(self, topic: str, payload: bytes | str | float, qos: int = 1) -> None:
        info = self.client.publish(topic, payload, qos=qos)
        info.wait_for_publish(10)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()



class Subscriber:
    """Collects messages on a topic filter (e.g. the rebirth commands a host sends)."""

    def __init__(self, broker: Broker, topic: str, client_id: str = "test-subscriber") -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.cond = threading.Condition()
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, 30)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise AssertionError("the test subscriber could not subscribe")

    def _on_message(self, client: object, userdata: object, msg: object) -> None:
        with self.cond:
            self.messages.append((msg.topic, bytes(msg.payload)))  # type: ignore[attr-defined]
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= n, timeout):
                raise AssertionError(f"timed out waiting for {n} messages, have {len(self.messages)}")
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class OpcServer:
    """A real asyncua OPC UA server on a free port, on its own thread and event loop, with
    a few variables under ``ns=2;s=Press.*``; restartable on the same port."""

    VARIABLES: ClassVar[dict[str, object]] = {"Press.Force": 0.0, "Press.Temperature": 20.0, "Press.Running": False,
                 "Press.Label": "line 1", "Press.Camera": [0.0] * 6}

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"opc.tcp://127.0.0.1:{self.port}/twin/"
        self.loop: object = None
        self.thread: threading.Thread | None = None
        self.vars: dict[str, object] = {}

    def start(self) -> OpcServer:
        import asyncio

        from asyncua import Server, ua

        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            try:
                server = Server()
                await server.init()
                server.set_endpoint(self.url)
                server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
                idx = await server.register_namespace("urn:twinroom:test")
                assert idx == 2
                obj = await server.nodes.objects.add_object(idx, "Press")
                for name, value in self.VARIABLES.items():
                    self.vars[name] = await obj.add_variable(ua.NodeId(name, idx), name, value)
                self.stop_event = asyncio.Event()
                async with server:
                    ready.set()
                    await self.stop_event.wait()
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self.loop = loop
            asyncio.set_event_loop(loop)
            loop.run_until_complete(main())
            pending = asyncio.all_tasks(loop)  # sessions the server left behind
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

        self.thread = threading.Thread(target=run, name="opcua-test-server", daemon=True)
        self.thread.start()
        if not ready.wait(30) or failure:
            raise RuntimeError(f"the OPC UA server did not start: {failure}")
        return self

    def write(self, name: str, value: object, status: int = 0, ts_ns: int | None = None) -> None:
        """Set a variable's value with a status code (as a device's driver would)."""
        import asyncio
        import datetime as dt

        from asyncua import ua

        var = self.vars[name]
        when = dt.datetime.fromtimestamp(ts_ns / 1e9, dt.UTC) if ts_ns else dt.datetime.now(dt.UTC)
        if isinstance(value, ua.Variant):
            variant = value
        elif isinstance(value, float):
            variant = ua.Variant(value, ua.VariantType.Double)
        else:
            variant = ua.Variant(value)
        dv = ua.DataValue(variant, StatusCode=ua.StatusCode(status), SourceTimestamp=when,
                          ServerTimestamp=dt.datetime.now(dt.UTC))
        asyncio.run_coroutine_threadsafe(var.write_value(dv), self.loop).result(10)  # type: ignore[attr-defined, arg-type]

    def stop(self) -> None:
        if self.thread is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)  # type: ignore[attr-defined]
            self.thread.join(30)
            self.thread = None


class PushCollector:
    """The server's side of the sensor push protocol on a ROUTER socket, in a thread:
    answers HELLO (token ``source-token``) and pings, and keeps every SENSOR_PUSH sample
    and SENSOR_SOURCE state with the name of the peer that sent it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.cond = threading.Condition()
        self.samples: list[tuple[str, str, int, float, int]] = []  # peer, tag, t, v, q
        self.units: dict[str, str] = {}
        self.sources: list[tuple[str, str, bool, str]] = []  # peer, name, online, detail
        self.hellos: list[str] = []
        self.pushes = 0
        self.push_sources: set[str] = set()
        self.frozen = threading.Event()
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> PushCollector:
        import zmq

        ready = threading.Event()

        def run() -> None:
            from twin_app import protocol

            ctx = zmq.Context.instance()
            sock = ctx.socket(zmq.ROUTER)
            sock.setsockopt(zmq.LINGER, 0)
            # A collector restarted on the port of a stopped one: ZeroMQ releases a closed
            # socket's port in its own time.
            deadline = time.monotonic() + 10
            while True:
                try:
                    sock.bind(self.endpoint)
                    break
                except zmq.ZMQError as exc:
                    if exc.errno != zmq.EADDRINUSE or time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            ready.set()
            names: dict[bytes, str] = {}
            try:
                while not self._stop.is_set():
                    if self.frozen.is_set():  # a hung server: reads nothing
                        self._stop.wait(0.02)
                        continue
                    if not sock.poll(20):
                        continue
                    rid, *frames = sock.recv_multipart()
                    msg = protocol.decode(frames)
                    if msg.type == protocol.HELLO:
                        if msg.body["token"] != "source-token":
                            sock.send_multipart([rid, *protocol.encode(protocol.ERROR, {
                                "code": protocol.E_AUTH, "reason": "unknown token"})])
                            continue
                        names[rid] = msg.body["name"]
                        with self.cond:
                            self.hellos.append(msg.body["name"])
                            self.cond.notify_all()
                        sock.send_multipart([rid, *protocol.encode(protocol.WELCOME, {
                            "session": "s", "epoch": 1, "role": "source", "hb_ms": 500, "limits": {}})])
                    elif rid not in names:
                        sock.send_multipart([rid, *protocol.encode(protocol.ERROR, {
                            "code": protocol.E_NO_SESSION, "reason": "send HELLO first"})])
                    elif msg.type == protocol.HEARTBEAT and "t" in msg.body:
                        sock.send_multipart([rid, *protocol.encode(protocol.HEARTBEAT, {"t": msg.body["t"]})])
                    elif msg.type == protocol.SENSOR_PUSH:
                        self._on_push(names[rid], msg.body, msg.blobs)
                    elif msg.type == protocol.SENSOR_SOURCE:
                        with self.cond:
                            self.sources.append((names[rid], msg.body["name"], msg.body["online"],
                                                 msg.body.get("detail", "")))
                            self.cond.notify_all()
                    elif msg.type == protocol.BYE:
                        names.pop(rid, None)
            finally:
                sock.close(0)

        self.thread = threading.Thread(target=run, name="push-collector", daemon=True)
        self.thread.start()
        ready.wait(10)
        return self

    def _on_push(self, peer: str, body: dict, blobs: list[bytes]) -> None:
        n = body["n"]
        assert len(blobs) == 4 + len(body.get("arrays", []))
        idx = np.frombuffer(blobs[0], "<u4")
        t = np.frombuffer(blobs[1], "<i8")
        v = np.frombuffer(blobs[2], "<f8")
        q = np.frombuffer(blobs[3], "u1")
        assert len(idx) == len(t) == len(v) == len(q) == n
        tags = body["tags"]
        with self.cond:
            self.pushes += 1
            self.push_sources.add(body.get("source", ""))
            for tag, unit in zip(tags, body.get("units", [""] * len(tags)), strict=True):
                if unit:
                    self.units[tag] = unit
            for i, ti, vi, qi in zip(idx.tolist(), t.tolist(), v.tolist(), q.tolist(), strict=True):
                self.samples.append((peer, tags[i], ti, vi, qi))
            self.cond.notify_all()

    def wait(self, pred: Callable[[PushCollector], bool], timeout: float = 15.0, what: str = "") -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: pred(self), timeout):
                raise AssertionError(f"timed out waiting for {what or 'the collector'}; "
                                     f"{len(self.samples)} samples, sources {self.sources[-4:]}")

    def online(self, name: str, peer: str | None = None) -> bool | None:
        with self.cond:
            for p, n, on, _ in reversed(self.sources):
                if n == name and (peer is None or p == peer):
                    return on
            return None

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(10)
            self.thread = None


def make_tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for 127.0.0.1/localhost signed by it."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Twinroom test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                                       decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = (folder / "ca.pem", folder / "server.pem", folder / "server.key")
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths

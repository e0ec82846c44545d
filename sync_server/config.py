"""Server configuration: where to listen, where data lives, who may do what, and limits.

Access is by **token**: each token grants one role (owner, designer, instructor, operator,
viewer) in some rooms (or all). Tokens come from ``<data>/tokens.toml`` (written by
``twin-sync token``) and from ``--token VALUE:ROLE`` on the command line. The file keeps
only a hash of each token, never the secret itself (a copied file grants nothing)::

    [[token]]
    hash = "sha256:9f2c…"   # token_hash() of the secret a client sends in HELLO
    role = "designer"
    rooms = ["*"]           # or a list of room names
    label = "Site B"        # free text, shown in logs

An entry with a plain ``value = "…"`` (files written before hashes) is rewritten with its
hash the first time the file is loaded. Tokens are 144 random bits, so one SHA-256 is as
good as a slow password hash here. Grants are keyed by ``token_hash``.

A service can also take secret tokens from a file (``--token-file``: one
``VALUE:ROLE[:ROOMS]`` per line, e.g. a systemd credential or a container secret) or from
the environment (``TWIN_SYNC_TOKENS``, whitespace-separated); ``ENV`` below lists every
variable ``twin-sync serve`` reads.

CurveZMQ encryption is enabled by giving the server its secret key file
(``twin-sync keygen``); clients then need the server's public key.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from twin_app.core.permissions import ROLES
from twin_app.protocol import MAX_HEADER_FRAME


@dataclass(frozen=True)
class Grant:
    """What a token allows."""

    role: str
    rooms: frozenset[str] | None = None  # None = every room
    label: str = ""

    def allows(self, room: str) -> bool:
        """True if this grant covers ``room``."""
        return self.rooms is None or room in self.rooms


@dataclass
class Limits:
    """Per-server limits; every one is enforced with a clear NACK or ERROR."""

    max_message: int = MAX_HEADER_FRAME
    socket_max_message: int = 32 * 1024 * 1024  # larger frames make ZeroMQ drop the peer
    ops_per_s: float = 5000.0
    ops_burst: float = 10000.0
    max_nodes: int = 1_000_000
    max_backlog: int = 200_000  # ops accepted but not yet durable before edits are refused
    max_asset: int = 512 * 1024 * 1024
    edit_credit: int = 256
    presence_hz: float = 30.0


@dataclass
class ServerConfig:
    """Everything ``Server`` needs to run."""

    data_dir: Path
    bind: str = "tcp://127.0.0.1:7700"
    grants: dict[str, Grant] = field(default_factory=dict)
    curve_secret_file: Path | None = None
    curve_allow_dir: Path | None = None  # allowed client public keys; None = any key
    limits: Limits = field(default_factory=Limits)
    hb_ms: int = 500
    session_timeout_s: float = 10.0
    durability: str = "power"  # "power": an ACK survives a power cut; "process": a crash
    room_idle_s: float = 300.0  # close a room this long after its last member left
    ring_size: int = 100_000
    max_room_bytes: int = 0  # disk quota per room log (0 = none)
    lag_limit: int = 50_000  # ops a client may be behind before we stop queueing for it
    seeds: dict[str, Path] = field(default_factory=dict)  # room -> room file for a new room
    sensors: bool = True  # run the sensor hub (samples recorded in data_dir/sensors.sqlite)
    simulate: tuple[str, ...] = ()  # rooms whose sensors the built-in simulator drives
    sensor_config: Path | None = None  # sources and tag mapping (TOML), see docs/sensors.md

    @property
    def rooms_dir(self) -> Path:
        """Directory of the per-room SQLite logs."""
        return self.data_dir / "rooms"

    @property
    def assets_dir(self) -> Path:
        """Directory of the content-addressed asset store."""
        return self.data_dir / "assets"


# Environment variables read by ``twin-sync serve`` (a command-line option wins).
ENV = {
    "TWIN_SYNC_DATA": "--data",
    "TWIN_SYNC_BIND": "--bind",
    "TWIN_SYNC_TOKENS": "--token (whitespace-separated VALUE:ROLE[:ROOMS] items)",
    "TWIN_SYNC_TOKEN_FILE": "--token-file",
    "TWIN_SYNC_CURVE_SECRET": "--curve-secret",
    "TWIN_SYNC_LOG_LEVEL": "--log-level",
}


def token_hash(token: str) -> str:
    """Return how a token is stored and looked up: ``"sha256:"`` + 64 hex digits."""
    return "sha256:" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_grant_arg(text: str) -> tuple[str, Grant]:
    """Parse ``VALUE:ROLE[:room1,room2]`` from the command line; return (token hash, grant)."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ValueError(f"--token wants VALUE:ROLE[:ROOM,…], got {text!r}")
    role = parts[1]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    rooms = frozenset(parts[2].split(",")) if len(parts) == 3 and parts[2] != "*" else None
    return token_hash(parts[0]), Grant(role, rooms)


def load_token_file(path: Path) -> dict[str, Grant]:
    """Read secret tokens, one ``VALUE:ROLE[:ROOM,…]`` per line (``#`` comments), as grants.

    For services: a systemd credential, a container secret or an environment variable
    hold the secrets; nothing is written to the data directory. Raises ``ValueError``
    (naming the file and line, never the secret) for a malformed line.
    """
    grants: dict[str, Grant] = {}
    for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            digest, grant = parse_grant_arg(text)
        except ValueError as exc:
            raise ValueError(f"{path}, line {n}: {str(exc).split(', got')[0]}") from None
        grants[digest] = grant
    return grants


def parse_token_list(text: str) -> dict[str, Grant]:
    """Grants from whitespace-separated ``VALUE:ROLE[:ROOM,…]`` items (``TWIN_SYNC_TOKENS``)."""
    grants: dict[str, Grant] = {}
    for item in text.split():
        try:
            digest, grant = parse_grant_arg(item)
        except ValueError as exc:
            raise ValueError(f"TWIN_SYNC_TOKENS: {str(exc).split(', got')[0]}") from None
        grants[digest] = grant
    return grants


def _entry(digest: str, role: str, rooms: list[str], label: str) -> str:
    room_list = ", ".join(json.dumps(r) for r in rooms)
    return (f"\n[[token]]\nhash = {json.dumps(digest)}\nrole = {json.dumps(role)}\n"
            f"rooms = [{room_list}]\nlabel = {json.dumps(label)}\n")


def _write_private(path: Path, text: str) -> None:
    # Write then rename, created 0600: the file is never readable by others, not even
    # for a moment, and a crash leaves the old file or the new one.
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def load_tokens(path: Path) -> dict[str, Grant]:
    """Read a tokens.toml file; return grants keyed by ``token_hash``.

    A missing file means no tokens. Entries with a plain ``value`` are migrated: the file
    is rewritten (0600) with their hashes. Raises ``ValueError`` for a malformed file.
    """
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    grants: dict[str, Grant] = {}
    entries: list[str] = []
    plain = False
    for entry in data.get("token", []):
        value, digest, role = entry.get("value"), entry.get("hash"), entry.get("role")
        if isinstance(value, str) and value:
            digest, plain = token_hash(value), True
        if not isinstance(digest, str) or not digest.startswith("sha256:") or role not in ROLES:
            raise ValueError(f"{path}: each [[token]] needs a hash (or a value) and a role in {ROLES}")
        rooms = entry.get("rooms", ["*"])
        label = str(entry.get("label", ""))
        grants[digest] = Grant(role, None if "*" in rooms else frozenset(rooms), label)
        entries.append(_entry(digest, role, list(rooms), label))
    if plain:
        _write_private(path, "# Access tokens (hashes only; `twin-sync token` adds one).\n" + "".join(entries))
    return grants


def add_token(path: Path, role: str, rooms: list[str] | None, label: str = "") -> str:
    """Create a new random token with ``role`` in ``rooms`` (None = all); return it.

    Only its hash is appended to ``path``: show the returned secret to its owner now,
    it cannot be read back later. Raises ``ValueError`` for an unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    value = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(_entry(token_hash(value), role, rooms or ["*"], label))
    path.chmod(0o600)
    return value

"""Replays: browse recorded sessions and play one back in a read-only window.

* ``ReplaysDialog`` (File ▸ Replays…) lists the rooms this token may replay, each with
  its sessions (start, duration, edits, people). *Open* starts a replay at the session's
  start.
* The replay is shown by the **same** ``MainWindow`` as a live room — same scene tree,
  inspector, people list and ``SceneVisual`` — driven by a ``ReplayClient``: a read-only
  client (role ``viewer``: every edit is refused) whose store is the replay engine's.
  Peers are the people present at the playhead, with their cameras and selections; the
  sensor feed holds the values recorded at the playhead, so colours and labels follow the
  live rules.
* ``ReplayPanel`` (the *Timeline* dock): the timeline slider with edit markers per person
  and event markers, play/pause, speed 0.25×–16×, previous/next event, keyboard jumps
  (K play/pause, J/L previous/next event, Shift+J/Shift+L ∓10 s, Home/End), "view
  through" a participant's camera, compare moments A and B (the parts that changed are
  listed and selected, so they are highlighted in 3D), and fork a new live room from
  the moment shown.
* Requests go over the wire (``twin_app.replay.remote``) to the server the window is
  joined to — the embedded server of ``twin-app`` included — on the GUI thread; each is
  one keyframe plus a short tail at most.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.changes import ChangeSet
from twin_app.core.document import Document
from twin_app.core.errors import InvalidOp
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Batch, Op, SetField
from twin_app.core.samples import Frame, Stream
from twin_app.core.store import ClientStore, PendingOp
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.timeline import TimelineSlider
from twin_app.replay.engine import Diff, Replay
from twin_app.replay.logfile import RECORD_PRESENCE
from twin_app.replay.model import RecordingError, RoomInfo, SessionSpan
from twin_app.replay.remote import ReplayLink
from twin_app.session.facade import Assets, Client, Peer
from twin_app.session.sensors import SensorFeed

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
TICK_MS = 33
JUMP_S = 10.0


def when(t_ns: int) -> str:
    """A recording time for people (local clock)."""
    return datetime.fromtimestamp(t_ns / 1e9).strftime("%Y-%m-%d %H:%M:%S")


def duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


class ReplayAssets:
    """The live window's mesh cache, seen by the replay window (own arrival listeners)."""

    def __init__(self, source: Assets) -> None:
        self._source = source
        self.on_arrived: list[Callable[[str], None]] = []
        source.on_arrived.append(self._relay)

    def _relay(self, digest: str) -> None:
        for cb in list(self.on_arrived):
            cb(digest)

    def put(self, blob: bytes) -> str:
        raise InvalidOp("forbidden", "a replay cannot be edited")

    def get(self, digest: str) -> bytes | None:
        return self._source.get(digest)

    def want(self, digests: Iterable[str]) -> None:
        self._source.want(digests)

    def close(self) -> None:
        if self._relay in self._source.on_arrived:
            self._source.on_arrived.remove(self._relay)


class ReplayClient:
    """A read-only ``Client`` whose room is a replay at its playhead."""

    def __init__(self, replay: Replay, assets: Assets) -> None:
        self.replay = replay
        self.assets = ReplayAssets(assets)
        self.sensors = SensorFeed()
        self.peers: dict[str, Peer] = {}
        self.session: str | None = None
        self.role: str | None = "viewer"
        self.state = "replay"
        self.state_detail = "a recording, read-only"
        self.storage_error: str | None = None
        self.unacked_count = 0
        self.on_state: list[Callable[[str, str], None]] = []
        self.on_nack: list[Callable[[PendingOp, str, str], None]] = []
        self.on_peers: list[Callable[[], None]] = []
        self.on_error: list[Callable[[str, str], None]] = []
        self._stream_ids: dict[str, int] = {}
        replay.on_moved.append(self._on_moved)
        replay.store.subscribe(self._on_changes)

    @property
    def store(self) -> ClientStore:
        return self.replay.store

    @property
    def synced(self) -> bool:
        return self.replay.seq >= 0

    @property
    def head_seq(self) -> int:
        return self.replay.index.head_seq

    def _on_changes(self, changes: ChangeSet) -> None:
        doc = self.store.doc
        if changes.reset:
            self.assets.want(n.mesh for n in doc.nodes.values() if n.mesh)
            return
        wanted = [n.mesh for nid in changes.nodes if (n := doc.get(nid)) is not None and n.mesh]
        if wanted:
            self.assets.want(wanted)

    def _on_moved(self) -> None:
        r = self.replay
        self.peers = {p.session: Peer(p.session, p.client_id, p.name, "", p.color, list(p.selection), p.camera)
                      for p in r.presence}
        for cb in list(self.on_peers):
            cb()
        new = [t for t in r.tags if t not in self._stream_ids]
        if new:
            for tag in new:
                self._stream_ids[tag] = len(self._stream_ids)
            self.sensors.set_streams([Stream(i, t) for t, i in self._stream_ids.items()], [])
        sid, val, tt, q = r.sample_arrays(self._stream_ids)
        if len(sid):
            n = len(sid)
            self.sensors.apply(Frame(sid, val, tt, val.copy(), val.copy(), np.ones(n, np.uint32), q,
                                     np.ones(n, np.uint64), [], r.t_ns))

    def start(self) -> None:
        for cb in list(self.on_state):
            cb(self.state, self.state_detail)

    def close(self) -> None:
        self.assets.close()
        self.state = "closed"

    def process_events(self, budget_s: float | None = None) -> int:
        return 0

    def has_events(self) -> bool:
        return False

    def submit(self, op: Op, label: str) -> PendingOp:
        raise InvalidOp("forbidden", "a replay is read-only: fork a room from this moment to edit")

    def undo(self) -> PendingOp | None:
        return None

    def redo(self) -> PendingOp | None:
        return None

    def set_presence(self, **fields: Any) -> None:
        """Nobody sees a replay's viewer."""


def _is_a_client(client: ReplayClient) -> Client:
    return client  # mypy proves the replay client is what the window codes against


def fork_ops(doc: Document, per_batch: int = 2000) -> list[Op]:
    """Ops that rebuild ``doc`` in an empty room: the root's name and properties, then every
    node parents first, in batches."""
    root = doc.get(ROOT_ID)
    ops: list[Op] = []
    if root is not None:
        ops.append(SetField(ROOT_ID, "name", root.name))
        ops += [SetField(ROOT_ID, f"prop:{k}", v) for k, v in root.props.items()]
    nodes = [n.copy() for n in doc.walk() if n.id != ROOT_ID]
    for i in range(0, len(nodes), per_batch):
        ops.append(Batch(tuple(AddNode(n) for n in nodes[i:i + per_batch])))
    return ops


class ReplayPanel(QWidget):
    """The timeline dock of a replay window (see the module docstring)."""

    def __init__(self, window: Any, replay: Replay, client: ReplayClient,
                 fork: Callable[[str, Document], str | None] | None = None) -> None:
        super().__init__(window)
        self.win = window
        self.replay = replay
        self.client = client
        self.fork_cb = fork
        self.playing = False
        self.speed = 1.0
        self.view_through: str | None = None  # client id whose camera we look through
        self.diff: Diff | None = None
        self._last_tick = 0.0
        self._damage_told = False
        ix = replay.index

        self.timeline = TimelineSlider(self)
        self.timeline.set_index(ix)
        self.timeline.sig_seek.connect(self._on_timeline_seek)
        self.play_btn = QToolButton(self)
        self.play_btn.setText("Play")
        self.play_btn.setToolTip("Play or pause (K)")
        self.play_btn.clicked.connect(self.toggle_play)
        self.prev_btn = QToolButton(self)
        self.prev_btn.setText("◀ Event")
        self.prev_btn.setToolTip("Previous event (J)")
        self.prev_btn.clicked.connect(self.prev_event)
        self.next_btn = QToolButton(self)
        self.next_btn.setText("Event ▶")
        self.next_btn.setToolTip("Next event (L)")
        self.next_btn.clicked.connect(self.next_event)
        self.speed_box = QComboBox(self)
        for s in SPEEDS:
            self.speed_box.addItem(f"{s:g}×", s)
        self.speed_box.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_box.setToolTip("Playback speed")
        self.speed_box.currentIndexChanged.connect(lambda i: self.set_speed(float(self.speed_box.itemData(i))))
        self.time_label = QLabel(self)
        self.event_label = QLabel(self)
        self.through_box = QComboBox(self)
        self.through_box.setToolTip("Look through a participant's camera as the replay plays")
        self.through_box.addItem("Free camera", None)
        for p in ix.participants:
            if p.sessions:
                self.through_box.addItem(f"View through {p.name}", p.client_id)
        self.through_box.currentIndexChanged.connect(
            lambda i: self.set_view_through(self.through_box.itemData(i)))
        self.a_btn = QPushButton("Set A", self)
        self.a_btn.setToolTip("Mark this moment as A for comparing")
        self.a_btn.clicked.connect(lambda: self.set_mark("a"))
        self.b_btn = QPushButton("Set B", self)
        self.b_btn.setToolTip("Mark this moment as B for comparing")
        self.b_btn.clicked.connect(lambda: self.set_mark("b"))
        self.compare_btn = QPushButton("Compare A → B", self)
        self.compare_btn.setEnabled(False)
        self.compare_btn.clicked.connect(self.compare)
        self.diff_list = QListWidget(self)
        self.diff_list.setMaximumHeight(90)
        self.diff_list.hide()
        self.fork_name = QLineEdit(self)
        self.fork_name.setPlaceholderText("new room name")
        self.fork_name.setMaximumWidth(160)
        self.fork_btn = QPushButton("Fork Room Here", self)
        self.fork_btn.setToolTip("Start a new live room from the document at this moment")
        self.fork_btn.clicked.connect(self.fork)
        self.fork_btn.setEnabled(fork is not None)
        self.presence_note = QLabel("" if ix.presence_recorded else "Cameras and selections were not recorded "
                                    "in this room (privacy).", self)

        row = QHBoxLayout()
        first: tuple[QWidget, ...] = (self.play_btn, self.speed_box, self.prev_btn, self.next_btn, self.time_label)
        for w in first:
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.event_label)
        row2 = QHBoxLayout()
        second: tuple[QWidget, ...] = (self.through_box, self.a_btn, self.b_btn, self.compare_btn, self.presence_note)
        for w in second:
            row2.addWidget(w)
        row2.addStretch(1)
        row2.addWidget(self.fork_name)
        row2.addWidget(self.fork_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.timeline)
        lay.addLayout(row)
        lay.addLayout(row2)
        lay.addWidget(self.diff_list)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)

        self.timer = QTimer(self)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.actions_: dict[str, QAction] = {}
        for key, text, slot in (
                ("K", "Play/Pause", self.toggle_play), ("L", "Next Event", self.next_event),
                ("J", "Previous Event", self.prev_event), ("Shift+L", "Forward 10 s", lambda: self.jump(JUMP_S)),
                ("Shift+J", "Back 10 s", lambda: self.jump(-JUMP_S)),
                ("Home", "Start", lambda: self.seek(self.replay.index.t0)),
                ("End", "End", lambda: self.seek(self.replay.index.t1))):
            act = QAction(text, window)
            act.setShortcut(QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _=False, s=slot: s())
            window.addAction(act)
            self.actions_[key] = act
        replay.on_moved.append(self._on_moved)

    # -- moving -------------------------------------------------------------------------------
    def seek(self, t: int) -> None:
        ix = self.replay.index
        t = min(max(t, ix.t0), ix.t1)
        try:
            self.replay.seek(t)
        except RecordingError as exc:
            self.pause()
            self.win.show_message(f"The replay stopped: {exc}", "error")
            return
        self.replay.t_ns = t
        if self.replay.damage and not self._damage_told:
            self._damage_told = True
            self.win.show_message(f"This recording is damaged: {self.replay.damage}", "warning")

    def _on_timeline_seek(self, t: object) -> None:
        assert isinstance(t, int)
        self.seek(t)

    def jump(self, seconds: float) -> None:
        self.seek(self.replay.t_ns + int(seconds * 1e9))

    def _events(self) -> list[int]:
        return sorted({m.t_ns for m in self.replay.index.marks})

    def next_event(self) -> None:
        later = [t for t in self._events() if t > self.replay.t_ns]
        if later:
            self.seek(later[0])

    def prev_event(self) -> None:
        earlier = [t for t in self._events() if t < self.replay.t_ns]
        if earlier:
            self.seek(earlier[-1])

    def set_speed(self, speed: float) -> None:
        self.speed = speed
        i = SPEEDS.index(speed) if speed in SPEEDS else -1
        if i >= 0 and self.speed_box.currentIndex() != i:
            self.speed_box.setCurrentIndex(i)

    def toggle_play(self) -> None:
        if self.playing:
            self.pause()
        else:
            self.play()

    def play(self) -> None:
        if self.replay.t_ns >= self.replay.index.t1:
            self.seek(self.replay.index.t0)
        self.playing = True
        self.play_btn.setText("Pause")
        self._last_tick = time.monotonic()
        self.timer.start()

    def pause(self) -> None:
        self.playing = False
        self.play_btn.setText("Play")
        self.timer.stop()

    def _tick(self) -> None:
        now = time.monotonic()
        dt, self._last_tick = now - self._last_tick, now
        t = self.replay.t_ns + int(dt * 1e9 * self.speed)
        if t >= self.replay.index.t1:
            self.seek(self.replay.index.t1)
            self.pause()
            return
        self.seek(t)

    # -- views --------------------------------------------------------------------------------
    def set_view_through(self, client_id: object) -> None:
        self.view_through = client_id if isinstance(client_id, str) else None
        i = self.through_box.findData(self.view_through)
        if i >= 0 and self.through_box.currentIndex() != i:
            self.through_box.setCurrentIndex(i)
        self._apply_view_through()

    def _apply_view_through(self) -> None:
        if self.view_through is None:
            return
        person = next((p for p in self.replay.presence if p.client_id == self.view_through), None)
        if person is not None and person.camera:
            self.win.viewport.set_camera(tuple(person.camera))

    def _on_moved(self) -> None:
        t = self.replay.t_ns
        self.timeline.set_time(t)
        ix = self.replay.index
        self.time_label.setText(f"{when(t)}  ({duration((t - ix.t0) / 1e9)} of {duration((ix.t1 - ix.t0) / 1e9)})")
        recent = [m for m in ix.marks if m.t_ns <= t]
        self.event_label.setText(f"Last event: {recent[-1].label}" if recent else "")
        self._apply_view_through()

    # -- compare and fork -------------------------------------------------------------------------
    def set_mark(self, which: str) -> None:
        setattr(self.timeline, which, self.replay.t_ns)
        self.timeline.update()
        self.compare_btn.setEnabled(self.timeline.a is not None and self.timeline.b is not None)

    def compare(self) -> Diff | None:
        a, b = self.timeline.a, self.timeline.b
        if a is None or b is None:
            return None
        try:
            diff = self.replay.compare(a, b, frozenset({"part", "group", "sensor", "comment", "step"}))
        except RecordingError as exc:
            self.win.show_message(f"Cannot compare: {exc}", "error")
            return None
        self.diff = diff
        self.diff_list.clear()
        self.diff_list.addItems(diff.lines() or ["No differences"])
        self.diff_list.show()
        changed = [i for i in (*diff.added, *diff.moved, *diff.recoloured, *diff.changed) if i in self.replay.doc]
        self.win.set_selection(changed)  # highlighted in 3D and in the tree
        return diff

    def fork(self) -> None:
        name = self.fork_name.text().strip()
        if not name or self.fork_cb is None:
            self.win.show_message("Type a name for the new room first.", "warning")
            return
        error = self.fork_cb(name, self.replay.doc)
        if error:
            self.win.show_message(f"Could not fork: {error}", "error")
        else:
            self.win.show_message(f"Room “{name}” forked from {when(self.replay.t_ns)}.")

    def close_replay(self) -> None:
        self.pause()
        self.client.close()


class ReplaysDialog(QDialog):
    """Recorded rooms and their sessions; *Open* plays one back."""

    def __init__(self, parent: QWidget | None, link: ReplayLink,
                 open_replay: Callable[[str, int], object], live: Any = None) -> None:
        """``live``: the window of the room being worked in, for its privacy switch."""
        super().__init__(parent)
        self.live = live
        self.setWindowTitle("Replays")
        self.resize(720, 420)
        self.link = link
        self.open_replay = open_replay
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Room / session", "Started", "Duration", "Edits", "People"])
        self.tree.setColumnWidth(0, 170)
        self.tree.setColumnWidth(1, 150)
        self.tree.itemDoubleClicked.connect(lambda *_: self.open_selected())
        self.tree.currentItemChanged.connect(lambda *_: self._update())
        self.message = QLabel(self)
        self.message.setWordWrap(True)
        buttons = QDialogButtonBox(self)
        self.open_btn = buttons.addButton("Open Replay", QDialogButtonBox.ButtonRole.AcceptRole)
        self.refresh_btn = buttons.addButton("Refresh", QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.open_btn.clicked.connect(self.open_selected)
        self.refresh_btn.clicked.connect(self.refresh)
        buttons.rejected.connect(self.reject)
        self.record_box = QCheckBox(self)
        self.record_box.setToolTip("Everyone in the room sees this setting; owners and designers can change it. "
                                   "Edits, comments and alarms are always recorded.")
        self.record_box.toggled.connect(self._on_record_toggled)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tree)
        lay.addWidget(self.message)
        lay.addWidget(self.record_box)
        lay.addWidget(buttons)
        self.rooms: list[RoomInfo] = []
        self.sync_record_box()
        self.refresh()

    def refresh(self) -> None:
        self.tree.clear()
        try:
            self.rooms, problems = self.link.rooms()
        except RecordingError as exc:
            self.message.setText(f"The recordings could not be listed: {exc}")
            self.rooms = []
            return
        for info in self.rooms:
            top = QTreeWidgetItem([info.room, when(info.t0), duration((info.t1 - info.t0) / 1e9),
                                   str(info.head_seq), "" if info.presence_recorded else "presence not recorded"])
            top.setData(0, Qt.ItemDataRole.UserRole, (info.room, info.t0))
            for i, span in enumerate(info.spans, 1):
                top.addChild(self._span_item(info.room, i, span))
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        self.message.setText("\n".join(problems) if problems else
                             ("No recorded rooms yet." if not self.rooms else
                              "Double-click a session (or select it and press Open Replay) to play it back."))
        if self.tree.topLevelItemCount():
            first = self.tree.topLevelItem(0)
            child = first.child(0) if first is not None and first.childCount() else None
            pick = child or first
            if pick is not None:
                self.tree.setCurrentItem(pick)
        self._update()

    def sync_record_box(self) -> None:
        """Show the live room's privacy setting (``prop:record_presence`` on its root)."""
        if self.live is None:
            self.record_box.hide()
            return
        root = self.live.client.store.doc.get(ROOT_ID)
        on = root is None or root.props.get(RECORD_PRESENCE, True) is not False
        self.record_box.blockSignals(True)
        self.record_box.setText(f"Record where people look in room “{self.live.room}” (cameras and selections)")
        self.record_box.setChecked(on)
        self.record_box.blockSignals(False)

    def _on_record_toggled(self, on: bool) -> None:
        if self.live is not None:
            label = "Record cameras and selections" if on else "Stop recording cameras and selections"
            self.live.dispatch(SetField(ROOT_ID, f"prop:{RECORD_PRESENCE}", on), label)
            self.sync_record_box()  # refused (role): back to what the room says

    @staticmethod
    def _span_item(room: str, i: int, span: SessionSpan) -> QTreeWidgetItem:
        item = QTreeWidgetItem([f"Session {i}", when(span.t0), duration(span.duration_s), str(span.ops),
                                ", ".join(span.people)])
        item.setData(0, Qt.ItemDataRole.UserRole, (room, span.t0))
        return item

    def _update(self) -> None:
        self.open_btn.setEnabled(self.tree.currentItem() is not None)

    def open_selected(self) -> None:
        item = self.tree.currentItem()
        if item is None:
            return
        room, t0 = item.data(0, Qt.ItemDataRole.UserRole)
        self.open_replay(str(room), int(t0))


class ReplayBrowser:
    """Opens the Replays dialog and replay windows for a live window (File ▸ Replays…)."""

    def __init__(self, window: Any) -> None:
        self.window = window
        self.link: ReplayLink | None = None
        self.dialog: ReplaysDialog | None = None
        self.replays: list[tuple[Any, ReplayPanel, ClientBridge]] = []
        self.open_forked = True  # open a window on a forked room (a new app process)

    def _link(self) -> ReplayLink | None:
        client = self.window.client
        creds = getattr(client, "credentials", None)
        if creds is None:
            self.window.show_message("Replays need a room on a server.", "warning")
            return None
        if self.link is None:
            endpoint, token, key = creds()
            try:
                self.link = ReplayLink(endpoint, token, name=f"{self.window.user_name} (replay)", server_key=key)
            except RecordingError as exc:
                self.window.show_message(f"Cannot reach the recordings: {exc}", "error")
                return None
        return self.link

    def show(self) -> ReplaysDialog | None:
        link = self._link()
        if link is None:
            return None
        if self.dialog is None:
            self.dialog = ReplaysDialog(self.window, link, self.open, self.window)
        else:
            self.dialog.refresh()
            self.dialog.sync_record_box()
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def open(self, room: str, t0: int) -> tuple[Any, ReplayPanel] | None:
        """Open a replay window on ``room`` at ``t0`` (ns); returns it and its panel."""
        from twin_app.qt.window import MainWindow

        link = self._link()
        if link is None:
            return None
        started = time.monotonic()
        try:
            replay = Replay(link.recording(room))
        except RecordingError as exc:
            self.window.show_message(f"Cannot open the replay of {room}: {exc}", "error")
            return None
        client = ReplayClient(replay, self.window.client.assets)
        bridge = ClientBridge()
        bridge.attach(client)
        settings = QSettings(str(Path(tempfile.gettempdir()) / "twinroom-replay-window.ini"),
                             QSettings.Format.IniFormat)
        w = MainWindow(client, bridge, settings=settings, room=f"{room} — replay", name=self.window.user_name,
                       color=self.window.user_color, endpoint=self.window.endpoint)
        panel = ReplayPanel(w, replay, client, self._fork)
        dock = QDockWidget("Timeline", w)
        dock.setObjectName("dock_timeline")
        dock.setWidget(panel)
        w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        w.docks["Timeline"] = dock
        w.destroyed.connect(lambda *_: panel.close_replay())
        self.replays.append((w, panel, bridge))
        w.show()
        panel.seek(t0)
        log.info("replay of %s opened in %.3f s (%d ops, %d marks)", room, time.monotonic() - started,
                 replay.index.head_seq, len(replay.index.marks))
        return w, panel

    def _fork(self, name: str, doc: Document) -> str | None:
        from twin_app.net import SyncClient

        creds = getattr(self.window.client, "credentials", None)
        if creds is None:
            return "no server"
        endpoint, token, key = creds()
        client = SyncClient(endpoint, name, token, self.window.user_name, server_key=key)
        try:
            client.start()
            if not client.wait_for(lambda: client.state == "live", 15):
                return client.state_detail or "the server did not answer"
            if len(client.store.doc) > 1:
                return f"room “{name}” already exists"
            refused: list[str] = []
            client.on_nack.append(lambda _p, _c, reason: refused.append(reason))
            for op in fork_ops(doc):
                client.submit(op, "fork")
            if not client.wait_for(lambda: client.unacked_count == 0, 60):
                return "the server did not take the new room in time"
            if refused:
                return refused[0]
        finally:
            client.close()
        if self.open_forked:
            self.window.open_room(endpoint, name, token, key or "")
        return None

    def close(self) -> None:
        for _w, panel, bridge in self.replays:
            panel.pause()
            bridge.detach()
        if self.link is not None:
            self.link.close()
            self.link = None


def peers_of(client: ReplayClient) -> Mapping[str, Peer]:
    return client.peers

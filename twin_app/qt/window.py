"""The main window: viewport in the middle, docks around it, menus, toolbar, status bar.

Design notes
------------
* Every user edit goes through ``MainWindow.dispatch(op, label)``: a role check (the same
  ``permissions.refusal`` the server runs), then ``client.submit``. An ``InvalidOp`` or a
  refusal is shown (status bar + toast), never raised into Qt.
* Views observe the store through ``ClientBridge.sig_changes``; a ChangeSet is routed to
  the tree (incremental rows), inspector, comments and viewport. The window never pushes
  values into views after an edit: the edit's ChangeSet does it, as for remote edits.
* A 3D handle drag sends a transform op at most every ``DRAG_INTERVAL_MS`` (others see
  the part move live) and a final op on release; ``twin_app.session.drag.HandleDrag`` then
  folds the drag's undo entries into one ("Undo Move Robot 1") back to the pre-drag transform.
* Selection lives here (``self.selection``) and is pushed to tree, inspector, viewport
  highlight and presence; each view reports user changes with a signal.
* Status bar: connection state (coloured), room, seq (last/head), pending edits, share
  address, follow indicator and the notification count. Offline edits just stay pending
  and count down when the connection is back; nothing modal gets in the way.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QProcess, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from twin_app.core.changes import ChangeSet
from twin_app.core.errors import InvalidOp, UndoConflict
from twin_app.core.ids import ROOT_ID
from twin_app.core.ops import AddNode, Op
from twin_app.core.permissions import refusal
from twin_app.core.store import PendingOp
from twin_app.protocol import TRANSIENT
from twin_app.qt.bridge import ClientBridge
from twin_app.qt.comments import CommentsPanel
from twin_app.qt.importer import ImportController
from twin_app.qt.inspector import InspectorPanel
from twin_app.qt.localserver import LocalServer
from twin_app.qt.notify import NotificationArea
from twin_app.qt.people import PeoplePanel
from twin_app.qt.presence import PresenceController
from twin_app.qt.scenetree import OutlinePanel, SceneModel
from twin_app.qt.sensors_ui import SensorsController
from twin_app.qt.share import ShareDialog, ShareInfo
from twin_app.qt.theme import MODES, apply_theme
from twin_app.qt.viewport import Viewport
from twin_app.render.handle import HandleMode
from twin_app.session import commands
from twin_app.session.drag import HandleDrag
from twin_app.session.facade import Client

log = logging.getLogger(__name__)
DRAG_INTERVAL_MS = 60
STATE_STYLE = {
    "live": ("#22a05a", "Live"),
    "syncing": ("#d9902a", "Syncing"),
    "connecting": ("#d9902a", "Connecting"),
    "offline": ("#8a8f99", "Offline — edits are kept"),
    "failed": ("#d64545", "Connection failed"),
    "closed": ("#8a8f99", "Closed"),
}
STANDARD_VIEWS = (("Isometric", "iso", "0"), ("Top", "top", "7"), ("Front", "front", "1"),
                  ("Right", "right", "3"), ("Back", "back", "Ctrl+1"),
                  ("Left", "left", "Ctrl+3"), ("Bottom", "bottom", "Ctrl+7"))
MAX_RECENT = 8


class MainWindow(QMainWindow):
    """The Twinroom desktop window for one room."""

    sig_scene_ready = Signal()  # every mesh in the document is here and drawn once
    sig_keep_hosting = Signal()  # closing, but the room it hosts should stay open for others

    def __init__(self, client: Client, bridge: ClientBridge, *, settings: QSettings,
                 room: str = "demo", name: str = "You",
                 color: tuple[float, float, float] = (0.2, 0.5, 0.9),
                 share: ShareInfo | None = None, endpoint: str = "",
                 hosts_room: bool = False,
                 local_server: LocalServer | None = None) -> None:
        """``hosts_room``: the room is served from this process (the embedded server), so
        closing the window would end it for everyone."""
        super().__init__()
        self.hosts_room = hosts_room
        self._close_decided = False
        self.close_box: QMessageBox | None = None
        self.client = client
        self.bridge = bridge
        self.settings = settings
        self.room = room
        self.user_name = name
        self.user_color = color
        self.share = share
        self.endpoint = endpoint
        self.local_server = local_server  # the embedded server this window started
        if local_server is not None:
            self.share = local_server.info()
            local_server.sig_message.connect(self.show_message)
            local_server.sig_shared.connect(self._on_shared)
        self.selection: list[str] = []
        self._drag: HandleDrag | None = None
        self._help: QDialog | None = None
        self._bridged = False  # the bridge's signals are connected to this window
        self._ready_emitted = False
        self.replays: Any = None  # twin_app.qt.replays.ReplayBrowser, made when first used
        # Qt appends the application display name: "demo — Ada Lin — Twinroom".
        self.setWindowTitle(f"{room} — {name}")
        self.resize(1400, 880)

        # -- central area: viewport + toasts -------------------------------------------
        self.viewport = Viewport(self, mesh_source=self.client.assets.get)
        central = QWidget(self)
        clay = QVBoxLayout(central)
        clay.setContentsMargins(0, 0, 0, 0)
        clay.addWidget(self.viewport)
        self.setCentralWidget(central)
        self.notes = NotificationArea(central)

        # -- panels --------------------------------------------------------------------
        def get_doc() -> Any:
            return self.client.store.doc

        self.scene_model = SceneModel(get_doc, self.dispatch, self)
        self.outline = OutlinePanel(self.scene_model)
        self.inspector = InspectorPanel(get_doc, self.dispatch)
        self.people = PeoplePanel()
        self.comments = CommentsPanel(get_doc, self.dispatch, self._comment_context)
        self.presence = PresenceController(client, self.viewport, self.notes, self)
        self.importer = ImportController(self, self._apply_import, settings=self.settings)

        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("Scene", self.outline, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("People", self.people, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Comments", self.comments, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Notifications", self.notes.list, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.docks["Notifications"].hide()
        self.sensor_ui = SensorsController(self)
        self.sensor_ui.add_docks()
        self.resizeDocks([self.docks["Scene"], self.docks["People"]], [560, 200],
                         Qt.Orientation.Vertical)
        self.resizeDocks([self.docks["Inspector"], self.docks["Comments"]], [600, 240],
                         Qt.Orientation.Vertical)
        # Wide enough for the names of a plant two levels deep and for the people list.
        self.resizeDocks([self.docks["Scene"], self.docks["Inspector"]], [330, 330],
                         Qt.Orientation.Horizontal)

        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._connect()
        self._restore_settings()

        self.viewport.set_document(self.client.store.doc)
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(250)
        self._status_timer.timeout.connect(self.update_status)
        self._status_timer.start()
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(DRAG_INTERVAL_MS)
        self._drag_timer.timeout.connect(self._flush_drag)
        self._update_edit_actions()
        self._on_presence_changed()
        self.update_status()

    # ================================================================= construction ==
    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.lower()}")
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock

    def _act(self, text: str, slot: Any,
             shortcut: str | QKeySequence | QKeySequence.StandardKey | None = None,
             tip: str = "", checkable: bool = False) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if tip:
            act.setStatusTip(tip)
            act.setToolTip(f"{tip} ({act.shortcut().toString()})" if shortcut else tip)
        act.setCheckable(checkable)
        if checkable:
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False: slot())
        return act

    def _build_actions(self) -> None:
        a = self._act
        self.act_import = a("&Import…", self.import_dialog, QKeySequence.StandardKey.Open,
                            "Import STEP, STL, OBJ, PLY, OFF, glTF/GLB, 3MF or COLLADA parts")
        self.act_export = a("&Export Scene as GLB…", self.export_dialog, "Ctrl+E",
                            "Export the whole scene to a binary glTF file")
        self.act_share = a("&Share…", self.show_share, "Ctrl+Shift+S",
                           "Show the address and token others need to join")
        self.act_connect = a("&Connect to Room…", self.connect_dialog, None,
                             "Join a room on another server (opens a new window)")
        self.act_replays = a("&Replays…", self.show_replays, "Ctrl+Shift+R",
                             "Play back recorded sessions of this server's rooms")
        self.act_quit = a("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_undo = a("&Undo", self.undo, QKeySequence.StandardKey.Undo, "Undo your last edit")
        self.act_redo = a("&Redo", self.redo, "Ctrl+Shift+Z", "Redo your last undone edit")
        self.act_redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.act_delete = a("&Delete", self.delete_selection, QKeySequence.StandardKey.Delete,
                            "Delete the selected parts")
        self.act_duplicate = a("D&uplicate", self.duplicate_selection, "Ctrl+D",
                               "Duplicate the selected parts")
        self.act_group = a("&Group", self.group_selection, "Ctrl+G",
                           "Put the selected parts into a new group")
        self.act_rename = a("Re&name", self.rename_selection, "F2", "Rename the selected part")
        self.act_select_all = a("Select &All", self.select_all, QKeySequence.StandardKey.SelectAll)
        self.act_select_none = a("Select &None", lambda: self.set_selection([]), "Escape")
        self.act_comment = a("Add &Comment", self.start_comment, "Ctrl+Alt+M",
                             "Comment on the selected part with the current view")
        self.act_fit = a("&Fit View", self.viewport.fit_view, "F", "Show the whole plant")
        self.act_fit_sel = a("Fit &Selection", self.viewport.fit_selection, "Shift+F",
                             "Zoom to the selected parts")
        self.view_actions = []
        for label, key, shortcut in STANDARD_VIEWS:
            self.view_actions.append(
                a(label, lambda k=key: self.viewport.set_standard_view(k), shortcut,
                  f"{label} view"))
        self.act_grid = a("&Grid and Axes", self._on_grid_toggled, "G",
                          "Show the floor grid and axes", checkable=True)
        self.act_grid.setChecked(True)
        self.mode_group = QActionGroup(self)
        self.act_mode_select = a("Select", _if_checked(lambda: self.set_handle_mode(None)), "Q",
                                 "Select parts (no handle)", checkable=True)
        self.act_mode_move = a("Move", _if_checked(lambda: self.set_handle_mode("move")), "W",
                               "Move the selection with the 3D handle", checkable=True)
        self.act_mode_rotate = a("Rotate", _if_checked(lambda: self.set_handle_mode("rotate")), "E",
                                 "Rotate the selection with the 3D handle", checkable=True)
        for act in (self.act_mode_select, self.act_mode_move, self.act_mode_rotate):
            self.mode_group.addAction(act)
        self.act_mode_select.setChecked(True)
        self.act_snap = a("S&nap", self.set_snapping, "Ctrl+Shift+X",
                          "Snap moves and rotations to the step sizes", checkable=True)
        self.orbit_group = QActionGroup(self)
        self.orbit_actions: dict[str, QAction] = {}
        for style, tip in (("turntable", "Left-drag turns about the vertical axis; Z stays up"),
                           ("trackball", "Left-drag tumbles freely in every direction")):
            act = a(style.capitalize(), _if_checked(functools.partial(self.set_orbit, style)), None, tip,
                    checkable=True)
            self.orbit_group.addAction(act)
            self.orbit_actions[style] = act
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for mode in MODES:
            act = a(mode.capitalize(), _if_checked(functools.partial(self.set_theme, mode)), None,
                    checkable=True)
            self.theme_group.addAction(act)
            self.theme_actions[mode] = act
        self.act_present = a("&Present", self.presence.set_presenting, None,
                             "Invite everyone to follow your view", checkable=True)
        self.act_stop_follow = a("Stop &Following", self.presence.stop_following, None)
        self.act_identity = a("Your &Name…", self.edit_identity, None,
                              "Change the name others see (used when you next join)")
        self.act_camera_ar = a("Camera &AR…", self.show_camera_ar, None,
                               "Overlay the model on a webcam or a video of the fixture")
        self.act_help = a("Twinroom &Help", self.show_help, QKeySequence.StandardKey.HelpContents,
                          "Mouse, keys and how to invite someone")
        self.act_about = a("&About Twinroom", self.show_about)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(self.act_import)
        m.addAction(self.act_export)
        m.addSeparator()
        m.addAction(self.act_share)
        m.addAction(self.act_connect)
        m.addAction(self.act_replays)
        self.recent_menu = m.addMenu("&Recent Rooms")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Edit")
        self.edit_menu = m
        for act in (self.act_undo, self.act_redo, None, self.act_rename, self.act_duplicate,
                    self.act_group, self.act_delete, None, self.act_select_all,
                    self.act_select_none, None, self.act_comment):
            m.addSeparator() if act is None else m.addAction(act)
        m = mb.addMenu("&View")
        m.addAction(self.act_fit)
        m.addAction(self.act_fit_sel)
        views = m.addMenu("Standard &Views")
        for act in self.view_actions:
            views.addAction(act)
        m.addAction(self.act_grid)
        for act in self.sensor_ui.view_actions:
            m.addAction(act)
        m.addSeparator()
        for act in (self.act_mode_select, self.act_mode_move, self.act_mode_rotate, self.act_snap):
            m.addAction(act)
        orbit = m.addMenu("&Orbit")
        for act in self.orbit_actions.values():
            orbit.addAction(act)
        m.addSeparator()
        theme = m.addMenu("&Theme")
        for act in self.theme_actions.values():
            theme.addAction(act)
        m.addAction(self.act_camera_ar)
        panels = m.addMenu("&Panels")
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())
        m = mb.addMenu("&People")
        m.addAction(self.act_present)
        m.addAction(self.act_stop_follow)
        m.addSeparator()
        m.addAction(self.act_identity)
        m = mb.addMenu("&Help")
        m.addAction(self.act_help)
        m.addAction(self.act_about)

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("toolbar_main")
        tb.setMovable(False)
        for act in (self.act_undo, self.act_redo):
            tb.addAction(act)
        tb.addSeparator()
        for act in (self.act_mode_select, self.act_mode_move, self.act_mode_rotate):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_snap)
        self.snap_move = QDoubleSpinBox()
        self.snap_move.setRange(0.001, 100.0)
        self.snap_move.setDecimals(3)
        self.snap_move.setSuffix(" m")
        self.snap_move.setValue(0.1)
        self.snap_move.setToolTip("Move snapping step")
        self.snap_rot = QDoubleSpinBox()
        self.snap_rot.setRange(0.1, 180.0)
        self.snap_rot.setDecimals(1)
        self.snap_rot.setSuffix("°")
        self.snap_rot.setValue(15.0)
        self.snap_rot.setToolTip("Rotation snapping step")
        self.snap_move.valueChanged.connect(lambda *_: self._apply_snap_steps())
        self.snap_rot.valueChanged.connect(lambda *_: self._apply_snap_steps())
        tb.addWidget(self.snap_move)
        tb.addWidget(self.snap_rot)
        tb.addSeparator()
        tb.addAction(self.act_fit)
        tb.addAction(self.view_actions[0])
        tb.addAction(self.view_actions[1])
        tb.addAction(self.view_actions[2])
        tb.addSeparator()
        tb.addAction(self.act_comment)
        tb.addAction(self.act_share)
        self.toolbar = tb

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.state_label = QLabel()
        self.room_label = QLabel()
        self.seq_label = QLabel()
        self.pending_label = QLabel()
        for w in (self.state_label, self.room_label, self.seq_label, self.pending_label):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)
        self.follow_box = QWidget()
        fl = QHBoxLayout(self.follow_box)
        fl.setContentsMargins(6, 0, 6, 0)
        self.follow_label = QLabel()
        self.follow_stop = QPushButton("Stop")
        self.follow_stop.setToolTip("Stop sharing or following the view")
        self.follow_stop.clicked.connect(self._on_follow_stop_clicked)
        fl.addWidget(self.follow_label)
        fl.addWidget(self.follow_stop)
        self.follow_box.hide()
        sb.addPermanentWidget(self.follow_box)
        self.share_btn = QToolButton()
        self.share_btn.setAutoRaise(True)
        self.share_btn.clicked.connect(self.show_share)
        sb.addPermanentWidget(self.share_btn)
        self.bell = QToolButton()
        self.bell.setAutoRaise(True)
        self.bell.setText("Notices")
        self.bell.setToolTip("Show the notification history")
        self.bell.clicked.connect(self._on_bell_clicked)
        sb.addPermanentWidget(self.bell)

    def _bridge_slots(self) -> list[tuple[Any, Any]]:
        b = self.bridge
        return [(b.sig_changes, self._on_store_changes), (b.sig_state, self._on_client_state),
                (b.sig_nack, self._on_client_nack), (b.sig_error, self._on_client_error),
                (b.sig_peers, self.presence.on_peers), (b.sig_asset, self._on_asset_arrived)]

    def _disconnect(self) -> None:
        if self._bridged:
            self._bridged = False
            for signal, slot in self._bridge_slots():
                signal.disconnect(slot)

    def _connect(self) -> None:
        self._bridged = True
        for signal, slot in self._bridge_slots():
            signal.connect(slot)
        self.outline.sig_selection.connect(lambda ids: self.set_selection(ids, source="tree"))
        self.outline.sig_activated.connect(lambda nid: self._fit_to([nid]))
        self.inspector.sig_message.connect(lambda text: self.show_message(text, "warning"))
        self.people.sig_follow.connect(self.presence.follow)
        self.people.sig_stop_follow.connect(self.presence.stop_following)
        self.people.sig_jump.connect(self.presence.jump_to)
        self.people.sig_present.connect(self.act_present.setChecked)
        self.presence.sig_changed.connect(self._on_presence_changed)
        self.comments.sig_goto.connect(self._on_comment_goto)
        self.notes.sig_count.connect(self._on_notice_count)
        vp = self.viewport
        vp.sig_picked.connect(self._on_viewport_picked)
        vp.sig_hovered.connect(self._on_viewport_hovered)
        vp.sig_transform_dragged.connect(self._on_viewport_dragged)
        vp.sig_camera_changed.connect(self.presence.on_camera_changed)

    # ================================================================ settings ==
    def _restore_settings(self) -> None:
        s = self.settings
        geo = s.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = s.value("window/state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        snapping = str(s.value("snap/enabled", "false")).lower() == "true"
        self.snap_move.setValue(float(s.value("snap/move", 0.1)))  # type: ignore[arg-type]
        self.snap_rot.setValue(float(s.value("snap/rotate", 15.0)))  # type: ignore[arg-type]
        self.act_snap.setChecked(snapping)
        self._apply_snap_steps()
        orbit = str(s.value("view/orbit", "turntable"))
        self.orbit_actions.get(orbit, self.orbit_actions["turntable"]).setChecked(True)
        theme = str(s.value("view/theme", "system"))
        self.theme_actions.get(theme, self.theme_actions["system"]).setChecked(True)

    def save_settings(self) -> None:
        """Persist window layout, snapping and theme."""
        s = self.settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("snap/enabled", "true" if self.act_snap.isChecked() else "false")
        s.setValue("snap/move", self.snap_move.value())
        s.setValue("snap/rotate", self.snap_rot.value())
        s.sync()

    def remember_room(self, endpoint: str, room: str, token: str,
                      server_key: str | None = None) -> None:
        """Put a room at the top of the Recent Rooms list."""
        entry = "\t".join([endpoint, room, token, server_key or ""])
        rooms = [r for r in recent_rooms(self.settings) if r != entry]
        self.settings.setValue("rooms/recent", [entry, *rooms][:MAX_RECENT])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        rooms = recent_rooms(self.settings)
        if not rooms:
            act = self.recent_menu.addAction("No recent rooms")
            act.setEnabled(False)
        for entry in rooms:
            endpoint, room, token, key = ([*entry.split("\t"), "", "", ""])[:4]
            act = self.recent_menu.addAction(f"{room} — {endpoint}")
            act.triggered.connect(
                lambda _=False, e=endpoint, r=room, t=token, k=key: self.open_room(e, r, t, k))

    def open_room(self, endpoint: str, room: str, token: str, server_key: str = "") -> None:
        """Open another room in a new window (a separate process keeps rooms independent)."""
        args = ["-m", "twin_app.qt.app", "--connect", endpoint, "--room", room,
                "--name", self.user_name]
        if token:
            args += ["--token", token]
        if server_key:
            args += ["--server-key", server_key]
        QProcess.startDetached(sys.executable, args)
        self.show_message(f"Opening room {room} at {endpoint} in a new window…")

    def others_in_room(self) -> list[str]:
        """Names of the other people in the room now."""
        own = self.client.session
        return sorted(p.name or "someone" for s, p in self.client.peers.items() if s != own)

    def closeEvent(self, event: QCloseEvent) -> None:
        others = self.others_in_room() if self.hosts_room and not self._close_decided else []
        if others:
            # Closing would end the room for them: ask first (window-modal, not blocking).
            event.ignore()
            self._ask_before_closing(others)
            return
        self._close_decided = True
        if self.replays is not None:
            self.replays.close()
        self._disconnect()  # the client may live on (hosting in the background)
        self.save_settings()
        self._status_timer.stop()
        self._drag_timer.stop()
        self.sensor_ui.close()
        # Release the render window now, while its GL context is still valid.
        self.viewport.close()
        super().closeEvent(event)

    def _ask_before_closing(self, others: list[str]) -> None:
        if self.close_box is not None:
            self.close_box.raise_()
            return
        who = others[0] if len(others) == 1 else f"{others[0]} and {len(others) - 1} other" \
            + ("s" if len(others) > 2 else "")
        verb = "is" if len(others) == 1 else "are"
        box = QMessageBox(QMessageBox.Icon.Warning, "Others are in this room",
                          f"{who} {verb} still in room “{self.room}”. It is hosted on this "
                          "computer: if Twinroom stops, the room closes for them.", parent=self)
        keep = box.addButton("Keep Hosting in the Background",
                             QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Close the Room", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(keep)
        box.setInformativeText("In the background the room stays open without a window until "
                               "the last person leaves.")
        box.setWindowModality(Qt.WindowModality.WindowModal)

        def decided(_result: int) -> None:
            self.close_box = None
            clicked = box.clickedButton()
            role = box.buttonRole(clicked) if clicked is not None else None
            if role == QMessageBox.ButtonRole.RejectRole or clicked is None:
                return
            self._close_decided = True
            if clicked is keep:
                self.sig_keep_hosting.emit()
            self.close()

        box.finished.connect(decided)
        self.close_box = box
        box.open()

    # ================================================================== editing ==
    def dispatch(self, op: Op, label: str, *, undoable: bool = True) -> PendingOp | None:
        """Submit a user edit; show (and swallow) a refusal. Returns the pending op, or
        ``None`` if it was refused. ``undoable=False`` keeps it out of the undo history
        (shared structure such as the comments container, which others build on)."""
        role = self.client.role or "owner"
        why = refusal(role, op, self.client.store.doc)
        if why is not None:
            self.show_message(f"You cannot {label[:1].lower() + label[1:]}: {why}.", "warning")
            return None
        try:
            pending = self.client.submit(op, label)
        except InvalidOp as exc:
            self.show_message(f"Could not {label[:1].lower() + label[1:]}: {exc}", "error")
            return None
        if not undoable:
            undo = self.client.store.history.undo_entries
            undo[:] = [e for e in undo if e is not pending.entry]
        self._update_edit_actions()
        return pending

    def undo(self) -> None:
        """Undo my last edit, or say why it cannot be undone."""
        try:
            pending = self.client.undo()
        except UndoConflict as exc:
            self.show_message(str(exc), "warning")
        else:
            if pending is not None:
                self.statusBar().showMessage(f"Undid {pending.label}", 3000)
        self._update_edit_actions()

    def redo(self) -> None:
        """Redo my last undone edit, or say why it cannot be redone."""
        try:
            pending = self.client.redo()
        except UndoConflict as exc:
            self.show_message(str(exc), "warning")
        else:
            if pending is not None:
                self.statusBar().showMessage(f"Redid {pending.label}", 3000)
        self._update_edit_actions()

    def _update_edit_actions(self) -> None:
        hist = self.client.store.history
        u, r = hist.undo_label(), hist.redo_label()
        self.act_undo.setText(f"&Undo {u}" if u else "&Undo")
        self.act_undo.setEnabled(u is not None)
        self.act_redo.setText(f"&Redo {r}" if r else "&Redo")
        self.act_redo.setEnabled(r is not None)
        # The toolbar keeps short fixed labels (no jumping buttons); the edit is in the tip.
        self.act_undo.setIconText("Undo")
        self.act_undo.setToolTip(f"Undo {u} (Ctrl+Z)" if u else "Nothing to undo")
        self.act_redo.setIconText("Redo")
        self.act_redo.setToolTip(f"Redo {r} (Ctrl+Shift+Z)" if r else "Nothing to redo")
        has_sel = any(i in self.client.store.doc for i in self.selection)
        for act in (self.act_delete, self.act_duplicate, self.act_group, self.act_fit_sel):
            act.setEnabled(has_sel)
        self.act_rename.setEnabled(len(self.selection) == 1 and has_sel)

    def delete_selection(self) -> None:
        """Delete the selected nodes."""
        cmd = commands.delete(self.client.store.doc, self.selection)
        if cmd is not None and self.dispatch(*cmd) is not None:
            self.set_selection([])

    def duplicate_selection(self) -> None:
        """Duplicate the selected nodes and select the copies."""
        res = commands.duplicate(self.client.store.doc, self.selection)
        if res is not None:
            op, label, new_ids = res
            if self.dispatch(op, label) is not None:
                self.set_selection(new_ids)

    def group_selection(self) -> None:
        """Group the selected nodes and select the group."""
        res = commands.group(self.client.store.doc, self.selection)
        if res is not None:
            op, label, gid = res
            if self.dispatch(op, label) is not None:
                self.set_selection([gid])
                self.outline.edit_name(gid)

    def rename_selection(self) -> None:
        """Edit the selected node's name in the scene tree."""
        if len(self.selection) == 1:
            self.docks["Scene"].show()
            self.outline.edit_name(self.selection[0])

    def select_all(self) -> None:
        """Select every part (not groups or comments)."""
        doc = self.client.store.doc
        self.set_selection([n.id for n in doc.walk() if n.kind == "part"
                            and not doc.is_ancestor(commands.COMMENTS_ID, n.id)])

    def start_comment(self) -> None:
        """Post the text in the Comments editor, or show the editor focused to write one."""
        self.docks["Comments"].show()
        self.docks["Comments"].raise_()
        if self.comments.editor.toPlainText().strip():
            self.comments.add_thread()
            return
        self.comments.editor.setFocus()
        where = (f"on {commands.display_name(self.client.store.doc, self.selection[0])}"
                 if self.selection else "at the point you look at")
        self.statusBar().showMessage(f"Write your comment {where}, then press Ctrl+Enter", 8000)

    # ============================================================== selection ==
    def set_selection(self, ids: Sequence[str], source: str = "") -> None:
        """Select ``ids`` everywhere (tree, inspector, viewport, presence)."""
        doc = self.client.store.doc
        ids = [i for i in dict.fromkeys(ids) if i in doc and i != ROOT_ID]
        if ids == self.selection:
            return
        self.selection = ids
        if source != "tree":
            self.outline.set_selection(ids)
        self.inspector.set_ids(ids)
        self.viewport.visual.set_selection(ids)
        self.sensor_ui.on_selection(ids)
        self.presence.publish_selection(ids)
        self._update_edit_actions()
        self.viewport.request_render()

    def _on_viewport_picked(self, node_id: object, additive: bool) -> None:
        nid = node_id if isinstance(node_id, str) else None
        node = self.client.store.doc.get(nid) if nid else None
        if node is not None and node.kind == "material" and node.parent is not None:
            nid = node.parent  # one block of a multi-material part: the part is what is meant
        if additive:
            if nid is None:
                return
            sel = [i for i in self.selection if i != nid]
            if nid not in self.selection:
                sel.append(nid)
            self.set_selection(sel, source="viewport")
        else:
            self.set_selection([nid] if nid else [], source="viewport")

    def _on_viewport_hovered(self, node_id: object) -> None:
        # The viewport highlights the hovered part itself; show where it sits in the tree.
        if isinstance(node_id, str) and node_id in self.client.store.doc:
            self.statusBar().showMessage(" / ".join(self.client.store.doc.path(node_id)), 2000)

    def _fit_to(self, ids: Sequence[str]) -> None:
        self.set_selection(ids)
        self.viewport.fit_selection()

    # ================================================================ handles ==
    def set_handle_mode(self, mode: HandleMode | None) -> None:
        """Show the move or rotate handle on the selection (``None``: plain selection)."""
        self.viewport.set_handle_mode(mode)
        {None: self.act_mode_select, "move": self.act_mode_move,
         "rotate": self.act_mode_rotate}[mode].setChecked(True)

    def set_snapping(self, on: bool) -> None:
        """Turn snapping of handle drags (and inspector arrow steps) on or off."""
        self.viewport.set_snapping(on)
        self._apply_snap_steps()

    def _apply_snap_steps(self) -> None:
        on = self.act_snap.isChecked()
        self.inspector.set_steps(self.snap_move.value() if on else 0.1,
                                 self.snap_rot.value() if on else 15.0)
        self.viewport.set_snap_steps(self.snap_move.value(), self.snap_rot.value())

    def _on_viewport_dragged(self, node_id: str, transform: tuple[float, ...],
                             finished: bool) -> None:
        store = self.client.store
        if node_id not in store.doc:
            return
        if self._drag is None or self._drag.node_id != node_id:
            verb = "Rotate" if self.act_mode_rotate.isChecked() else "Move"
            self._drag = HandleDrag.begin(store, node_id, verb)
        assert self._drag is not None
        self._drag.move_to(transform)
        if finished:
            self._drag_timer.stop()
            self._finish_drag()
        elif not self._drag_timer.isActive():
            self._flush_drag()
            self._drag_timer.start()

    def _flush_drag(self) -> None:
        d = self._drag
        op = d.step(self.client.store) if d is not None else None
        if d is not None and op is not None:
            self.dispatch(op, d.label)

    def _finish_drag(self) -> None:
        d, self._drag = self._drag, None
        store = self.client.store
        if d is None or d.node_id not in store.doc:
            return
        op = d.step(store)
        if op is not None and self.dispatch(op, d.label) is None:
            return
        d.finish(store)
        self._update_edit_actions()

    # ================================================================ inbound ==
    def _on_store_changes(self, changes: ChangeSet) -> None:
        doc = self.client.store.doc
        self.outline.apply_changes(changes)
        self.viewport.on_changes(doc, changes)
        self.sensor_ui.on_changes(doc, changes)
        self.inspector.on_changes(changes)
        self.comments.on_changes(changes)
        if any(i not in doc for i in self.selection):
            self.set_selection([i for i in self.selection if i in doc])
        self._update_edit_actions()
        if changes.reset:
            self.outline.view.expandToDepth(0)
            self._check_ready()

    def _on_asset_arrived(self, digest: str) -> None:
        self.viewport.visual.mesh_arrived(self.client.store.doc, digest)
        self.viewport.request_render()
        self._check_ready()

    def missing_meshes(self) -> set[str]:
        """Mesh hashes the document uses that are not drawn yet (not arrived, or arrived
        but not yet handed to the view)."""
        return self.viewport.visual.placeholder_meshes()

    def scene_ready(self) -> bool:
        """True once the room is loaded and every mesh it uses is drawn."""
        return self.client.synced and len(self.client.store.doc) > 1 and not self.missing_meshes()

    def _check_ready(self) -> None:
        if not self._ready_emitted and self.scene_ready():
            self._ready_emitted = True
            self.viewport.fit_view()
            self.viewport.request_render()
            # Others see where I look from the start, not only after I first move.
            self.presence.on_camera_changed(self.viewport.camera())
            self.sig_scene_ready.emit()

    def _on_client_state(self, state: str, detail: str) -> None:
        self.update_status()
        if state == "failed":
            self.show_message(f"Could not join the room: {detail or 'connection failed'}", "error")
        elif state == "offline":
            self.statusBar().showMessage("Offline — your edits are kept and sent on reconnect",
                                         5000)
        elif state == "live":
            self._check_ready()

    def _on_client_nack(self, pending: PendingOp, code: str, reason: str) -> None:
        if (code == "exists" and isinstance(pending.op, AddNode)
                and pending.op.node.id == commands.COMMENTS_ID):
            return  # someone created it a moment before us: our comment lands in theirs
        self.show_message(f"Your change “{pending.label}” was refused: {reason}", "error")
        self._update_edit_actions()

    def _on_client_error(self, code: str, reason: str) -> None:
        if code in TRANSIENT:  # nothing is lost: the edits are resent
            self.show_message(f"The server asked to wait: {reason}", "warning")
            return
        self.show_message(f"Server error ({code}): {reason}", "error")

    def _on_comment_goto(self, camera: object, target: object) -> None:
        if isinstance(target, str):
            self.set_selection([target])
        if isinstance(camera, tuple) and len(camera) == 9:
            self.viewport.set_camera(camera)

    def _comment_context(self) -> tuple[str, tuple[float, ...], list[str]]:
        return self.user_name, tuple(self.viewport.camera()), list(self.selection)

    def _on_presence_changed(self) -> None:
        p = self.presence
        me = {"name": self.user_name, "role": self.client.role or "",
              "color": self.user_color, "state": self.client.state}
        own = self.client.session
        others = [peer for peer in self.client.peers.values() if peer.session != own]
        self.people.set_people(me, others, p.following, p.statuses())
        self.people.set_presenting(p.presenting)
        self.act_present.blockSignals(True)
        self.act_present.setChecked(p.presenting)
        self.act_present.blockSignals(False)
        followers = [p._name(s) for s in p.followers()]
        text = ""
        if followers:
            text = f"Being followed by {', '.join(followers)}"
        elif p.following is not None:
            who = p._name(p.following)
            text = (f"Following {who}" if p.active_target() is not None
                    else f"Waiting for {who} to allow following")
        self.follow_label.setText(text)
        self.follow_box.setVisible(bool(text))
        self.act_stop_follow.setEnabled(p.following is not None)

    def edit_identity(self) -> None:
        """Ask for a new display name (non-blocking: a window-modal input dialog)."""
        from PySide6.QtWidgets import QInputDialog

        dlg = QInputDialog(self)
        dlg.setWindowTitle("Your name")
        dlg.setLabelText("The name others see in the room:")
        dlg.setTextValue(self.user_name)
        dlg.setWindowModality(Qt.WindowModality.WindowModal)
        dlg.textValueSelected.connect(self.set_identity)
        dlg.open()

    def set_identity(self, name: str) -> None:
        """Remember ``name`` for the next join."""
        name = name.strip()
        if name and name != self.user_name:
            self.settings.setValue("user/name", name)
            self.show_message(f"Others will see you as “{name}” the next time you join.")

    def _on_follow_stop_clicked(self) -> None:
        if self.presence.followers():
            self.presence.stop_followers()
        else:
            self.presence.stop_following()

    # ================================================================= status ==
    def show_message(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the status bar and as a (non-blocking) toast."""
        log.info("%s: %s", level, text)
        self.statusBar().showMessage(text, 8000)
        self.notes.notify(text, level, timeout_ms=8000 if level != "error" else 12000)

    def _on_notice_count(self, n: int) -> None:
        self.bell.setText(f"Notices ({n})" if n else "Notices")

    def _on_bell_clicked(self) -> None:
        dock = self.docks["Notifications"]
        dock.setVisible(not dock.isVisible())
        self.notes.mark_read()

    def update_status(self) -> None:
        """Refresh the status bar from the client."""
        state = self.client.state
        color, text = STATE_STYLE.get(state, ("#8a8f99", state.capitalize()))
        self.state_label.setText(f"<span style='color:{color}'>●</span> {text}")
        self.state_label.setToolTip(self.client.state_detail or text)
        self.room_label.setText(f"Room <b>{self.room}</b>")
        store = self.client.store
        head = max(self.client.head_seq, store.last_seq)
        self.seq_label.setText(f"seq {store.last_seq}/{head}")
        # "Saved" means acknowledged, i.e. on the server's disk, not merely sent.
        n = self.client.unacked_count
        storage_error = self.client.storage_error
        if storage_error:
            self.pending_label.setText(
                f"<span style='color:#d9534f'>Server cannot save edits ({storage_error})</span>"
                f" · {n} waiting")
        else:
            self.pending_label.setText(f"{n} edit{'s' if n != 1 else ''} pending" if n
                                       else "All edits saved")
        if self.local_server is not None and not self.local_server.shared:
            self.share_btn.setText("This computer only · Share…")
        elif self.share is not None:
            self.share_btn.setText(f"Share: {self.share.address}")
        else:
            self.share_btn.setText(self.endpoint or "Local")

    def show_share(self) -> ShareDialog | None:
        """Show how others can join (address, room, token, server key).

        While the local server listens on this computer only, ask first whether to open
        it to the network (``local_server.prompt``); the details follow once it is.
        """
        if self.local_server is not None and not self.local_server.shared:
            self.local_server.ask_to_share(self)
            return None
        if self.share is None:
            self.show_message("This room is not shared from this computer.")
            return None
        dlg = ShareDialog(self.share, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        return dlg

    def _on_shared(self, info: ShareInfo) -> None:
        self.share = info
        self.update_status()
        self.show_share()

    def show_help(self) -> QDialog:
        """Open the help page (mouse, keys, inviting someone) beside the window, or bring it
        to the front: there is one help page per window, however often F1 is pressed."""
        from twin_app.qt.help import HelpDialog

        if self._help is None:
            self._help = HelpDialog(self.findChildren(QAction), self)
        self._help.show()
        self._help.raise_()
        self._help.activateWindow()
        return self._help

    def show_camera_ar(self) -> QWidget:
        """Open (or raise) the Camera AR window."""
        from twin_app.qt.arcam import CameraARWindow

        if getattr(self, "camera_ar", None) is None:
            self.camera_ar = CameraARWindow(self, self.settings)
        self.camera_ar.show()
        self.camera_ar.raise_()
        return self.camera_ar

    def show_about(self) -> QMessageBox:
        """Show the version and licence."""
        from twin_app.qt.help import about_html

        box = QMessageBox(QMessageBox.Icon.Information, "About Twinroom", about_html(),
                          QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return box

    def set_orbit(self, style: str) -> None:
        """Orbit as a Z-up turntable or a free trackball, and remember it."""
        self.viewport.set_orbit(style)
        self.settings.setValue("view/orbit", style)

    def set_theme(self, mode: str) -> None:
        """Switch the theme (system, light or dark) and remember it."""
        app = QApplication.instance()
        if isinstance(app, QApplication):
            dark = apply_theme(app, mode)
            self.viewport.set_dark(dark)
        self.settings.setValue("view/theme", mode)

    def _on_grid_toggled(self, on: bool) -> None:
        self.viewport.set_grid_visible(on)
        self.viewport.request_render()

    def grab_screenshot(self, path: Path) -> None:
        """Write a PNG of the whole window, with the 3D view as VTK rendered it."""
        import tempfile

        from PySide6.QtGui import QImage, QPainter

        QApplication.processEvents()
        self.viewport.request_render()
        QApplication.processEvents()
        image = self.grab().toImage()
        with tempfile.TemporaryDirectory() as tmp:
            shot = Path(tmp) / "viewport.png"
            self.viewport.screenshot(shot)
            view = QImage(str(shot))
        if not view.isNull():
            top_left = self.viewport.mapTo(self, self.viewport.rect().topLeft())
            ratio = image.devicePixelRatio() or 1.0
            painter = QPainter(image)
            target = self.viewport.rect().translated(top_left)
            painter.drawImage(target, view.scaled(int(target.width() * ratio),
                                                  int(target.height() * ratio)))
            # Toasts sit above the 3D view: paint them again on top.
            box = self.notes.box
            if box.isVisible() and box.width() > 0:
                painter.drawPixmap(box.mapTo(self, box.rect().topLeft()), box.grab())
            painter.end()
        path.parent.mkdir(parents=True, exist_ok=True)
        # PySide6 takes the format as text and refuses bytes, which its stubs ask for.
        image.save(str(path), "PNG")  # type: ignore[call-overload]

    # ============================================================ import/export ==
    def import_dialog(self) -> None:
        """Ask for a mesh file and import it."""
        from twin_app.io.importers import SUPPORTED_SUFFIXES

        pattern = " ".join(f"*{s}" for s in SUPPORTED_SUFFIXES)
        start = str(self.settings.value("paths/import", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Import parts", start,
                                              f"3D models ({pattern});;All files (*)")
        if path:
            self.settings.setValue("paths/import", str(Path(path).parent))
            self.import_path(Path(path))

    def import_path(self, path: Path) -> None:
        """Import ``path`` in a worker thread (progress dialog with Cancel)."""
        if self.importer.busy:
            self.show_message("An import is already running.", "warning")
            return
        self.importer.start(path)

    def _apply_import(self, result: Any) -> list[str] | None:
        """Add an import where the user is looking: standing on the floor, clear of other
        equipment, then selected and framed."""
        from twin_app.io.importers import import_ops

        doc = self.client.store.doc
        for blob in result.blobs.values():
            self.client.assets.put(blob)
        bounds = result.bounds()
        at = None
        if bounds is not None:
            lo, hi = bounds
            x, y = commands.free_spot(hi - lo, self.viewport.floor_point(),
                                      self.viewport.visual.occupied)
            center = (lo + hi) / 2
            at = (float(x - center[0]), float(y - center[1]), float(-lo[2]))
        batch = import_ops(result, doc, ROOT_ID, at)
        label = f"Import {result.source}"
        if self.dispatch(batch, label) is None:
            return None
        new_ids = [o.node.id for o in batch.ops[:1]]  # type: ignore[union-attr]
        for blob_hash in result.blobs:
            self.viewport.visual.mesh_arrived(self.client.store.doc, blob_hash)
        self.set_selection(new_ids)
        self.viewport.fit_selection()
        n = result.part_count
        self.show_message(f"Imported {n} part{'s' if n != 1 else ''} from {result.source} "
                          f"({result.units})", "success")
        return new_ids

    def export_dialog(self) -> None:
        """Export the scene to a GLB file."""
        start = str(self.settings.value("paths/export", str(Path.home() / f"{self.room}.glb")))
        path, _ = QFileDialog.getSaveFileName(self, "Export scene", start, "Binary glTF (*.glb)")
        if path:
            if not path.lower().endswith(".glb"):
                path += ".glb"
            self.settings.setValue("paths/export", path)
            self.export_path(Path(path))

    def export_path(self, path: Path) -> int:
        """Write the scene to ``path`` as GLB and say so; returns the number of parts written
        (0 and an error notice if it could not be written)."""
        from twin_app.io.exporters import MeshExportError, export_glb

        t0 = time.perf_counter()
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            summary = export_glb(self.client.store.doc, self.client.assets.get, path)
        except MeshExportError as exc:
            self.show_message(f"Export failed: {exc}", "error")
            return 0
        finally:
            QApplication.restoreOverrideCursor()
        n = summary.parts
        text = (f"Exported {n} part{'s' if n != 1 else ''} to {path.name} "
                f"in {time.perf_counter() - t0:.1f} s")
        if summary.missing:
            text += f" ({summary.missing} left out: their meshes have not arrived yet)"
        self.show_message(text, "warning" if summary.missing else "success")
        return n

    def show_replays(self) -> Any:
        """Show the recorded sessions of this server's rooms (File ▸ Replays…)."""
        from twin_app.qt.replays import ReplayBrowser

        self.replays = self.replays or ReplayBrowser(self)
        return self.replays.show()

    def connect_dialog(self) -> None:
        """Ask for a server address and room and open it in a new window."""
        from twin_app.qt.connect import ConnectDialog

        dlg = ConnectDialog(self)
        if dlg.exec():
            endpoint, room, token, key = dlg.values()
            self.remember_room(endpoint, room, token, key)
            self.open_room(endpoint, room, token, key)


def _if_checked(slot: Callable[[], object]) -> Callable[[bool], None]:
    """A ``toggled(bool)`` slot that calls ``slot()`` when the action becomes checked."""

    def on_toggled(on: bool) -> None:
        if on:
            slot()

    return on_toggled


def recent_rooms(settings: QSettings) -> list[str]:
    """Recent rooms as tab-separated ``endpoint, room, token, server key`` entries."""
    value = settings.value("rooms/recent", [])
    entries = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    return [str(v) for v in entries if v]

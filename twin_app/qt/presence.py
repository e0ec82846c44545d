"""Presence: publish my selection and camera, draw other people, follow and present.

Who may follow whom is decided by ``twin_app.session.follow.FollowConsent`` (its module
docstring has the consent rules); this controller shows its prompts and notices and mirrors
the camera of the person followed.

Camera updates are coalesced here (at most one every ``CAMERA_INTERVAL_MS``); the client
coalesces presence again to ≤ 30 Hz on the wire.
"""

from __future__ import annotations

import colorsys
import functools
import logging
import math
from collections.abc import Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from twin_app.qt.notify import NotificationArea
from twin_app.qt.viewport import Viewport
from twin_app.render.scene import ACCENT, HOVER
from twin_app.session.facade import Client, Peer
from twin_app.session.follow import FollowConsent, Reconciled

log = logging.getLogger(__name__)
CAMERA_INTERVAL_MS = 80
MIN_HUE_GAP = 0.09  # of the colour wheel (about 32°) between a peer's colour and my highlights


def _same_camera(a: Sequence[float] | None, b: Sequence[float] | None, tol: float = 1e-4) -> bool:
    if a is None or b is None or len(a) != len(b):
        return False
    scale = max(1.0, *(abs(x) for x in a))
    # Position and focal point only: the view-up may be re-orthogonalised by the renderer.
    return all(math.isclose(x, y, abs_tol=tol * scale) for x, y in zip(a[:6], b[:6], strict=True))


def peer_color(peer: Peer) -> tuple[float, float, float]:
    """Return the colour a peer is drawn in (0..1 floats): their own colour, or a stable one
    derived from their session, turned away from the hues of my selection and hover so
    another person's outline is never mistaken for mine."""
    if peer.color is not None:
        rgb = peer.color
    else:
        h = sum(ord(c) * (i + 1) for i, c in enumerate(peer.session))
        palette = ((0.90, 0.35, 0.30), (0.30, 0.65, 0.35), (0.60, 0.40, 0.85),
                   (0.85, 0.35, 0.65), (0.20, 0.45, 0.85))
        rgb = palette[h % len(palette)]
    return distinct_from(rgb, (ACCENT, HOVER))


def _hue_gap(a: float, b: float) -> float:
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


def distinct_from(rgb: tuple[float, float, float],
                  avoid: Sequence[tuple[float, float, float]],
                  min_gap: float = MIN_HUE_GAP) -> tuple[float, float, float]:
    """Return ``rgb``, or the nearest colour of the same saturation and value whose hue is at
    least ``min_gap`` (fraction of the colour wheel) from every colour in ``avoid``. Greys
    are left alone: they cannot be mistaken for a saturated highlight."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    if s < 0.2:
        return rgb
    hues = [colorsys.rgb_to_hsv(*a)[0] for a in avoid]
    if all(_hue_gap(h, a) >= min_gap for a in hues):
        return rgb
    candidates = [(a + sign * min_gap) % 1.0 for a in hues for sign in (-1, 1)]
    ok = [c for c in candidates if all(_hue_gap(c, a) >= min_gap - 1e-9 for a in hues)]
    best = min(ok or candidates, key=lambda c: _hue_gap(c, h))
    r, g, b = colorsys.hsv_to_rgb(best, max(s, 0.55), max(v, 0.6))
    return (r, g, b)


class PresenceController(QObject):
    """Keeps presence in step between the client, the viewport and the UI."""

    sig_changed = Signal()  # people list / follow state changed: refresh the UI

    def __init__(self, client: Client, viewport: Viewport, notes: NotificationArea,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.client = client
        self.viewport = viewport
        self.notes = notes
        self.consent = FollowConsent(client)
        self._drawn: set[str] = set()
        self._present: dict[str, str] | None = None  # session → name, once the room is joined
        self._applied_camera: tuple[float, ...] | None = None
        self._camera: tuple[float, ...] | None = None
        self._camera_timer = QTimer(self)
        self._camera_timer.setSingleShot(True)
        self._camera_timer.setInterval(CAMERA_INTERVAL_MS)
        self._camera_timer.timeout.connect(self._flush_camera)

    @property
    def following(self) -> str | None:
        """The session I asked to follow."""
        return self.consent.following

    @property
    def presenting(self) -> bool:
        """True while I present."""
        return self.consent.presenting

    # -- what I publish ------------------------------------------------------------------
    def publish_selection(self, ids: Sequence[str]) -> None:
        """Tell others what I have selected."""
        self.client.set_presence(selection=list(ids))

    def on_camera_changed(self, camera: Sequence[float]) -> None:
        """My camera moved (viewport signal): publish it, throttled; a manual move while
        following stops following."""
        cam = tuple(float(c) for c in camera)
        if self.following is not None and self.active_target() is not None \
                and self._applied_camera is not None and not _same_camera(cam, self._applied_camera):
            name = self._name(self.following)
            self.stop_following()
            self.notes.notify(f"You moved the view: stopped following {name}.", timeout_ms=3000)
        self._camera = cam
        if not self._camera_timer.isActive():
            self._camera_timer.start()

    def _flush_camera(self) -> None:
        if self._camera is not None:
            self.client.set_presence(camera=list(self._camera))

    # -- intents from the UI ---------------------------------------------------------------
    def follow(self, session: str) -> None:
        """Ask to follow ``session``'s view."""
        if not self.consent.follow(session):
            return
        self._applied_camera = None
        if self.active_target() is None:
            self.notes.notify(f"Asked {self._name(session)} to let you follow their view…",
                              timeout_ms=4000)
        self.on_peers()

    def stop_following(self) -> None:
        """Stop following whoever I follow."""
        self._stopped(self.consent.stop_following())

    def _stopped(self, was: str | None) -> None:
        if was is None:
            return
        self.notes.dismiss(f"present:{was}")
        self._applied_camera = None
        self.sig_changed.emit()

    def allow(self, session: str) -> None:
        """Let ``session`` follow my view."""
        self.consent.allow(session)
        self.notes.dismiss(f"follow-req:{session}")
        self.sig_changed.emit()

    def decline(self, session: str) -> None:
        """Refuse ``session``'s request to follow me (until they ask again)."""
        self.consent.decline(session)
        self.notes.dismiss(f"follow-req:{session}")
        self.sig_changed.emit()

    def stop_followers(self) -> None:
        """Withdraw consent from everyone following me (and stop presenting)."""
        self.consent.stop_followers()
        self.sig_changed.emit()

    def set_presenting(self, on: bool) -> None:
        """Start or stop presenting (inviting everyone to follow)."""
        self.consent.set_presenting(on)
        self.sig_changed.emit()

    def jump_to(self, session: str) -> None:
        """Move my camera to ``session``'s view once (no follow)."""
        peer = self.client.peers.get(session)
        if peer is not None and peer.camera:
            self.viewport.set_camera(tuple(peer.camera))

    # -- state ------------------------------------------------------------------------------
    def _name(self, session: str) -> str:
        return self.consent.name(session)

    def requesters(self) -> list[str]:
        """Sessions asking to follow me."""
        return self.consent.requesters()

    def followers(self) -> list[str]:
        """Sessions actually following me (asked and allowed, or I am presenting)."""
        return self.consent.followers()

    def active_target(self) -> Peer | None:
        """The peer whose camera I mirror now, or ``None`` (not following, or no consent)."""
        return self.consent.active_target()

    def statuses(self) -> dict[str, str]:
        """Status text per session for the People panel (``""`` = me)."""
        return self.consent.statuses()

    # -- inbound ----------------------------------------------------------------------------
    def on_peers(self) -> None:
        """Peers changed: redraw them, handle follow requests, presenters and following.

        The server lists my own session among the peers; it is never drawn (my selection
        and view are drawn as mine, not as someone else's)."""
        me = self.client.session
        peers = {s: p for s, p in self.client.peers.items() if s != me}
        self._notify_arrivals(peers)
        visual = self.viewport.visual
        for s, p in peers.items():
            try:
                visual.set_peer(s, p.name, peer_color(p), list(p.selection), p.camera)
            except (TypeError, ValueError):
                log.exception("cannot draw peer %s", s)
        for s in self._drawn - set(peers):
            visual.remove_peer(s)
        self._drawn = set(peers)
        seen = self.consent.reconcile()
        self._show_requests(seen)
        self._show_presenters(seen)
        if seen.left is not None:
            self.notes.notify("The person you followed has left.", timeout_ms=4000)
            self._stopped(seen.left)
        else:
            self._mirror_target()
        self.sig_changed.emit()

    def _notify_arrivals(self, peers: dict[str, Peer]) -> None:
        """Put joins and leaves in the notices (not for the people already there when I join)."""
        names = {s: p.name or "someone" for s, p in peers.items()}
        if self._present is not None and self.client.state == "live":
            for s in names.keys() - self._present.keys():
                self.notes.notify(f"{names[s]} joined the room.", timeout_ms=4000)
            for s in self._present.keys() - names.keys():
                self.notes.notify(f"{self._present[s]} left the room.", timeout_ms=4000)
        if self.client.synced:
            self._present = names

    def _show_requests(self, seen: Reconciled) -> None:
        for s in seen.prompt:
            key = f"follow-req:{s}"
            if key not in self.notes.toasts:
                self.notes.notify(
                    f"{self._name(s)} asks to follow your view.", "info",
                    actions=[("Allow", functools.partial(self.allow, s)),
                             ("Decline", functools.partial(self.decline, s))],
                    timeout_ms=0, key=key)
        for key in [k for k in self.notes.toasts if k.startswith("follow-req:")]:
            if key.split(":", 1)[1] not in seen.asking:
                self.notes.dismiss(key)

    def _show_presenters(self, seen: Reconciled) -> None:
        for s in seen.offer:
            key = f"present:{s}"
            if key not in self.notes.toasts:
                self.notes.notify(
                    f"{self._name(s)} is presenting — follow?", "info",
                    actions=[("Follow", functools.partial(self.follow, s)),
                             ("Dismiss", functools.partial(self.consent.dismiss_presenter, s))],
                    timeout_ms=0, key=key)
        for key in [k for k in self.notes.toasts if k.startswith("present:")]:
            if key.split(":", 1)[1] not in seen.presenters:
                self.notes.dismiss(key)

    def _mirror_target(self) -> None:
        target = self.active_target()
        if target is None:
            return
        cam = target.camera
        if cam and not _same_camera(tuple(cam), self._applied_camera):
            self._applied_camera = tuple(float(c) for c in cam)
            self.viewport.set_camera(self._applied_camera)

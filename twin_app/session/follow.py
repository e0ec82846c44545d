"""Follow and present: who I follow, who may follow me, and whose camera I mirror.

Consent rules (nobody is watched without saying yes)
----------------------------------------------------
* Follow: A asks to follow B by publishing ``follow=B``. B sees a prompt and allows (B
  publishes ``follow_ok`` containing A) or declines. Only when B's ``follow_ok`` includes A
  (or B is presenting) does A's camera track B's camera. B sees "Being followed by A" with
  a Stop button; stopping removes A from ``follow_ok``. A stops by publishing
  ``follow=None`` — also automatically when A moves the camera, or when B leaves.
* Present: a presenter publishes ``present=True``, which counts as consent for everyone;
  others get a "B is presenting — follow?" prompt and decide for themselves.
* B forgets consent it gave as soon as A no longer asks, so a later request prompts again.

``FollowConsent`` holds this state and publishes it through the client; it shows nothing.
A front end calls ``reconcile()`` when the peers changed and turns what it returns into
prompts and notices, and mirrors ``active_target()``'s camera.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twin_app.session.facade import Client, Peer


@dataclass
class Reconciled:
    """What the user should be shown after the peers changed (``FollowConsent.reconcile``)."""

    asking: set[str] = field(default_factory=set)  # everyone asking to follow me
    prompt: set[str] = field(default_factory=set)  # of those, whom to ask me about
    presenters: set[str] = field(default_factory=set)  # everyone presenting
    offer: set[str] = field(default_factory=set)  # of those, whom to offer to follow
    left: str | None = None  # the person I followed, if they left (following has stopped)


class FollowConsent:
    """Follow requests and consents of this user in one room; see the module docstring."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.following: str | None = None  # session I asked to follow
        self.allowed: set[str] = set()  # sessions I let follow me
        self.declined: set[str] = set()
        self.presenting = False
        self.dismissed_presenters: set[str] = set()

    # -- intents ------------------------------------------------------------------------------
    def follow(self, session: str) -> bool:
        """Ask to follow ``session``; return False (nothing changes) for myself or a stranger."""
        if session == self.client.session or session not in self.client.peers:
            return False
        self.following = session
        self.dismissed_presenters.discard(session)
        self.client.set_presence(follow=session)
        return True

    def stop_following(self) -> str | None:
        """Stop following; return whom I followed (``None`` if nobody)."""
        was, self.following = self.following, None
        if was is not None:
            self.client.set_presence(follow=None)
        return was

    def allow(self, session: str) -> None:
        """Let ``session`` follow my view."""
        self.declined.discard(session)
        self.allowed.add(session)
        self._publish_allowed()

    def decline(self, session: str) -> None:
        """Refuse ``session``'s request to follow me (until they ask again)."""
        self.declined.add(session)
        self.allowed.discard(session)
        self._publish_allowed()

    def stop_followers(self) -> None:
        """Withdraw consent from everyone following me (and stop presenting)."""
        self.declined.update(self.followers())
        self.allowed.clear()
        self._publish_allowed()
        if self.presenting:
            self.set_presenting(False)

    def set_presenting(self, on: bool) -> None:
        """Start or stop presenting (inviting everyone to follow)."""
        self.presenting = on
        self.client.set_presence(present=on)

    def dismiss_presenter(self, session: str) -> None:
        """Do not offer again to follow ``session`` until they present anew."""
        self.dismissed_presenters.add(session)

    def _publish_allowed(self) -> None:
        self.client.set_presence(follow_ok=sorted(self.allowed))

    # -- state --------------------------------------------------------------------------------
    def name(self, session: str) -> str:
        """The name of ``session`` as shown to the user."""
        peer = self.client.peers.get(session)
        return (peer.name if peer is not None else "") or "someone"

    def requesters(self) -> list[str]:
        """Sessions asking to follow me."""
        me = self.client.session
        return [s for s, p in self.client.peers.items() if me and p.follow == me]

    def followers(self) -> list[str]:
        """Sessions actually following me (asked and allowed, or I am presenting)."""
        return [s for s in self.requesters() if s in self.allowed or self.presenting]

    def active_target(self) -> Peer | None:
        """The peer whose camera I mirror now, or ``None`` (not following, or no consent)."""
        if self.following is None:
            return None
        peer = self.client.peers.get(self.following)
        if peer is None:
            return None
        if self.client.session in peer.follow_ok or peer.present:
            return peer
        return None

    def statuses(self) -> dict[str, str]:
        """Status text per session for a people list (``""`` = me)."""
        out: dict[str, str] = {}
        for s, p in self.client.peers.items():
            bits = []
            if p.present:
                bits.append("presenting")
            if s == self.following:
                bits.append("you follow" if self.active_target() is not None else "asked to follow")
            if s in self.followers():
                bits.append("follows you")
            elif s in self.requesters():
                bits.append("asks to follow you")
            out[s] = ", ".join(bits)
        out[""] = "presenting" if self.presenting else ""
        return out

    # -- inbound ------------------------------------------------------------------------------
    def reconcile(self) -> Reconciled:
        """The peers changed: forget consent nobody asks for any more (publishing the change),
        stop following someone who left, and return what to show the user."""
        out = Reconciled(asking=set(self.requesters()))
        if self.allowed - out.asking:
            self.allowed &= out.asking
            self._publish_allowed()
        self.declined &= out.asking
        if not self.presenting:
            out.prompt = out.asking - self.allowed - self.declined
        for s, p in self.client.peers.items():
            if not p.present:
                self.dismissed_presenters.discard(s)
                continue
            out.presenters.add(s)
            if s != self.following and s not in self.dismissed_presenters:
                out.offer.add(s)
        if self.following is not None and self.following not in self.client.peers:
            out.left = self.stop_following()
        return out

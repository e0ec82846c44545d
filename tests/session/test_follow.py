"""Follow consent: nobody is followed without saying yes, and consent ends with the request."""

from __future__ import annotations

from twin_app.session.facade import Peer
from twin_app.session.follow import FollowConsent
from twin_app.session.local import LocalClient


def _room(*peers: Peer) -> tuple[LocalClient, FollowConsent]:
    client = LocalClient(name="Bob")
    client.session = "bob"
    client.peers.update({p.session: p for p in peers})
    client.peers["bob"] = Peer("bob", "c-bob", "Bob", "designer")
    return client, FollowConsent(client)


def test_a_request_prompts_until_allowed_and_allowing_publishes_consent():
    ada = Peer("ada", "c-ada", "Ada", "designer", follow="bob")
    client, consent = _room(ada)
    seen = consent.reconcile()
    assert seen.asking == {"ada"} and seen.prompt == {"ada"}
    assert consent.followers() == []
    consent.allow("ada")
    assert client.presence["follow_ok"] == ["ada"]
    assert consent.followers() == ["ada"]
    assert consent.reconcile().prompt == set()
    assert consent.statuses()["ada"] == "follows you"


def test_consent_is_forgotten_when_the_request_ends():
    ada = Peer("ada", "c-ada", "Ada", "designer", follow="bob")
    client, consent = _room(ada)
    consent.allow("ada")
    ada.follow = None
    consent.reconcile()
    assert consent.allowed == set() and client.presence["follow_ok"] == []
    ada.follow = "bob"
    assert consent.reconcile().prompt == {"ada"}  # asking again prompts again


def test_declined_stays_quiet_until_asked_again():
    ada = Peer("ada", "c-ada", "Ada", "designer", follow="bob")
    _client, consent = _room(ada)
    consent.decline("ada")
    assert consent.reconcile().prompt == set()
    ada.follow = None
    consent.reconcile()
    ada.follow = "bob"
    assert consent.reconcile().prompt == {"ada"}


def test_following_needs_the_other_persons_consent_or_a_presentation():
    ada = Peer("ada", "c-ada", "Ada", "designer", camera=(1.0,) * 9)
    client, consent = _room(ada)
    assert consent.follow("ada") and client.presence["follow"] == "ada"
    assert consent.active_target() is None
    assert consent.statuses()["ada"] == "asked to follow"
    ada.follow_ok = ["bob"]
    assert consent.active_target() is ada
    ada.follow_ok = []
    ada.present = True
    assert consent.active_target() is ada
    assert not consent.follow("bob") and not consent.follow("nobody")


def test_a_presenter_is_offered_until_dismissed_and_again_when_presenting_anew():
    ada = Peer("ada", "c-ada", "Ada", "designer", present=True)
    _client, consent = _room(ada)
    assert consent.reconcile().offer == {"ada"}
    consent.dismiss_presenter("ada")
    seen = consent.reconcile()
    assert seen.offer == set() and seen.presenters == {"ada"}
    ada.present = False
    assert consent.reconcile().presenters == set()
    ada.present = True
    assert consent.reconcile().offer == {"ada"}


def test_when_the_person_followed_leaves_following_stops():
    ada = Peer("ada", "c-ada", "Ada", "designer", follow_ok=["bob"])
    client, consent = _room(ada)
    consent.follow("ada")
    del client.peers["ada"]
    assert consent.reconcile().left == "ada"
    assert consent.following is None and client.presence["follow"] is None


def test_stop_followers_withdraws_every_consent_and_the_presentation():
    ada = Peer("ada", "c-ada", "Ada", "designer", follow="bob")
    client, consent = _room(ada)
    consent.allow("ada")
    consent.set_presenting(True)
    consent.stop_followers()
    assert consent.followers() == [] and client.presence["present"] is False
    assert client.presence["follow_ok"] == [] and "ada" in consent.declined

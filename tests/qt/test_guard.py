"""The suite's exception guard (tests/guard.py) turns a failure nobody would see into a red
test: a slot that raises on a real click, a timer, an event filter, a worker thread, and an
exception our own code catches and logs. Each case runs as a test in a child pytest with the
guard loaded, and must fail there with the original error in its report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.qt

REPO = Path(__file__).resolve().parents[2]

INNER = '''
import threading

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QPushButton, QWidget

from twin_app.qt.bridge import ClientBridge
from twin_app.session.local import LocalClient


def post(text=None):
    """Like a panel's "post" slot that takes optional text: clicked(bool) arrives as text."""
    body = "typed" if text is None else text
    return body.strip()


def test_clicked_bool_reaches_a_text_slot(qtbot):
    button = QPushButton("Comment")
    qtbot.addWidget(button)
    button.clicked.connect(post)
    button.show()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_timer_callback_raises(qtbot):
    fired = []

    def tick():
        fired.append(1)
        raise KeyError("timer-boom")

    QTimer.singleShot(0, tick)
    qtbot.waitUntil(lambda: bool(fired))


def test_event_filter_raises_in_the_event_loop(qtbot):
    class Filter(QObject):
        def eventFilter(self, obj, event):
            if event.type() == QEvent.Type.Show:
                raise RuntimeError("filter-boom")
            return False

    w = QWidget()
    qtbot.addWidget(w)
    f = Filter(w)
    w.installEventFilter(f)
    QTimer.singleShot(0, w.show)
    qtbot.waitExposed(w)


def test_thread_dies(qtbot):
    t = threading.Thread(target=lambda: {}["thread-boom"])
    t.start()
    t.join()


class BrokenClient(LocalClient):
    def process_events(self, budget_s=None):
        raise LookupError("drain-boom")


def test_exception_our_code_catches_and_logs(qtbot):
    client = BrokenClient()
    bridge = ClientBridge()
    bridge.attach(client)  # wakes the bridge: the drain runs on the next event-loop turn
    qtbot.wait(50)


def test_logged_exception_the_test_expects(qtbot, logged_exceptions):
    bridge = ClientBridge()
    bridge.attach(BrokenClient())
    qtbot.waitUntil(lambda: len(logged_exceptions) == 1)
    assert "drain-boom" in str(logged_exceptions[0].exc_info[1])


def test_quiet_click_passes(qtbot):
    button = QPushButton("OK")
    qtbot.addWidget(button)
    got = []
    button.clicked.connect(lambda checked: got.append(checked))
    button.show()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert got == [False]
'''


def test_guard_fails_each_kind_of_hidden_exception(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ("tests.guard",)\n')
    pytester.makepyfile(test_inner=INNER)
    env_path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    pytester._monkeypatch.setenv("PYTHONPATH", env_path)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", "-rA", timeout=120)
    out = result.stdout.str()
    outcomes = {line.split()[1].split("::")[1].split()[0]: line.split()[0]
                for line in out.splitlines()
                if line.startswith(("PASSED ", "FAILED ", "ERROR ")) and "::" in line}
    assert outcomes == {
        "test_clicked_bool_reaches_a_text_slot": "FAILED",
        "test_timer_callback_raises": "FAILED",
        "test_event_filter_raises_in_the_event_loop": "FAILED",
        "test_thread_dies": "FAILED",
        "test_exception_our_code_catches_and_logs": "FAILED",
        "test_logged_exception_the_test_expects": "PASSED",
        "test_quiet_click_passes": "PASSED",
    }, out
    # Each failure names what really went wrong, not just "something failed".
    for needle in ("'bool' object has no attribute 'strip'", "timer-boom", "filter-boom",
                   "thread-boom", "processing client events failed"):
        assert needle in out, needle

"""Pytest plugin: an exception in a callback fails the test that caused it.

Qt calls our slots, timers, event filters and virtual overrides from C++; an exception raised
there cannot reach the test, so PySide6 hands it to ``sys.excepthook`` and carries on. Our own
code also catches exceptions on purpose where one bug must not stall a stream (the network
client's event loop, the bridge's drain, import workers) and logs them. Either way a user sees
nothing happen and, without this plugin, the suite stays green. Three nets catch them:

* ``sys.excepthook`` (slots, timers, event filters, overrides, VTK observers, Qt worker
  threads): pytest-qt records what reaches it during setup, call and teardown and fails the
  phase. This plugin refuses to run with that capture turned off.
* Exceptions our code catches and logs (``log.exception`` or any ERROR record with a traceback
  from ``twin_app`` or ``sync_server`` in this process) fail the phase in which they were
  logged. A test that provokes one on purpose asks for the ``logged_exceptions`` fixture and
  asserts on what it gets; then the records are its own.
* An exception that ends a Python thread, or one Python can only report as "unraisable",
  fails the test too (pytest's warnings for them are made errors).

``tests/conftest.py`` loads this plugin for the whole suite; ``tests/qt/test_guard.py`` proves
each net catches a real failure.
"""

from __future__ import annotations

import logging
from collections.abc import Generator, Iterator

import pytest

_OWN_LOGGERS = ("twin_app", "sync_server")
_KEY = pytest.StashKey["_LoggedExceptions"]()


class _LoggedExceptions(logging.Handler):
    """Collects ERROR records with a traceback from our own loggers."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.name.split(".")[0] in _OWN_LOGGERS:
            self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        out, self.records = self.records, []
        return out


def pytest_configure(config: pytest.Config) -> None:
    if _ini(config, "qt_no_exception_capture"):
        raise pytest.UsageError("tests/guard.py needs pytest-qt's exception capture: "
                                "remove qt_no_exception_capture")
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnhandledThreadExceptionWarning")
    config.addinivalue_line("filterwarnings", "error::pytest.PytestUnraisableExceptionWarning")
    handler = _LoggedExceptions()
    logging.getLogger().addHandler(handler)
    config.stash[_KEY] = handler


def _ini(config: pytest.Config, name: str) -> object:
    try:
        return config.getini(name)
    except ValueError:  # pytest-qt is not installed (the pure tier): nothing to check
        return None


def pytest_unconfigure(config: pytest.Config) -> None:
    handler = config.stash.get(_KEY, None)
    if handler is not None:
        logging.getLogger().removeHandler(handler)


def _check(item: pytest.Item, when: str) -> None:
    handler = item.config.stash[_KEY]
    if "logged_exceptions" in getattr(item, "fixturenames", ()):
        return  # the test owns them (see the fixture)
    records = handler.take()
    if records:
        fmt = logging.Formatter("%(name)s: %(message)s")
        text = "\n".join(fmt.format(r) for r in records)
        pytest.fail(f"{when}: exception(s) caught and logged by the code under test:\n{text}",
                    pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    item.config.stash[_KEY].take()  # nothing carries over from the previous test
    result = yield
    _check(item, "SETUP")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    _check(item, "CALL")
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    result = yield
    _check(item, "TEARDOWN")
    return result


@pytest.fixture
def logged_exceptions(request: pytest.FixtureRequest) -> Iterator[list[logging.LogRecord]]:
    """The records of exceptions our code caught and logged during this test.

    Asking for this fixture says the test provokes such an exception on purpose; the list
    fills as they are logged, and the test asserts on it instead of failing.
    """
    handler = request.config.stash[_KEY]
    seen: list[logging.LogRecord] = []

    class _Tee(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.exc_info and record.name.split(".")[0] in _OWN_LOGGERS:
                seen.append(record)

    tee = _Tee(logging.ERROR)
    logging.getLogger().addHandler(tee)
    yield seen
    logging.getLogger().removeHandler(tee)
    handler.take()

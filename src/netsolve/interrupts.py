"""Signals: SIGINT, SIGTERM and SIGHUP stop the command line cleanly, in every phase.

The CLI installs :func:`install` before it imports anything heavy. A signal then raises
:class:`Interrupted` in the main thread, which unwinds through the writers (they delete their
temporary folders) up to ``cli.main`` (one line on stderr, exit status 128 + the signal
number: 130, 143, 129). Once one signal is being handled, further ones are ignored so the clean-up
finishes. :func:`signals_deferred` holds signals back over the few system calls that must not
be separated (moving a finished result into place); a held signal acts right after.

:func:`pause_point` is the fault-injection hook of the tests: with
``NETSOLVE_TEST_PAUSE=<name>`` the process stops at the named point, writes its PID to the file
``NETSOLVE_TEST_PAUSE_READY`` and waits there for a signal (at most ``PAUSE_LIMIT_S``), so a test
can send one at exactly that point.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PAUSE_ENV = "NETSOLVE_TEST_PAUSE"
PAUSE_READY_ENV = "NETSOLVE_TEST_PAUSE_READY"
PAUSE_LIMIT_S = 60.0  # a paused process that never gets its signal gives up (tests never hang)

_held: list[int] = []  # signals received inside signals_deferred, in order
_state = {"pid": None, "stopping": None}


class Interrupted(KeyboardInterrupt):
    """A signal (SIGINT, SIGTERM, SIGHUP) stopped the command; a KeyboardInterrupt, so code
    that already cleans up after Ctrl-C does the same for the other two."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


def _raise_interrupted(signum, _frame) -> None:
    if os.getpid() != _state["pid"]:
        # a forked worker (sweep --jobs) inherited this handler: behave as Python's default
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if _state["stopping"] is not None:
        return  # already unwinding: let the clean-up finish
    _state["stopping"] = signum
    raise Interrupted(signum)


def install() -> dict:
    """Make SIGINT, SIGTERM and SIGHUP raise :class:`Interrupted` in this (main) thread;
    return the previous handlers for :func:`restore`."""
    _state["pid"], _state["stopping"] = os.getpid(), None
    return {s: signal.signal(s, _raise_interrupted) for s in SIGNALS}


def restore(previous: dict) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


@contextmanager
def signals_deferred():
    """Hold SIGINT, SIGTERM and SIGHUP back for the duration of the block; the first one
    received then goes to the handler that was in place (or kills the process if that was the
    default action). Outside the main thread (where Python runs no handlers) a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    depth = len(_held)
    previous = {s: signal.signal(s, _hold) for s in SIGNALS}
    try:
        yield
    finally:
        restore(previous)
        received = _held[depth:]
        del _held[depth:]
        if received:
            _deliver(received[0], previous[received[0]])


def _hold(signum, _frame) -> None:
    _held.append(signum)


def _deliver(signum: int, handler) -> None:
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)  # the default action (terminate) with the handler back


def pause_point(name: str) -> None:
    """Test hook: stop here when ``NETSOLVE_TEST_PAUSE`` is ``name`` (see the module doc)."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    ready = os.environ[PAUSE_READY_ENV]
    with open(ready + ".part", "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(ready + ".part", ready)  # the test sees the whole PID or nothing
    depth = len(_held)
    deadline = time.monotonic() + PAUSE_LIMIT_S
    while len(_held) == depth and time.monotonic() < deadline:
        time.sleep(0.01)  # a signal raises out of here, or is held (signals_deferred)

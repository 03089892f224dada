"""Stage lines: what a long command is doing, with the seconds elapsed since it started.

The pipeline announces each step that can take more than a moment with :func:`stage` (INFO
on the ``netsolve`` logger, standard :mod:`logging`); nothing is shown unless someone handles
that logger. The command line does, on stderr, pipe or terminal alike, unless ``-q``
(:func:`stage_lines`)::

    netsolve: [   0.4 s] microstructure
    netsolve: [   2.9 s] solve: 1048576 nodes (auto)

The lines start once a command has run for :data:`DELAY_S` seconds (with the stage running at
that moment, then every stage as it starts): a quick command, or a user error found at once,
prints no progress, so its error stays the one line on stderr.

Every stage is also a fault-injection point of the tests (:func:`netsolve.interrupts.pause_point`).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from contextlib import contextmanager

from .interrupts import pause_point

logger = logging.getLogger("netsolve")


def stage(name: str, message: str | None = None) -> None:
    """Announce the start of stage ``name`` (``message``: what it does, default the name)."""
    logger.info(message or name)
    pause_point(name)


DELAY_S = 2.0  # no stage lines for commands that finish (or fail) sooner


class _ElapsedFormatter(logging.Formatter):
    def __init__(self, start: float):
        super().__init__()
        self.start = start

    def format(self, record: logging.LogRecord) -> str:
        return f"netsolve: [{record.created - self.start:6.1f} s] {record.getMessage()}"


class _DelayedHandler(logging.StreamHandler):
    """Holds the latest stage line back until :meth:`open`, then writes every line."""

    def __init__(self, stream):
        super().__init__(stream)
        self.is_open = False
        self.pending: logging.LogRecord | None = None

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        if self.is_open:
            super().emit(record)
        else:
            self.pending = record

    def open(self) -> None:
        self.acquire()
        try:
            self.is_open = True
            if self.pending is not None:
                super().emit(self.pending)
                self.pending = None
        finally:
            self.release()


@contextmanager
def stage_lines(enabled: bool = True, stream=None):
    """Print the stage lines on ``stream`` (default stderr) for the duration of the block, from
    :data:`DELAY_S` seconds on."""
    if not enabled:
        yield
        return
    handler = _DelayedHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(_ElapsedFormatter(time.time()))
    timer = threading.Timer(DELAY_S, handler.open)
    timer.daemon = True
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    if DELAY_S > 0:
        timer.start()
    else:
        handler.open()
    try:
        yield
    finally:
        timer.cancel()
        logger.removeHandler(handler)
        logger.setLevel(level)

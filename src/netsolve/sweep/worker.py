"""The worker side of a sweep: one engine per worker (its cache), kept between chunks of points,
and how a worker process is tied to its parent.

A local worker process must not outlive the sweep: on Linux it asks the kernel for SIGKILL when
its parent dies (``PR_SET_PDEATHSIG``, also after a SIGKILL of the parent, which no handler
sees), and it ignores SIGINT, so that Ctrl-C on a terminal (sent to the whole process group)
is handled once, by the parent, which then stops its workers.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .engine import SweepEngine
from .plan import Point, SweepPlan

PR_SET_PDEATHSIG = 1  # linux/prctl.h
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
# glibc's largest mmap threshold (4 Mi longs): arrays up to this size come from the heap
MMAP_THRESHOLD_MAX_BYTES = 32 * 1024 * 1024
# Test hook: a folder; each worker chunk leaves a "started-<pid>" file there and waits for a
# "release" file, so tests can act (kill, interrupt) while workers are known to be busy.
PAUSE_ENV = "NETSOLVE_TEST_SWEEP_PAUSE"

_local = threading.local()  # one engine per worker thread (Dask may run threads)


def worker_engine(plan: SweepPlan, fields_dir: Path | None, token: str) -> SweepEngine:
    """The engine of this worker thread for the sweep ``token`` (kept between chunks: that is
    the cache)."""
    key = (token, fields_dir)
    engine = getattr(_local, "engine", None)
    if engine is None or _local.key != key:
        engine = SweepEngine.for_plan(plan, fields_dir)
        _local.engine, _local.key = engine, key
    return engine


def evaluate_points(plan: SweepPlan, fields_dir: Path | None, token: str,
                    points: list[Point]) -> list[dict]:
    """The rows of a chunk of points (a task of a worker process or a Dask worker)."""
    pause_for_tests()
    engine = worker_engine(plan, fields_dir, token)
    with single_threaded_blas():
        return [engine.evaluate(p) for p in points]


def single_threaded_blas():
    """BLAS on one thread while sweep points are evaluated (a context manager; the previous
    limits come back on exit). A sweep already runs one worker per core: a BLAS thread pool
    per worker only competes with the other workers, and its threads keep spinning after the
    large vector products of the solve checks. Measured on the 512^2 gmg sweep, serially: 0.46
    instead of 0.73 CPU s per point (docs/performance.md)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def pause_for_tests() -> None:
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return
    folder = Path(folder)
    (folder / f"started-{os.getpid()}").touch()
    while not (folder / "release").exists():
        time.sleep(0.01)


def die_with_parent(parent_pid: int) -> None:
    """In a worker process: be killed when the parent dies; exit at once if it already has
    (it may die between the fork and this call); leave SIGINT to the parent; die on SIGTERM
    (how the parent stops it)."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent still stops its workers
            pass
    if os.getppid() != parent_pid:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):  # a forked worker inherits the parent's handlers
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)


def keep_freed_memory() -> bool:
    """In a worker process (glibc only): keep the memory of freed arrays for the next ones.

    By default glibc gives freed blocks above a threshold back to the kernel (munmap, or a
    trim of the heap), so each point's fresh arrays are faulted in page by page again: on the
    2-core machine that was 15-20 ms of system CPU per 512^2 point (docs/performance.md).
    Arrays up to ``MMAP_THRESHOLD_MAX_BYTES`` then come from the heap and freed memory stays
    there: the process's resident size stays at its peak (points of one sweep need about the
    same memory each), and it is all returned when the worker exits. Returns whether both
    settings were accepted (False: not glibc, nothing changed)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # another C library (musl): its own allocator
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # both: setting either stops glibc adapting the mmap threshold; the trim threshold alone
    # left it at 128 KiB, every array mmapped, and 10x the system CPU (measured)
    return (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX_BYTES) == 1
            and mallopt(M_TRIM_THRESHOLD, 2**31 - 1) == 1)


MAX_CHUNK = 8  # points per task: warm starts within a chunk; at most this many lost per worker


def chunks(points: list[Point], jobs: int) -> list[list[Point]]:
    """Consecutive points, at most MAX_CHUNK each; each chunk a quarter of what remains per
    job (at least one point), so that the last chunks are small and the workers finish
    together (with equal chunks of 8 points, one worker could idle for most of a chunk at the
    end of a sweep while the other finished its last one)."""
    out = []
    start = 0
    while start < len(points):
        size = max(1, min(MAX_CHUNK, math.ceil((len(points) - start) / (4 * jobs))))
        out.append(points[start:start + size])
        start += size
    return out

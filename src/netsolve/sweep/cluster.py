"""Dask: a LocalCluster (``--scheduler local``) or an existing scheduler (``--scheduler ADDRESS``).

Before anything is written, the scheduler must answer (its identity, within the timeout) and
have at least one worker. The plan goes to the workers as the result of a task, not as
scattered data: the scheduler holds the task and recomputes it on another worker if the one
holding the plan is lost, and the lost worker's chunks are resubmitted by Dask. When every
worker is gone, the sweep waits ``--scheduler-timeout`` seconds for one to (re)join, then stops
with one line; finished rows are in ``sweep.csv`` for ``--resume``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
import uuid
from concurrent.futures import CancelledError
from contextlib import contextmanager

from ..errors import CaseError
from .worker import chunks, evaluate_points

DEFAULT_SCHEDULER_TIMEOUT_S = 10.0  # --scheduler-timeout
POLL_S = 1.0  # how often the workers are counted while no chunk finishes


def require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise CaseError("--scheduler needs Dask distributed: pip install "
                        "'netsolve[distributed]'") from None


def scheduler_timeout_s(value: float | str | None) -> float:
    """``--scheduler-timeout``: a finite number of seconds > 0 (None: the default), else
    CaseError."""
    if value is None:
        return DEFAULT_SCHEDULER_TIMEOUT_S
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise CaseError(f"--scheduler-timeout must be a number of seconds > 0, got {value!r}")
    return seconds


@contextmanager
def dask_client(scheduler: str, jobs: int, timeout_s: float = DEFAULT_SCHEDULER_TIMEOUT_S):
    """A Dask client: a LocalCluster of ``jobs`` workers for "local", else the scheduler at
    that address (CaseError unless it answers and has a worker within ``timeout_s`` seconds
    each)."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == "local":
        # distributed's warnings (tasks cancelled, workers killed when the sweep stops early)
        # are noise around netsolve's own one-line messages: errors only
        with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=jobs > 1,
                          dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client
        return
    check_scheduler(scheduler, timeout_s)
    try:
        client = Client(scheduler, timeout=timeout_s)
    except Exception as exc:  # it answered the probe, then failed: whatever the reason
        raise CaseError(_no_scheduler(scheduler, timeout_s, exc)) from None
    logger = logging.getLogger("distributed")
    level = logger.level
    try:
        with client:
            wait_for_worker(client, scheduler, timeout_s)
            try:
                yield client
            except BaseException:
                # the sweep says in one line why it stops; distributed's reports of the
                # connection it is closing (or lost) would bury that line
                logger.setLevel(logging.CRITICAL)
                raise
    finally:
        logger.setLevel(level)


def check_scheduler(address: str, timeout_s: float) -> None:
    """CaseError unless a Dask scheduler at ``address`` answers within ``timeout_s`` seconds.

    distributed's connect timeout covers the TCP connection, not the handshake after it: a
    listener that is not a Dask scheduler (a web server, e.g. the dashboard port) keeps
    ``Client()`` waiting forever. So the scheduler is first asked for its identity in a daemon
    thread with its own event loop, abandoned when the time is up.
    """
    from distributed.core import rpc  # noqa: F401  imported here, not on the clock in the thread

    # A plain TCP connection first: it says at once and for certain why nothing is there
    # (distributed retries until its timeout and then reports either the refusal or a timeout).
    why = _tcp_failure(address, timeout_s)
    if why is not None:
        raise CaseError(_no_scheduler(address, timeout_s, why))
    outcome: list = []

    def ask() -> None:
        try:
            # a little longer than distributed's own connect timeout, whose error says why
            outcome.append(asyncio.run(asyncio.wait_for(_identity(address, timeout_s),
                                                        timeout_s + 0.5)))
        except Exception as exc:  # every failure means: no scheduler there
            outcome.append(exc)

    thread = threading.Thread(target=ask, name="netsolve-scheduler-probe", daemon=True)
    thread.start()
    thread.join(2 * timeout_s + 5.0)  # slack for a loaded machine; the bound is for a hang
    answer = outcome[0] if outcome else TimeoutError("no answer")
    if isinstance(answer, dict) and answer.get("type") == "Scheduler":
        return
    raise CaseError(_no_scheduler(address, timeout_s, answer))


async def _identity(address: str, timeout_s: float) -> dict:
    from distributed.core import rpc
    from distributed.security import Security

    arguments = Security().get_connection_args("client")  # tls:// settings of the Dask config
    async with rpc(address, timeout=timeout_s, connection_args=arguments) as scheduler:
        return await scheduler.identity()


def _tcp_failure(address: str, timeout_s: float) -> str | None:
    """Why a plain TCP connection to a tcp:// or tls:// scheduler address fails; None if it
    connects or the address is of another kind (left to distributed)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address if "://" in address else f"tcp://{address}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("tcp", "tls") or host is None or port is None:
        return None
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except ConnectionRefusedError:
        return "connection refused: nothing listens there"
    except socket.gaierror as exc:
        return f"unknown host: {exc.strerror}"
    except OSError:  # timeout, unreachable network
        return "no answer"


def _no_scheduler(address: str, timeout_s: float, answer) -> str:
    """The one-line message of a failed connection (``answer``: the reason as a string, the
    exception or the reply)."""
    if isinstance(answer, ValueError):  # distributed's parse of the address
        return f"--scheduler {address}: not a scheduler address ({answer})"
    cause = getattr(answer, "__cause__", None) or answer
    if isinstance(answer, str):
        why = answer
    elif isinstance(cause, ConnectionRefusedError) or "ConnectionRefused" in str(cause):
        why = "connection refused: nothing listens there"
    elif isinstance(cause, socket.gaierror):
        why = f"unknown host: {cause.strerror}"
    elif isinstance(answer, OSError):  # TimeoutError included: silence
        why = "no answer"
    elif isinstance(answer, BaseException):
        why = f"the answer was not the Dask protocol ({type(answer).__name__})"
    else:
        why = "it answered, but is not a Dask scheduler"
    return (f"--scheduler {address}: no Dask scheduler within {timeout_s:g} s ({why}); check "
            f"the address, or raise --scheduler-timeout")


def wait_for_worker(client, address: str, timeout_s: float) -> None:
    """CaseError unless the cluster has a worker within ``timeout_s`` seconds (a scheduler
    without workers would hold the tasks forever)."""
    try:
        client.wait_for_workers(1, timeout=timeout_s)
    except TimeoutError:
        raise CaseError(f"--scheduler {address}: the scheduler has no worker (none joined "
                        f"within {timeout_s:g} s); start workers (dask worker {address}) or "
                        f"raise --scheduler-timeout") from None


def _the_plan(plan):
    """A task whose result is the plan: recomputable on any worker, unlike scattered data."""
    return plan


def run_dask(client, address: str, plan, pending, fields_dir, timeout_s: float, accept) -> None:
    """Evaluate ``pending`` on the cluster; ``accept`` gets each chunk's rows as it finishes.
    Futures still pending when this returns or raises are cancelled (the cluster is released)."""
    from distributed import wait
    from distributed.scheduler import KilledWorker

    n_workers = max(1, len(client.nthreads()))
    plan_future = client.submit(_the_plan, plan.for_workers(), pure=False)
    token = uuid.uuid4().hex
    remaining = {client.submit(evaluate_points, plan_future, fields_dir, token, chunk,
                               pure=False): chunk for chunk in chunks(pending, n_workers)}
    no_worker_since = None
    lost = (f"--scheduler {address}: the connection to the scheduler was lost; the finished "
            f"points are in sweep.csv: rerun with --resume")
    try:
        while remaining:
            try:
                done, _ = wait(list(remaining), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = ()
            except (CancelledError, OSError):  # the client lost the scheduler: all cancelled
                raise CaseError(lost) from None
            for future in done:
                chunk = remaining.pop(future)
                try:
                    rows = future.result()
                except (CancelledError, OSError):
                    raise CaseError(lost) from None
                except KilledWorker:
                    raise CaseError(
                        f"--scheduler {address}: the workers running points "
                        f"{chunk[0].point_id}..{chunk[-1].point_id} died again and again "
                        f"(out of memory?); the finished points are in sweep.csv: rerun with "
                        f"--resume") from None
                accept(rows)
            if done:
                continue
            try:
                workers = client.nthreads()
            except OSError:
                raise CaseError(lost) from None
            if workers:
                no_worker_since = None
            elif no_worker_since is None:
                no_worker_since = time.monotonic()
            elif time.monotonic() - no_worker_since > timeout_s:
                raise CaseError(f"--scheduler {address}: every Dask worker was lost and none "
                                f"joined within {timeout_s:g} s; the finished points are in "
                                f"sweep.csv: rerun with --resume when workers are back")
    finally:
        if address != "local" and client.status == "running":  # a LocalCluster stops its
            client.cancel([*remaining, plan_future])             # workers when it closes

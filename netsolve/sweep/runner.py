"""Running a sweep: serially, on local processes (``jobs``) or on a Dask cluster (``scheduler``).

Workers evaluate chunks of neighbouring points (consecutive in grid order, so the warm start of
the next point comes from a close one) with an engine they keep between chunks; the parent
process is the only writer of ``sweep.csv`` and appends every row as soon as it arrives.
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaseError
from .engine import SweepEngine
from .plan import Point, SweepPlan
from .store import check_out_dir, open_store, write_parquet

MAX_CHUNK = 8  # points per task: warm starts within a chunk; at most this many lost per worker
DEFAULT_SCHEDULER_TIMEOUT_S = 10.0  # --scheduler-timeout

_local = threading.local()  # one engine per worker thread (Dask may run threads)


@dataclass(frozen=True)
class SweepOutcome:
    out_dir: Path
    n_points: int
    n_skipped: int  # finished before (--resume)
    n_ok: int
    n_error: int
    files: tuple[Path, ...]


def worker_engine(plan: SweepPlan, fields_dir: Path | None) -> SweepEngine:
    """The engine of this worker for ``plan`` (kept between tasks: that is the cache)."""
    key = (id(plan), fields_dir)
    engine = getattr(_local, "engine", None)
    if engine is None or _local.key != key:
        engine = SweepEngine(plan, fields_dir)
        _local.engine, _local.key = engine, key
    return engine


def _init_worker(plan: SweepPlan, fields_dir: Path | None) -> None:
    _local.plan = plan
    _local.fields_dir = fields_dir


def _evaluate_in_pool(points: list[Point]) -> list[dict]:
    engine = worker_engine(_local.plan, _local.fields_dir)
    return [engine.evaluate(p) for p in points]


def evaluate_chunk(plan: SweepPlan, fields_dir: Path | None, points: list[Point]) -> list[dict]:
    """A Dask task: the plan travels with it (Dask caches it on the worker by its key)."""
    cached = getattr(_local, "dask_plans", None)
    if cached is None:
        cached = _local.dask_plans = {}
    definition = repr(plan.definition())
    plan = cached.setdefault(definition, plan)  # same object per definition: engine reused
    return [worker_engine(plan, fields_dir).evaluate(p) for p in points]


def chunks(points: list[Point], jobs: int) -> list[list[Point]]:
    """Consecutive points, at most MAX_CHUNK each, about four chunks per job at least."""
    if not points:
        return []
    size = max(1, min(MAX_CHUNK, math.ceil(len(points) / (4 * jobs))))
    return [points[i:i + size] for i in range(0, len(points), size)]


def require_dask():
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise CaseError("--scheduler needs Dask distributed: pip install "
                        "'netsolve[distributed]'") from None


def run_sweep(plan: SweepPlan, out_dir: str | Path, *, jobs: int = 1,
              scheduler: str | None = None, resume: bool = False, save_fields: bool = False,
              progress: bool | None = None, plots: bool = True,
              scheduler_timeout: float | str | None = None) -> SweepOutcome:
    """Evaluate every point of ``plan`` not yet in ``out_dir`` and write the sweep directory.

    ``scheduler``: None (local: serial or ``jobs`` processes), "local" (a Dask LocalCluster)
    or the address of a Dask scheduler, which must answer within ``scheduler_timeout``
    seconds (None: ``DEFAULT_SCHEDULER_TIMEOUT_S``). ``progress``: a progress bar on stderr (None: when stderr is a terminal).
    """
    out_dir = Path(out_dir).absolute()
    if jobs < 1:
        raise CaseError(f"--jobs must be >= 1, got {jobs}")
    timeout_s = scheduler_timeout_s(scheduler_timeout)
    check_out_dir(out_dir, plan, resume)
    with ExitStack() as stack:
        # connect before anything is written: a wrong address leaves no sweep folder behind
        client = (stack.enter_context(dask_client(scheduler, jobs, timeout_s)) if scheduler
                  else None)
        counts, skipped = _evaluate(plan, out_dir, jobs, client, resume, save_fields, progress)
    files = [out_dir / "sweep.csv"]
    parquet = write_parquet(out_dir, plan)
    if parquet is not None:
        files.append(parquet)
    if plots:
        from .plots import write_sweep_plots

        files += write_sweep_plots(out_dir, plan)
    return SweepOutcome(out_dir, len(plan.points), skipped, counts["ok"], counts["error"],
                        tuple(files))


def _evaluate(plan, out_dir, jobs, client, resume, save_fields, progress):
    """Open the store and evaluate the points it does not hold yet; returns (counts, skipped)."""
    store = open_store(out_dir, plan, resume)
    skipped = len(store.done)
    pending = [p for p in plan.points if p.point_id not in store.done]
    fields_dir = out_dir / "fields" if save_fields else None
    bar = ProgressBar(len(pending), enabled=sys.stderr.isatty() if progress is None else progress)
    counts = {"ok": 0, "error": 0}

    def accept(rows: list[dict]) -> None:
        for row in rows:
            store.append(row)
            counts[row["status"]] += 1
            bar.update(counts["error"])

    try:
        if client is not None:
            _run_dask(client, plan, pending, fields_dir, jobs, accept)
        elif jobs > 1:
            _run_processes(plan, pending, fields_dir, jobs, accept)
        else:
            engine = SweepEngine(plan, fields_dir)
            for point in pending:
                accept([engine.evaluate(point)])
    finally:
        store.close()
        bar.close()
    return counts, skipped


def _run_processes(plan, pending, fields_dir, jobs, accept) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                             initargs=(plan, fields_dir)) as pool:
        futures = [pool.submit(_evaluate_in_pool, chunk) for chunk in chunks(pending, jobs)]
        try:
            for future in as_completed(futures):
                accept(future.result())
        except BrokenProcessPool:
            raise CaseError("a sweep worker process died (killed, or out of memory?); the "
                            "finished points are in sweep.csv: rerun with --resume") from None
        except BaseException:
            for future in futures:
                future.cancel()
            raise


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
    that address (CaseError unless it answers within ``timeout_s`` seconds)."""
    require_dask()
    from distributed import Client, LocalCluster

    if scheduler == "local":
        with LocalCluster(n_workers=jobs, threads_per_worker=1, processes=jobs > 1,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            yield client
        return
    check_scheduler(scheduler, timeout_s)
    try:
        client = Client(scheduler, timeout=timeout_s)
    except Exception as exc:  # it answered the probe, then failed: whatever the reason
        raise CaseError(_no_scheduler(scheduler, timeout_s, exc)) from None
    with client:
        yield client


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


def _run_dask(client, plan, pending, fields_dir, jobs, accept) -> None:
    from distributed import as_completed

    n_workers = max(1, len(client.scheduler_info().get("workers", {})) or jobs)
    [shared] = client.scatter([plan], broadcast=True)
    futures = [client.submit(evaluate_chunk, shared, fields_dir, chunk, pure=False)
               for chunk in chunks(pending, n_workers)]
    for future in as_completed(futures):
        accept(future.result())


class ProgressBar:
    """One line on stderr: bar, points done, errors, ETA. Hand-written (a dozen lines) to keep
    the CLI free of another dependency; silent when disabled (not a terminal)."""

    def __init__(self, total: int, enabled: bool, width: int = 30):
        self.total, self.enabled, self.width = total, enabled, width
        self.done = 0
        self.start = time.monotonic()

    def update(self, errors: int) -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        filled = int(self.width * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        text = (f"\r[{bar}] {self.done}/{self.total} points, {errors} errors, "
                f"ETA {int(eta) // 60}:{int(eta) % 60:02d}")
        sys.stderr.write(text)
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            sys.stderr.write("\n")
            sys.stderr.flush()

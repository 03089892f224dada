"""Running a sweep: serially, on local processes (``jobs``) or on a Dask cluster (``scheduler``).

Workers evaluate chunks of neighbouring points (consecutive in grid order, so the warm start of
the next point comes from a close one) with an engine they keep between chunks; the parent
process is the only writer of ``sweep.csv`` and appends every row as soon as it arrives.

Everything that can refuse the sweep (the definition, the input fingerprint on ``--resume``,
the scheduler and its workers) is checked before the first byte is written. SIGTERM and SIGHUP
stop a sweep like Ctrl-C (:class:`SweepInterrupted`): workers are stopped, the rows written so
far stay for ``--resume``.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import CaseError
from .cluster import dask_client, run_dask, scheduler_timeout_s
from .engine import SweepEngine
from .local import run_processes
from .plan import SweepPlan
from .store import check_out_dir, input_fingerprint, open_store, write_parquet
from .worker import single_threaded_blas

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


@dataclass(frozen=True)
class SweepOutcome:
    out_dir: Path
    n_points: int
    n_skipped: int  # finished before (--resume)
    n_ok: int
    n_error: int
    files: tuple[Path, ...]


class SweepInterrupted(KeyboardInterrupt):
    """The sweep was stopped by a signal (``signum``); finished rows are in ``sweep.csv``."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def notify(message: str) -> None:
    print(f"netsolve: {message}", file=sys.stderr, flush=True)


def run_sweep(plan: SweepPlan, out_dir: str | Path, *, jobs: int = 1,
              scheduler: str | None = None, resume: bool = False, save_fields: bool = False,
              progress: bool | None = None, plots: bool = True,
              scheduler_timeout: float | str | None = None,
              save_spectra: bool = False) -> SweepOutcome:
    """Evaluate every point of ``plan`` not yet in ``out_dir`` and write the sweep directory.

    ``scheduler``: None (local: serial or ``jobs`` processes), "local" (a Dask LocalCluster)
    or the address of a Dask scheduler, which must answer and have a worker within
    ``scheduler_timeout`` seconds (None: ``DEFAULT_SCHEDULER_TIMEOUT_S``); the same time is
    given to a worker to (re)join when all were lost. ``save_fields`` (a DC sweep) writes
    ``fields/<point_id>.npz``, ``save_spectra`` (an impedance sweep, ``plan.impedance``)
    ``spectra/<point_id>/impedance.csv`` and ``drt.csv``. ``progress``: a progress bar on stderr
    (None: when stderr is a terminal). SIGTERM / SIGHUP (and SIGINT) raise
    :class:`SweepInterrupted` when no other handler is installed.
    """
    out_dir = Path(out_dir).absolute()
    if jobs < 1:
        raise CaseError(f"--jobs must be >= 1, got {jobs}")
    if save_fields and plan.impedance:
        raise CaseError("--save-fields writes the fields of a DC sweep; an impedance sweep "
                        "saves each point's spectrum with --save-spectra")
    if save_spectra and not plan.impedance:
        raise CaseError("--save-spectra applies to impedance sweeps only (--impedance)")
    files_dir = (out_dir / "fields" if save_fields else out_dir / "spectra" if save_spectra
                 else None)
    timeout_s = scheduler_timeout_s(scheduler_timeout)
    with stop_on_signals():
        inputs = input_fingerprint(plan)
        check_out_dir(out_dir, plan, resume, inputs)
        with ExitStack() as stack:
            # connect before anything is written: a wrong address or a cluster without
            # workers leaves no sweep folder behind
            client = (stack.enter_context(dask_client(scheduler, jobs, timeout_s))
                      if scheduler else None)
            store = open_store(out_dir, plan, resume, inputs, notify)
            skipped = len(store.done)
            counts = _evaluate(plan, store, jobs, client, scheduler, timeout_s,
                               files_dir, progress, plots)
        files = [out_dir / "sweep.csv"]
        parquet = write_parquet(out_dir, plan)
        if parquet is not None:
            files.append(parquet)
        if plots:
            from .plots import write_sweep_plots

            # the local worker processes' cores are free again: draw on two of them
            files += write_sweep_plots(out_dir, plan,
                                       processes=jobs if scheduler is None else 1)
    return SweepOutcome(out_dir, len(plan.points), skipped, counts["ok"], counts["error"],
                        tuple(files))


def _evaluate(plan, store, jobs, client, scheduler, timeout_s, fields_dir, progress,
              plots) -> dict:
    """Evaluate the points the store does not hold yet; returns the counts of ok/error rows."""
    pending = [p for p in plan.points if p.point_id not in store.done]
    bar = ProgressBar(len(pending), enabled=sys.stderr.isatty() if progress is None else progress)
    counts = {"ok": 0, "error": 0}

    def accept(rows: list[dict]) -> None:
        for row in rows:
            store.append(row)
            counts[row["status"]] += 1
            bar.update(counts["error"])

    try:
        if client is not None:
            run_dask(client, scheduler, plan, pending, fields_dir, timeout_s, accept)
        elif jobs > 1:
            run_processes(plan, pending, fields_dir, jobs, accept,
                          meanwhile=lambda: preload_outputs(plots))
        else:
            engine = SweepEngine.for_plan(plan, fields_dir)
            with single_threaded_blas():
                for point in pending:
                    accept([engine.evaluate(point)])
    finally:
        store.close()
        bar.close()
    return counts


def preload_outputs(plots: bool) -> None:
    """Import the libraries that write ``sweep.parquet`` and the figures (about 0.5 CPU s),
    while worker processes evaluate points: at the end of the sweep this process would
    otherwise import them on one core while the other idles. Any failure is left to the
    import where the files are written (which reports it)."""
    try:
        import pyarrow.csv  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except Exception:
        pass
    if plots:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot  # noqa: F401
        except Exception:
            pass


@contextmanager
def stop_on_signals():
    """SIGINT, SIGTERM and SIGHUP raise :class:`SweepInterrupted` in the main thread while the
    sweep runs (where no other handler is installed: a caller's own handler is left alone);
    after the first, further ones are ignored so that workers are stopped and the table is
    closed without being interrupted again. Handlers are restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [getattr(signal, name) for name in STOP_SIGNALS if hasattr(signal, name)]
    previous = {n: signal.getsignal(n) for n in numbers}
    ours = [n for n in numbers
            if previous[n] in (signal.SIG_DFL, signal.default_int_handler)]

    def stop(signum, frame):
        for n in ours:
            signal.signal(n, signal.SIG_IGN)
        raise SweepInterrupted(signum)

    for n in ours:
        signal.signal(n, stop)
    try:
        yield
    finally:
        for n in ours:
            signal.signal(n, previous[n])


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

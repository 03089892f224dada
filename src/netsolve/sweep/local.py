"""Local worker processes (``--jobs N``): a process pool whose workers die with the sweep.

Each worker keeps its engine between chunks. Workers are tied to the parent (see
:func:`~netsolve.sweep.worker.die_with_parent`); when the parent stops early (a signal, an
error, a worker that died), it terminates its workers itself before it returns, so no worker
process outlives the sweep.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool

from ..errors import CaseError
from .worker import chunks, die_with_parent, evaluate_points, keep_freed_memory

STOP_GRACE_S = 5.0  # after SIGTERM, a worker that has not exited is killed

_worker: dict = {}  # per worker process: the plan, the fields folder and the sweep's token


def _init_worker(plan, fields_dir, token: str, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    keep_freed_memory()
    _worker.update(plan=plan, fields_dir=fields_dir, token=token)


def _evaluate_in_pool(points) -> list[dict]:
    return evaluate_points(_worker["plan"], _worker["fields_dir"], _worker["token"], points)


def run_processes(plan, pending, fields_dir, jobs: int, accept, meanwhile=None) -> None:
    """Evaluate ``pending`` on ``jobs`` worker processes; ``accept`` gets each chunk's rows.
    ``meanwhile``: a function this process runs in a thread while the workers work (it is
    started once they are forked and has ended when this returns)."""
    before = set(multiprocessing.active_children())
    pool = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker,
                               initargs=(plan.for_workers(), fields_dir, uuid.uuid4().hex,
                                         os.getpid()))
    thread = None
    try:
        # with fork, the pool forks all its workers at the first submit, never later: the
        # thread starts after that (a fork copies only the calling thread)
        futures = [pool.submit(_evaluate_in_pool, chunk) for chunk in chunks(pending, jobs)]
        if meanwhile is not None:
            thread = threading.Thread(target=meanwhile, name="netsolve-meanwhile", daemon=True)
            thread.start()
        for future in as_completed(futures):
            accept(future.result())
        if thread is not None:
            thread.join()
    except BaseException as exc:
        if thread is not None:
            thread.join()
        stop_processes(set(multiprocessing.active_children()) - before)
        pool.shutdown(wait=True, cancel_futures=True)
        if isinstance(exc, BrokenProcessPool):
            raise CaseError("a sweep worker process died (killed, or out of memory?); the "
                            "finished points are in sweep.csv: rerun with --resume") from None
        raise
    pool.shutdown(wait=True)


def stop_processes(processes) -> None:
    """Terminate worker processes and wait for them (SIGKILL after ``STOP_GRACE_S``)."""
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(STOP_GRACE_S)
        if process.is_alive():
            process.kill()
            process.join()

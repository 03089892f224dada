"""Parameter sweeps: a grid of case values solved point by point, reusing unchanged stages.

grid.py (parameter specs, cartesian product), plan.py (the validated plan, stable point ids,
which stage a key invalidates), engine.py (per-point evaluation with stage caching, the row),
store.py (sweep.csv append / resume checks, Parquet), files.py (atomic writes, fingerprints),
runner.py (serial run, signals, progress), worker.py (the worker side), local.py (worker
processes), cluster.py (Dask), plots.py (figures). See ``docs/sweeps.md``.
"""

from .grid import Parameter, parse_param
from .plan import SweepPlan, build_plan
from .runner import SweepInterrupted, SweepOutcome, run_sweep
from .store import read_table

__all__ = ["Parameter", "SweepInterrupted", "SweepOutcome", "SweepPlan", "build_plan",
           "parse_param", "read_table", "run_sweep"]

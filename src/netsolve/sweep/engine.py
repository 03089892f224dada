"""Evaluating sweep points, reusing what a point does not change (one engine per worker).

Per swept key, :func:`netsolve.sweep.plan.stage_of` says which stage it invalidates. The engine
keeps the last microstructure, grain graph, GB geometry (the field-free part of the GB table;
rebuilt when :func:`~netsolve.sweep.plan.changes_gb_geometry` says a key changes it) and two-point
network (link topology + the sparsity pattern of its matrix): while only ``materials.*`` /
``solver.*`` / ``analysis.*`` change, a point recomputes the conductivities and link conductances
(vectorized), refills the matrix values in place of a new assembly, and solves with CG started from
the Galerkin projection of its system onto the nearest solutions this worker already finished
(:func:`netsolve.initial_guess.projected_guess`: never further from the answer, in the energy
norm, than the nearest solution itself), preconditioned by the last AMG hierarchy until it needs
more than ``AMG_GROWTH`` times the iterations it took when it was built (then a fresh one is set
up for that matrix; every point still converges to its rtol and balance checks). A grid
multigrid hierarchy (``gmg``, about 1.5 CG iterations of setup at 512^2) is set up for every
point whose conductances changed; with the grid multigrid the matrix is applied on the grid, no
CSR matrix is refilled.
Finite-element points rebuild their operator (its matrix depends on the tensors per element) but
keep the microstructure.

The row of a point is made from the same :class:`~netsolve.result.Result` that ``netsolve run``
writes (summary and GB table), so a sweep row equals the point solved alone.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..analysis import headline
from ..errors import CaseError
from .files import SweepWriteError, atomic_path
from .plan import (STAGE_MICROSTRUCTURE, STAGE_PROPERTIES, Point, SweepPlan,
                   changes_gb_geometry, stage_of)

AMG_GROWTH = 2.0  # rebuild the AMG hierarchy when CG needs more than this x its first count
AMG_SLACK = 5  # ... plus a few iterations (small counts fluctuate)
WARM_SOLUTIONS = 8  # finished solutions kept per worker for warm starts (memory: n x 8 bytes each)
# the nearest kept solutions whose Galerkin projection is a point's initial guess (one matrix
# product each; measured on the 512^2 gmg sweep: 4 saved as many iterations as 8, for less)
PREDICTOR_BASIS = 4


class MatrixPattern:
    """The CSR sparsity pattern of a two-point network matrix; refilled from new conductances
    without a new assembly (positions of each link's entries found once)."""

    def __init__(self, network):
        from ..solve import network_matrix

        self.matrix = network_matrix(network).tocsr()
        self.matrix.sort_indices()
        n = network.n_nodes
        a = network.link_nodes[:, 0].astype(np.int64)
        b = network.link_nodes[:, 1].astype(np.int64)
        diag = np.arange(n, dtype=np.int64)
        rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(self.matrix.indptr))
        stored = rows * n + self.matrix.indices
        self.positions = np.searchsorted(stored, np.concatenate([a * n + b, b * n + a,
                                                                 diag * n + diag]))
        # Where each stored entry's value comes from, when every entry is one link's or one
        # diagonal's (always, for a two-point network): a refill then gathers in the matrix's
        # order, which is faster than scattering into it.
        self.source = None
        counts = np.bincount(self.positions, minlength=len(stored))
        if len(counts) == len(stored) and (counts == 1).all():  # a permutation
            self.source = np.empty(len(stored), dtype=np.int64)
            self.source[self.positions] = np.arange(len(stored))
        self.n_nodes = n

    def refill(self, network) -> sp.csr_matrix:
        g = network.link_conductance
        a, b = network.link_nodes[:, 0], network.link_nodes[:, 1]
        n = self.n_nodes
        diagonal = (np.bincount(a, g, n) + np.bincount(b, g, n)
                    + np.bincount(network.electrode_link_node, network.electrode_link_conductance,
                                  n))
        values = np.concatenate([-g, -g, diagonal])
        if self.source is not None:
            data = np.take(values, self.source)
        else:
            data = np.zeros(len(self.matrix.data))
            data[self.positions] = values
        return sp.csr_matrix((data, self.matrix.indices, self.matrix.indptr),
                             shape=self.matrix.shape)


class SweepEngine:
    """Evaluates points of one plan, caching upstream stages between points."""

    def __init__(self, plan: SweepPlan, fields_dir: Path | None = None, *, reuse: bool = True):
        """``reuse=False`` turns off warm starts and AMG reuse (stages are still cached): for
        measuring what they bring (``validation/bench_sweep.py``)."""
        self.plan = plan
        self.fields_dir = fields_dir
        self.reuse = reuse
        stages = [stage_of(k) for k in plan.keys]
        self._micro_keys = [i for i, s in enumerate(stages) if s == STAGE_MICROSTRUCTURE]
        self._property_keys = [i for i, s in enumerate(stages)
                               if s in (STAGE_MICROSTRUCTURE, STAGE_PROPERTIES)]
        self._geometry_keys = [i for i, k in enumerate(plan.keys) if changes_gb_geometry(k)]
        spans = []
        for p in plan.parameters:
            coords = self._coords_1d(p.values, p.scale)
            spans.append(max(float(np.ptp(coords)), 1e-300))
        self._spans = np.array(spans)
        self._micro_key = None
        self._micro = self._graph = self._network = self._pattern = None
        self._props_key = self._props = None
        self._geometry_key = self._geometry = None
        self._warm_solutions: OrderedDict = OrderedDict()
        self._preconditioner = None
        self._preconditioner_iterations = 0
        self._preconditioner_conductances = None

    @staticmethod
    def for_plan(plan: SweepPlan, files_dir: Path | None = None, **options) -> SweepEngine:
        """The engine of a plan's kind of sweep: DC (this class) or impedance
        (:class:`netsolve.sweep.spectra.ImpedanceEngine`); ``files_dir``: where per-point files
        go (``fields/`` or ``spectra/``), None for none."""
        if plan.impedance:
            from .spectra import ImpedanceEngine

            return ImpedanceEngine(plan, files_dir, **options)
        return SweepEngine(plan, files_dir, **options)

    @staticmethod
    def _coords_1d(values, scale):
        values = np.asarray(values, float)
        return np.log10(values) if scale == "log" and (values > 0).all() else values

    def _coords(self, point: Point) -> np.ndarray:
        return np.array([self._coords_1d([v], p.scale)[0]
                         for v, p in zip(point.values, self.plan.parameters)]) / self._spans

    # ----------------------------------------------------------------------- one point

    def evaluate(self, point: Point) -> dict:
        """The row of one point (failures are rows with status "error" and the message)."""
        start = time.perf_counter()
        try:
            row = self.point_values(point)
            row.update(status="ok", message="")
        except SweepWriteError:
            raise  # the folder cannot be written: the sweep stops, this is no point's error
        except CaseError as exc:
            row = {"status": "error", "message": one_line(str(exc))}
        except (ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
            row = {"status": "error", "message": one_line(f"{type(exc).__name__}: {exc}")}
        row.update({"point_id": point.point_id, "wall_s": time.perf_counter() - start})
        row.update(dict(zip(self.plan.keys, point.values)))
        return row

    def point_values(self, point: Point) -> dict:
        """The quantities of one solved point's row (and its fields file, if asked for)."""
        result = self.solve(point)
        row = point_row(self.plan, result)
        if self.fields_dir is not None:
            write_point_fields(result, self.fields_dir / f"{point.point_id}.npz")
        return row

    def solve(self, point: Point):
        """Solve one point with the cached stages; returns its :class:`Result`."""
        from ..discretization import build_operator
        from ..discretization.tpfa import with_conductances
        from ..microstructure import build_microstructure
        from ..properties import compute_properties
        from ..result import Result
        from ..solve import solve_network
        from ..solvers import WarmStart

        case = self.plan.point_case(point)
        micro_key = tuple(point.values[i] for i in self._micro_keys)
        if micro_key != self._micro_key:
            self._micro_key = None  # stays None if building fails: the next point retries
            self._micro = build_microstructure(case)
            self._graph = self._network = self._pattern = self._props_key = None
            self._geometry = None
            self._warm_solutions.clear()
            self._preconditioner = None
            self._micro_key = micro_key
        micro = self._micro
        props_key = tuple(point.values[i] for i in self._property_keys)
        if props_key != self._props_key:
            self._props = compute_properties(micro, case.materials)
            self._props_key = props_key
        props = self._props

        matrix = None
        on_grid = False
        if case.solver.discretization != "tpfa":  # only the two-point links are refilled
            operator = build_operator(case, micro, props)
        else:
            if self._network is None:
                operator = self._network = build_operator(case, micro, props)
            else:
                operator = with_conductances(self._network, case, props)
            # The grid multigrid applies the matrix on the grid (as `netsolve run` does): a
            # CSR matrix would only be refilled for the residual checks.
            on_grid = grid_multigrid(case, operator)
            if not on_grid:
                if self._pattern is None:
                    self._pattern = MatrixPattern(operator)
                    matrix = self._pattern.matrix
                else:
                    matrix = self._pattern.refill(operator)

        coords = self._coords(point)
        warm = None
        if self.reuse:
            nearest = self._nearest_solutions(coords)
            warm = WarmStart(x0=nearest[0] if nearest else None,
                             preconditioner=self._reusable(operator, on_grid),
                             reused_maxiter=self._reuse_budget(), basis=nearest or None)
        solution = solve_network(operator, case.electrodes, case.solver, case.label,
                                 matrix=matrix, warm=warm)
        self._remember(coords, warm, operator)
        fields = operator.fields(solution, props, micro.electrode_index)
        result = Result(case, micro, props, operator, solution, fields)
        if self._graph is None:
            self._graph = result.graph
        else:  # the grain graph depends on the microstructure only: share it (a cached_property)
            result.__dict__["graph"] = self._graph
        self._share_gb_geometry(result, tuple(point.values[i] for i in self._geometry_keys))
        return result

    def _share_gb_geometry(self, result, geometry_key: tuple) -> None:
        """The GB geometry depends on the microstructure and the segment/band options only:
        the first point of each builds it, the next ones share it (a cached_property). Without
        orientations the row needs no GB table, so nothing is built."""
        if len(result.microstructure.unoriented_grain_ids):
            return
        if self._geometry is None or geometry_key != self._geometry_key:
            self._geometry_key = None  # stays None if building fails: the next point retries
            self._geometry = result.gb_geometry
            self._geometry_key = geometry_key
        else:
            result.__dict__["gb_geometry"] = self._geometry

    def _nearest_solutions(self, coords: np.ndarray) -> list:
        """The kept solutions nearest to ``coords`` first, at most ``PREDICTOR_BASIS``."""
        keys = list(self._warm_solutions)
        distance = [float(np.sum((np.array(k) - coords) ** 2)) for k in keys]  # <= 8 entries
        order = np.argsort(distance, kind="stable")[:PREDICTOR_BASIS]
        return [self._warm_solutions[keys[i]] for i in order]

    def _reusable(self, operator, on_grid: bool):
        """The kept preconditioner, if this point may use it (``on_grid``: the point is solved
        by the grid multigrid). A grid multigrid hierarchy only for the very conductances it
        was built for: its setup costs about 1.5 CG iterations, while the hierarchy of a
        neighbouring point cost more iterations than that on the 512^2 sweep, and CG
        restarted when it had to be rebuilt (docs/performance.md)."""
        if self._preconditioner is None or _is_grid_hierarchy(self._preconditioner) != on_grid:
            return None  # none kept, or one of the other solver (a swept solver.method)
        if not on_grid:
            return self._preconditioner
        built_for = self._preconditioner_conductances
        same = (built_for is not None and hasattr(operator, "link_conductance")
                and np.array_equal(built_for[0], operator.link_conductance)
                and np.array_equal(built_for[1], operator.electrode_link_conductance))
        return self._preconditioner if same else None

    def _reuse_budget(self) -> int | None:
        if self._preconditioner is None or _is_grid_hierarchy(self._preconditioner):
            return None  # a grid hierarchy is reused for its own matrix only: no budget
        return int(math.ceil(AMG_GROWTH * self._preconditioner_iterations)) + AMG_SLACK

    def _remember(self, coords: np.ndarray, warm, operator) -> None:
        if warm is None:
            return
        if warm.solution is not None:
            self._warm_solutions[tuple(coords)] = warm.solution
            while len(self._warm_solutions) > WARM_SOLUTIONS:
                self._warm_solutions.popitem(last=False)
        if warm.preconditioner is not None and warm.rebuilt:
            self._preconditioner_iterations = max(warm.fresh_iterations, 1)
        self._preconditioner = warm.preconditioner
        # a grid hierarchy back from a solve belongs to this operator's conductances (built
        # for them, or reused because they were equal)
        self._preconditioner_conductances = (
            (operator.link_conductance, operator.electrode_link_conductance)
            if _is_grid_hierarchy(warm.preconditioner) and hasattr(operator, "link_conductance")
            else None)


def _is_grid_hierarchy(preconditioner) -> bool:
    from ..multigrid.cycle import Hierarchy

    return isinstance(preconditioner, Hierarchy)


def grid_multigrid(case, network) -> bool:
    """Whether the solve stage will take the grid multigrid for this case and network (the
    choice of :func:`netsolve.solve.solve_network`, here over all nodes: with floating nodes it
    may differ, and the solve stage then assembles the matrix it needs itself)."""
    from ..solve import chosen_method

    return chosen_method(network, network.n_nodes, case.solver) == "gmg"


# --------------------------------------------------------------------------- the row


def row_columns(plan: SweepPlan) -> list[str]:
    """The columns of ``sweep.csv``, in order."""
    if plan.impedance:
        from .spectra import spectrum_columns

        return spectrum_columns(plan)
    risk = [f"risk_{i}_{c}" for i in range(1, plan.top_k + 1) for c in ("gb", "score")]
    return (["point_id", *plan.keys, "status", "message", "total_current_A",
             "effective_resistance_ohm", "effective_conductivity_S_m", "n_blocking_gbs",
             "blocking_gbs", "max_gb_field_V_m", "max_gb_field_gb", *risk, "solver_method",
             "solver_iterations", "solver_residual_rel", "solver_setup_s", "solver_time_s",
             "wall_s"])


def row_number_columns(plan: SweepPlan) -> tuple[set[str], set[str]]:
    """The numeric columns of an ``ok`` row: those that must hold a finite number, and those
    that may be ``nan`` (undefined: no face electrodes, no orientations, fewer GBs than k).
    An ``error`` row has the swept values and ``wall_s`` only."""
    if plan.impedance:
        from .spectra import spectrum_number_columns

        return spectrum_number_columns(plan)
    finite = {*plan.keys, "total_current_A", "effective_resistance_ohm", "n_blocking_gbs",
              "solver_iterations", "solver_residual_rel", "solver_setup_s", "solver_time_s",
              "wall_s"}
    maybe_nan = {"effective_conductivity_S_m", "max_gb_field_V_m",
                 *(f"risk_{i}_score" for i in range(1, plan.top_k + 1))}
    return finite, maybe_nan


def text_columns(plan: SweepPlan) -> tuple[str, ...]:
    """The columns of ``sweep.csv`` that hold text (Parquet types them as strings)."""
    if plan.impedance:
        from .spectra import spectrum_text_columns

        return spectrum_text_columns(plan)
    return ("point_id", "status", "message", "blocking_gbs", "max_gb_field_gb", "solver_method",
            *(f"risk_{i}_gb" for i in range(1, plan.top_k + 1)))


def one_line(text: str) -> str:
    """A message as one line of ``sweep.csv`` (a row is one physical line)."""
    return " ".join(text.split())


def point_row(plan: SweepPlan, result) -> dict:
    """The headline quantities of a solved point: the values ``Result.summary()`` gives them
    (the same properties, made JSON-ready the same way) and the GB headline of its GB table
    (the code ``netsolve run`` prints and writes summary.json with). Only what the row holds is
    computed: not the rest of the summary, nor the ``reason`` sentences of a GB table that the
    point has not built yet."""
    from ..result import strict_json

    summary = strict_json({
        "total_current_A": result.total_current_A,
        "effective_resistance_ohm": result.effective_resistance_ohm,
        "effective_conductivity_S_m": result.effective_conductivity_S_m,
        "solver": result.solution.stats.as_dict()})
    solver = summary["solver"]
    conductivity = summary["effective_conductivity_S_m"]
    row = {"total_current_A": summary["total_current_A"],
           "effective_resistance_ohm": summary["effective_resistance_ohm"],
           "effective_conductivity_S_m": math.nan if conductivity is None else conductivity,
           "solver_method": solver["method"], "solver_iterations": solver["iterations"],
           "solver_residual_rel": solver["residual_rel"],
           "solver_setup_s": solver["setup_time_s"], "solver_time_s": solver["time_s"],
           "n_blocking_gbs": 0, "blocking_gbs": "", "max_gb_field_V_m": math.nan,
           "max_gb_field_gb": ""}
    for i in range(1, plan.top_k + 1):
        row.update({f"risk_{i}_gb": "", f"risk_{i}_score": math.nan})
    if len(result.microstructure.unoriented_grain_ids):
        return row  # no GB classification without orientations (isotropic cases may omit them)
    table = result.__dict__.get("gb_table")  # Result.gb_table, if the point built it
    if table is None:
        from ..analysis import gb_table

        table = gb_table(result.case, result.microstructure, result.graph, result.fields,
                         result.solution.electrode_potential, geometry=result.gb_geometry,
                         applied_fields=result.applied_fields, explained=False)
    gbs = headline(table, plan.top_k)
    row["n_blocking_gbs"] = len(gbs.blocking)
    row["blocking_gbs"] = " ".join(name for name, _ in gbs.blocking)
    if gbs.max_field is not None:
        row.update(max_gb_field_gb=gbs.max_field[0], max_gb_field_V_m=gbs.max_field[1])
    for i, (name, score) in enumerate(gbs.top_risk, start=1):
        row.update({f"risk_{i}_gb": name, f"risk_{i}_score": score})
    return row


def write_point_fields(result, path: Path) -> Path:
    """``fields/<point_id>.npz`` (compressed): potential (V), current_density (A/m^2),
    electric_field (V/m), labels; written to a temporary name, then renamed (atomic)."""
    fields = result.fields
    advice = "free space or fix the folder, then rerun with --resume"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepWriteError(f"{path.parent}: cannot create ({exc.strerror or exc}); "
                              f"{advice}") from None
    with atomic_path(path) as tmp, open(tmp, "xb") as stream:
        np.savez_compressed(stream, potential=fields.potential,
                            current_density=fields.current_density,
                            electric_field=fields.electric_field,
                            labels=result.microstructure.labels)
    return path

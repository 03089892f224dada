"""The :class:`Result` of a solve: every stage's output plus the global quantities."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import __version__
from .case import Case
from .fields import Fields
from .microstructure import Microstructure
from .properties import Properties
from .solve import NetworkSolution


@dataclass(frozen=True)
class Result:
    """A solved case.

    Sign convention: an electrode current is positive when current flows from the electrode
    into the sample. ``total_current_A`` is the sum of the positive electrode currents (the
    current that passes through the sample); ``effective_resistance_ohm`` is the spread of the
    electrode potentials divided by it (for two electrodes: (V_source - V_sink) / I).
    """

    case: Case
    microstructure: Microstructure
    properties: Properties
    network: object  # the operator of the chosen discretization (netsolve.discretization)
    solution: NetworkSolution
    fields: Fields
    certificate: object = None  # netsolve.certify.Certificate with [solver] bounds
    # The applied field (netsolve.analysis.applied), for the GB table's applied_subtype column:
    # netsolve.solve(..., compare_applied=True), as netsolve run does; else None.
    applied_fields: Fields | None = None

    def __post_init__(self):
        check_power_balance(self)

    @cached_property
    def graph(self):
        """The grain graph (networkx.Graph, see :mod:`netsolve.graph`), built on first use."""
        from .graph import build_grain_graph  # networkx is imported only when needed

        return build_grain_graph(self.microstructure)

    @cached_property
    def gb_geometry(self):
        """The field-free part of the GB analysis (:class:`netsolve.analysis.GBGeometry`), on
        first use (a sweep shares it between points of the same microstructure)."""
        from .analysis import gb_geometry

        return gb_geometry(self.case, self.microstructure, self.graph)

    @cached_property
    def gb_table(self):
        """GB classification and metrics (:class:`netsolve.analysis.GBTable`), on first use."""
        from .analysis import gb_table

        return gb_table(self.case, self.microstructure, self.graph, self.fields,
                        self.solution.electrode_potential, geometry=self.gb_geometry,
                        applied_fields=self.applied_fields)

    @property
    def classifiable(self) -> bool:
        """Whether the GBs can be classified: every grain has an orientation and there is a
        GB (a uniform isotropic case may have neither)."""
        return not len(self.microstructure.unoriented_grain_ids) and bool(len(self.graph.edges))

    @cached_property
    def grain_table(self):
        """Per-grain metrics (:class:`netsolve.analysis.GrainTable`); GB counts when every
        grain has an orientation."""
        from .analysis import grain_table

        oriented = len(self.microstructure.unoriented_grain_ids) == 0
        return grain_table(self.case, self.microstructure, self.graph, self.fields,
                           self.gb_table if oriented else None)

    @property
    def electrode_currents_A(self) -> dict[str, float]:
        return {e.name: float(i) for e, i in zip(self.case.electrodes,
                                                  self.solution.electrode_current)}

    @property
    def electrode_potentials_V(self) -> dict[str, float]:
        return {e.name: float(v) for e, v in zip(self.case.electrodes,
                                                  self.solution.absolute_electrode_potential)}

    @property
    def total_current_A(self) -> float:
        currents = self.solution.electrode_current
        return float(currents[currents > 0].sum())

    @property
    def effective_resistance_ohm(self) -> float:
        v = self.solution.electrode_potential
        total = self.total_current_A
        return float((v.max() - v.min()) / total) if total > 0 else float("inf")

    @property
    def effective_conductivity_S_m(self) -> float:
        """L / (R_eff A) for two face electrodes on opposite faces of the grid (L: the grid
        length between them, A: the cross-section, lamella thickness included in 2D), S/m;
        NaN for any other electrode layout."""
        from .voxels import EDGE_AXIS_SIDE

        electrodes = self.case.electrodes
        edges = [e.region.edge for e in electrodes if e.region.kind == "edge"]
        if len(electrodes) != 2 or len(edges) != 2:
            return float("nan")
        (axis_a, side_a), (axis_b, side_b) = (EDGE_AXIS_SIDE[e] for e in edges)
        if axis_a != axis_b or side_a == side_b:
            return float("nan")
        grid = self.case.grid
        extent = grid.extent_m
        area = float(np.prod([x for d, x in enumerate(extent) if d != axis_a]))
        if grid.ndim == 2:
            area *= grid.thickness_m
        return float(extent[axis_a] / (self.effective_resistance_ohm * area))

    @property
    def current_balance_rel(self) -> float:
        """|sum of electrode currents| / largest |electrode current| (Kirchhoff: ~0)."""
        currents = self.solution.electrode_current
        return float(abs(currents.sum()) / np.abs(currents).max())

    @property
    def electrode_power_W(self) -> float:
        """Power delivered by the electrodes, sum V_k I_k (W), with the potentials relative to
        the solution's offset (the same when the currents balance, without the rounding of
        large absolute potentials)."""
        return float(np.dot(self.solution.electrode_potential, self.solution.electrode_current))

    @property
    def power_balance_rel(self) -> float:
        """|Joule heat in all resistors - electrode power| / electrode power (Tellegen: ~0)."""
        supplied = self.electrode_power_W
        return float(abs(self.fields.joule_power_W - supplied) / abs(supplied))

    @property
    def n_floating_voxels(self) -> int:
        return int(self.network.floating_voxels(self.solution.floating).sum())

    @property
    def floating_fraction(self) -> float:
        """Floating voxels as a fraction of the conducting voxels."""
        return self.n_floating_voxels / max(int(self.microstructure.conducting.sum()), 1)

    def summary(self) -> dict:
        """The contents of ``summary.json`` (JSON-ready): a copy of the summary computed once
        (``netsolve run`` asks for it three times; at 2048^2 its GB headline takes 0.25 s)."""
        return _json_copy(self._summary)

    @cached_property
    def _summary(self) -> dict:
        micro = self.microstructure
        return strict_json({
            "netsolve_version": __version__,
            "case": self.case.label,
            "grid_shape": list(self.case.grid.shape),
            "voxel_size_nm": self.case.grid.voxel_size_m * 1e9,
            "thickness_nm": self.case.grid.thickness_m * 1e9,
            "conductivity_model": self.properties.model,
            "discretization": self.network.discretization,
            "electrode_currents_A": self.electrode_currents_A,
            "electrode_potentials_V": self.electrode_potentials_V,
            "total_current_A": self.total_current_A,
            "effective_resistance_ohm": self.effective_resistance_ohm,
            "effective_conductivity_S_m": self.effective_conductivity_S_m,
            "current_balance_rel": self.current_balance_rel,
            "joule_power_W": self.fields.joule_power_W,
            "electrode_power_W": self.electrode_power_W,
            "power_balance_rel": self.power_balance_rel,
            "n_voxels": int(micro.labels.size),
            "n_grains": int(len(np.unique(micro.labels[micro.phase == 0]))),
            "n_links": self.network.n_links,
            "n_gb_links": self.network.n_gb_links,
            "n_unknowns": self.solution.n_unknowns,
            "n_floating_voxels": self.n_floating_voxels,
            "floating_fraction": self.floating_fraction,
            "phase_fractions": micro.phase_fractions(),
            "microstructure_source": micro.source_report,
            "solver": self.solution.stats.as_dict(),
            "bounds": self.bounds_summary(),
            "grain_boundaries": self.gb_summary(),
        })

    def gb_summary(self) -> dict | None:
        """The blocking GBs, the GBs most at risk and the applied-field changes
        (:func:`netsolve.analysis.headline_summary`, what ``netsolve run`` prints); None when
        the GBs cannot be classified."""
        if not self.classifiable:
            return None
        from .analysis import headline_summary

        return headline_summary(self.gb_table)

    def bounds_summary(self) -> dict | None:
        """The brackets of a certified solve (``[solver] bounds``), None otherwise: lower and
        upper bounds of the power, the two-electrode conductance and resistance, the relative
        gap, whether it meets ``[solver] bound_tol``, and where this result's own value lies."""
        if self.certificate is None:
            return None
        out = self.certificate.summary()
        out["bound_tol"] = self.case.solver.bound_tol
        out["certified"] = bool(out["relative_gap"] <= self.case.solver.bound_tol)
        resistance = self.certificate.resistance_ohm
        if resistance.reason is None:
            # the mixed (or Q1) answer is itself a bound, equal to it to the solver's balance
            slack = self.case.solver.balance_tol
            out["resistance_ohm"]["this_result_inside"] = bool(
                resistance.lower * (1 - slack) <= self.effective_resistance_ohm
                <= resistance.upper * (1 + slack))
            # the reconstructed bounds can exclude the mixed solution's own R_eff: the
            # bracket's midpoint is then the answer to quote, +- half the gap
            out["resistance_ohm"]["estimate"] = 0.5 * (resistance.lower + resistance.upper)
        return out


def check_power_balance(result: Result) -> None:
    """Raise :class:`~netsolve.errors.SolveError` unless the Joule heat of the fields equals the
    electrode power to ``[solver] balance_tol`` (Tellegen; an independent check of the fields'
    flux reconstruction and of the solve, NaN/Inf never pass)."""
    from .errors import SolveError

    balance = result.power_balance_rel
    tolerance = result.case.solver.balance_tol
    if balance <= tolerance:  # False for NaN
        return
    raise SolveError(
        f"{result.case.label}: the Joule heat of the solved fields "
        f"({result.fields.joule_power_W:.6e} W) differs from the electrode power "
        f"({result.electrode_power_W:.6e} W) by {balance:.1e} (relative) > solver.balance_tol "
        f"{tolerance:.0e}: the result cannot be trusted (docs/model.md, 'Guards')")


def _json_copy(value):
    """A copy of JSON-ready data: new dicts and lists, the same (immutable) scalars."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_copy(v) for v in value]
    return value


def strict_json(value):
    """``value`` (dicts, lists, numbers, strings) with every NaN/Inf replaced by None, NumPy
    scalars by Python ones: JSON has no NaN, and summary.json is strict JSON (undefined
    quantities, e.g. the conductivity of a non-slab layout, are null)."""
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value

"""The plan of a sweep: parameters (``[sweep]`` table + ``--param``), every point's case data,
validated through the case reader before anything starts, and stable point ids.

A point's case is the case file with the swept keys replaced, read by
:func:`netsolve.case.case_from_dict` exactly like a case file, so an out-of-range value is
refused with the message a case file would get.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from ..case import Case, case_from_dict
from ..errors import CaseError
from ..input_files import read_toml
from ..tables import Table
from .grid import MAX_SWEEP_POINTS, Parameter, grid_indices, grid_size, table_param

DEFAULT_MAX_POINTS = 10_000
DEFAULT_TOP_K = 5
DEFAULT_ARCS = 3  # arcs per row of an impedance sweep
SWEEP_TABLE = "sweep"

# Which stage a key invalidates: later stages are recomputed, earlier ones are reused.
STAGE_SOLVE = "solve"  # same network, new solve
STAGE_PROPERTIES = "properties"  # same microstructure and link topology, new conductances
STAGE_MICROSTRUCTURE = "microstructure"  # everything is rebuilt
STAGE_OF_TABLE = {"solver": STAGE_SOLVE, "analysis": STAGE_SOLVE, "impedance": STAGE_SOLVE,
                  "materials": STAGE_PROPERTIES}
# materials.asr_ct_ohm_m2 is the electrodes' default contact resistance: electrode links only,
# which the conductance refill recomputes as well.


def stage_of(key: str) -> str:
    """The earliest pipeline stage a change of ``key`` invalidates."""
    return STAGE_OF_TABLE.get(key.split(".")[0], STAGE_MICROSTRUCTURE)


def changes_gb_geometry(key: str) -> bool:
    """Whether a change of ``key`` changes the field-free part of the GB analysis
    (:class:`netsolve.analysis.GBGeometry`): a microstructure key, or one of the analysis
    options it is built with (segments, bands); other ``analysis.*`` keys (tolerances, the
    field, the negative electrode) only change the classification and metrics."""
    from ..analysis.geometry import GEOMETRY_OPTIONS

    return (stage_of(key) == STAGE_MICROSTRUCTURE
            or key in {f"analysis.{option}" for option in GEOMETRY_OPTIONS})


@dataclass(frozen=True)
class Point:
    """One grid point. ``index`` per parameter; ``values`` in parameter order; ``point_id`` is
    stable (flat index + a hash of the values), so a resumed sweep matches its rows exactly."""

    index: tuple[int, ...]
    values: tuple[float | int, ...]
    point_id: str
    flat: int


@dataclass(frozen=True)
class SweepPlan:
    """Everything a worker needs: the case data (the parsed TOML without ``[sweep]``), where
    its relative paths resolve, the parameters and the points (in grid order).
    ``input_files``: every file the points' cases read (label maps, masks, orientation tables,
    polygons, EBSD maps; resolved paths), fingerprinted by ``--resume``."""

    case_data: dict
    base_dir: Path
    case_path: Path | None
    case_name: str
    parameters: tuple[Parameter, ...]
    points: tuple[Point, ...]
    top_k: int
    input_files: tuple[Path, ...] = ()
    impedance: bool = False  # each point's job: the impedance spectrum (docs/sweeps.md)
    arcs: int = DEFAULT_ARCS  # arcs per row of an impedance sweep

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p.key for p in self.parameters)

    def point_data(self, point: Point) -> dict:
        data = copy.deepcopy(self.case_data)
        for key, value in zip(self.keys, point.values):
            set_key(data, key, value, integral=key in self.integer_keys)
        return data

    @cached_property
    def integer_keys(self) -> frozenset[str]:
        """Swept keys the case file gives as integers (e.g. ``microstructure.seed``): whole
        values of a linspace are passed to them as integers."""
        keys = set()
        for key in self.keys:
            parts = key.split(".")
            try:
                value = _container(copy.deepcopy(self.case_data), key, parts).get(parts[-1])
            except CaseError:
                continue
            if isinstance(value, int) and not isinstance(value, bool):
                keys.add(key)
        return frozenset(keys | (set(self.keys) & set(INTEGER_KEYS)))

    def for_workers(self) -> SweepPlan:
        """The plan without its points and input files: what a worker needs to evaluate the
        points it is given (small to send, whatever the grid size)."""
        return dataclasses.replace(self, points=(), input_files=())

    def point_case(self, point: Point) -> Case:
        """The case of one point (an impedance sweep's on the two-point network, where its
        spectra are computed)."""
        case = case_from_dict(self.point_data(point), base_dir=self.base_dir,
                              origin=self.case_path.name if self.case_path else self.case_name,
                              path=self.case_path, name=self.case_name)
        if self.impedance:
            from ..impedance.pipeline import two_point_case

            case = two_point_case(case)
        return case

    def memory_cases(self) -> list[Case]:
        """The point cases whose memory estimates differ: the first point, or every point when
        a grid or solver key is swept (the only keys the estimate depends on)."""
        varying = any(key.split(".")[0] in ("grid", "solver") for key in self.keys)
        return [self.point_case(p) for p in (self.points if varying else self.points[:1])]

    def definition(self) -> dict:
        """What identifies the sweep (``sweep.json``): ``--resume`` refuses another one."""
        canonical = json.dumps(self.case_data, sort_keys=True, default=str)
        out = {"case": self.case_path.name if self.case_path else self.case_name,
               "case_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
               "parameters": [p.as_dict() for p in self.parameters],
               "top_k": self.top_k, "n_points": len(self.points)}
        if self.impedance:  # only then: a DC sweep's sweep.json stays as before
            out["impedance"] = {"arcs": self.arcs}
        return out


def point_id(flat: int, keys: tuple[str, ...], values: tuple, width: int) -> str:
    canonical = json.dumps([[k, float(v).hex()] for k, v in zip(keys, values)])
    return f"{flat:0{width}d}-{hashlib.sha1(canonical.encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------- case keys


def _container(data: dict, key: str, parts: list[str]):
    """The table that holds the last part of a dotted key (arrays of tables by name or index,
    e.g. ``electrodes.sink.potential_V``)."""
    node = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            match = [e for e in node if isinstance(e, dict) and e.get("name") == part]
            if not match and part.isdigit() and int(part) < len(node):
                match = [node[int(part)]]
            if not match:
                names = [str(e.get("name")) for e in node if isinstance(e, dict)]
                raise CaseError(f"sweep key '{key}': no entry '{part}' in "
                                f"'{'.'.join(parts[:depth])}' (entries: {', '.join(names)})")
            node = match[0]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise CaseError(f"sweep key '{key}': '{'.'.join(parts[:depth + 1])}' is not a table")
    if not isinstance(node, dict):
        raise CaseError(f"sweep key '{key}' names an array, not a value")
    return node


def set_key(data: dict, key: str, value, integral: bool = False) -> None:
    if integral and isinstance(value, float) and value.is_integer():
        value = int(value)
    parts = key.split(".")
    _container(data, key, parts)[parts[-1]] = value


def numeric_keys(data, prefix: str = "") -> list[str]:
    """Dotted keys of every number in the case data (for suggestions)."""
    out = []
    items = data.items() if isinstance(data, dict) else (
        (str(e.get("name", k)) if isinstance(e, dict) else str(k), e) for k, e in enumerate(data))
    for name, value in items:
        key = f"{prefix}{name}"
        if isinstance(value, (dict, list)):
            out += numeric_keys(value, key + ".")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out.append(key)
    return out


# Optional numeric keys a case file may leave out (their defaults apply).
OPTIONAL_NUMERIC_KEYS = (
    "grid.thickness_nm", "materials.sigma_ip_S_per_m", "materials.ratio_ip_op",
    "materials.ratio_ip_gb", "materials.gb_thickness_nm", "materials.ratio_ip_backbone",
    "materials.asr_ct_ohm_m2", "solver.rtol", "solver.maxiter", "solver.direct_max_unknowns",
    "analysis.type_tolerance_deg", "analysis.across_angle_deg", "analysis.segment_angle_deg",
    "analysis.segment_smoothing_nm", "analysis.band_width_nm",
    *(f"materials.{key}" for key in ("eps_r_bulk", "eps_r_gb", "eps_r_backbone",
                                     "double_layer_F_per_m2")),
    *(f"impedance.{key}" for key in ("f_min_Hz", "f_max_Hz", "points_per_decade", "rtol",
                                     "maxiter", "drt_lambda", "drt_tolerance", "kk_tolerance")))
OPTIONAL_ELECTRODE_KEYS = ("asr_ohm_m2", "double_layer_F_per_m2")
# Integer keys: whole values of a linspace are passed to them as integers.
INTEGER_KEYS = ("solver.maxiter", "solver.direct_max_unknowns", "microstructure.seed",
                "microstructure.n_grains", "impedance.points_per_decade", "impedance.maxiter")
# Keys that change only the AC response (a DC sweep refuses them) and keys that change no
# row of an impedance sweep (its row has no GB analysis, nor contribution frequencies).
AC_ONLY = ("materials.eps_r_bulk", "materials.eps_r_gb", "materials.eps_r_backbone",
           "materials.double_layer_F_per_m2")
TEXT_KEYS = ("materials.conductivity_model", "materials.electrode_link", "solver.method",
             "solver.discretization", "analysis.field", "analysis.negative_electrode",
             "microstructure.source", "microstructure.path", "output.dir")


def check_key(data: dict, key: str, impedance: bool = False) -> None:
    """Refuse keys that are not numeric case keys (naming close matches), and keys that do not
    change the rows of this kind of sweep (DC or ``impedance``)."""
    import difflib

    electrodes = [str(e.get("name", k)) if isinstance(e, dict) else str(k)
                  for k, e in enumerate(data.get("electrodes", []) or [])]
    known = sorted(set(numeric_keys(data)) | set(OPTIONAL_NUMERIC_KEYS)
                   | {f"electrodes.{name}.{key}" for name in electrodes
                      for key in OPTIONAL_ELECTRODE_KEYS})
    if key in known or (key.startswith("electrodes.") and key.count(".") == 2
                        and key.split(".")[2] in OPTIONAL_ELECTRODE_KEYS
                        and key.split(".")[1].isdigit()):
        _check_applies(key, impedance)
        return
    parts = key.split(".")
    try:
        holder = _container(copy.deepcopy(data), key, parts)
        existing = holder.get(parts[-1])
    except CaseError:
        existing = None
    if key in TEXT_KEYS and existing is None:
        existing = "text"
    if existing is not None and not isinstance(existing, (int, float)):
        raise CaseError(f"sweep key '{key}' is not numeric (a {type(existing).__name__} "
                        f"key); only numbers can be swept")
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise CaseError(f"sweep key '{key}' is not a numeric key of this case{hint}")


def _check_applies(key: str, impedance: bool) -> None:
    if not impedance and (key in AC_ONLY or key.startswith("impedance.")
                          or key.endswith(".double_layer_F_per_m2")):
        raise CaseError(f"sweep key '{key}' changes only the impedance spectrum, not the DC "
                        f"solve of a sweep point; sweep it with --impedance (or [sweep] "
                        f"impedance = true)")
    if impedance and (key.startswith("analysis.")
                      or key == "impedance.contribution_frequency_Hz"):
        raise CaseError(f"sweep key '{key}' does not change the row of an impedance sweep "
                        f"(spectrum, arcs and the DC resistance); sweep it without --impedance")


# --------------------------------------------------------------------------- the plan


def read_sweep_table(raw, origin: str) -> dict:
    """``[sweep]``: ``top_k``, ``max_points``, ``impedance``, ``arcs`` and the
    ``[sweep.parameters]`` table (a dict of these; None where not given)."""
    t = Table(raw, SWEEP_TABLE, origin)
    params_raw = t.raw("parameters", {})
    Table(params_raw, "sweep.parameters", origin)  # type check: a table
    out = {"parameters": tuple(table_param(k, v, origin) for k, v in params_raw.items()),
           "top_k": t.integer("top_k", None, minimum=1),
           "max_points": t.integer("max_points", None, minimum=1),
           "impedance": t.boolean("impedance", False),
           "arcs": t.integer("arcs", None, minimum=1)}
    t.finish()
    return out


def build_plan(case_path: str | Path, cli_parameters: tuple[Parameter, ...] = (), *,
               top_k: int | None = None, max_points: int | None = None,
               allow_large: bool = False, impedance: bool | None = None,
               arcs: int | None = None) -> SweepPlan:
    """Read the case and its sweep, validate every point, and return the plan.

    ``--param`` entries replace ``[sweep.parameters]`` entries of the same key. A grid larger
    than ``max_points`` (default: ``[sweep] max_points``, else 10000) needs ``allow_large``.
    ``impedance`` (default: ``[sweep] impedance``, else False): each point computes the
    impedance spectrum, and its row holds ``arcs`` arcs (default ``[sweep] arcs``, else 3).
    """
    case_path = Path(case_path)
    data = read_toml(case_path, "case file")
    origin = case_path.name
    table = read_sweep_table(data.pop(SWEEP_TABLE, {}), origin)
    table_parameters, table_top_k, table_max = (table["parameters"], table["top_k"],
                                                table["max_points"])
    impedance = table["impedance"] if impedance is None else impedance
    if arcs is not None and arcs < 1:
        raise CaseError(f"--arcs must be >= 1, got {arcs}")
    if arcs is not None and not impedance:
        raise CaseError("--arcs applies to impedance sweeps only (--impedance)")
    if top_k is not None and impedance:
        raise CaseError("--top-k sets the GB risk columns of a DC sweep; an impedance sweep's "
                        "row has none (its size: --arcs)")
    merged = {p.key: p for p in table_parameters}
    merged.update({p.key: p for p in cli_parameters})
    parameters = tuple(merged.values())
    if not parameters:
        raise CaseError(f"{origin}: nothing to sweep: give --param KEY=VALUES or a "
                        f"[sweep.parameters] table")
    for p in parameters:
        check_key(data, p.key, impedance)
    cap = max_points or table_max or DEFAULT_MAX_POINTS
    size = grid_size(parameters)
    if size > MAX_SWEEP_POINTS:
        shape = " x ".join(str(len(p.values)) for p in parameters)
        raise CaseError(f"the grid has {size} points ({shape}), more than the maximum of "
                        f"{MAX_SWEEP_POINTS} points per sweep; use fewer values")
    if size > cap and not allow_large:
        raise CaseError(f"the grid has {size} points, more than the cap of {cap}; pass --yes to "
                        f"run it anyway or raise --max-points")
    keys = tuple(p.key for p in parameters)
    width = len(str(size - 1))
    points = []
    for flat, index in enumerate(grid_indices(parameters)):
        values = tuple(p.values[i] for p, i in zip(parameters, index))
        points.append(Point(index, values, point_id(flat, keys, values, width), flat))
    plan = SweepPlan(case_data=data, base_dir=case_path.resolve().parent,
                     case_path=case_path.resolve(), case_name=case_path.stem,
                     parameters=parameters, points=tuple(points),
                     top_k=top_k or table_top_k or DEFAULT_TOP_K, impedance=impedance,
                     arcs=arcs or table["arcs"] or DEFAULT_ARCS)
    return dataclasses.replace(plan, input_files=validate_points(plan))


def validate_points(plan: SweepPlan) -> tuple[Path, ...]:
    """Read every point's case (all of them, before anything starts); returns the input files
    they read, sorted."""
    files: set[Path] = set()
    for point in plan.points:
        try:
            case = plan.point_case(point)
            if plan.impedance:
                check_impedance_case(case)
        except CaseError as exc:
            where = ", ".join(f"{k}={v!r}" for k, v in zip(plan.keys, point.values))
            raise CaseError(f"{exc} (sweep point {where})") from None
        files.update(case_input_files(case))
    return tuple(sorted(files))


def check_impedance_case(case: Case) -> None:
    """What ``netsolve impedance`` refuses before solving: a discretization other than the
    two-point one given in the case, terminals that cannot be inferred (``[impedance]`` without terminals)."""
    from ..impedance import default_options
    from ..impedance.pipeline import two_point_case

    case = two_point_case(case)
    if case.impedance is None:

        default_options(case)


def case_input_files(case: Case) -> set[Path]:
    """Every file a validated case reads: the paths it holds (source options, phase and
    electrode masks), whatever the source; not the case file itself nor the output folder."""
    found: set[Path] = set()

    def walk(node) -> None:
        if isinstance(node, Path):
            found.add(node)
        elif dataclasses.is_dataclass(node) and not isinstance(node, type):
            for field in dataclasses.fields(node):
                walk(getattr(node, field.name))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, (list, tuple)):
            for value in node:
                walk(value)

    walk(dataclasses.replace(case, path=None, output=dataclasses.replace(case.output, dir=None)))
    return found

"""Stage 0: the case file (TOML) -> a validated, typed :class:`Case`.

Every key is checked here, once, so that later stages can trust their inputs. Errors name the
file, the table and the key, and say what was expected (see ``docs/case-format.md``).

Units: lengths in the file are in nm (keys ending ``_nm``) and are stored here in metres;
conductivities in S/m; potentials in V; currents in A; area-specific resistances in ohm m^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import CaseError
from .input_files import input_path, read_toml
from .ranges import LENGTH_NM, RANGES, check_contrast, check_drive
from .tables import Table, suggest

NM = 1e-9

EDGE_NAMES_2D = ("left", "right", "bottom", "top")
EDGE_NAMES_3D = EDGE_NAMES_2D + ("front", "back")
PHASE_NAMES = ("zro2", "backbone", "void")
PHASE_ALIASES = {"frame": "backbone"}
REGION_PHASES = ("zro2", "backbone", "frame", "void")
CONDUCTIVITY_MODELS = ("tensor", "ding2023", "isotropic")
ELECTRODE_LINKS = ("half_voxel", "full_voxel")
SOLVER_METHODS = ("auto", "direct", "amg", "gmg", "cg")
DISCRETIZATIONS = ("tpfa", "fem", "mixed")
TOP_LEVEL_KEYS = ("grid", "microstructure", "grains", "materials", "electrodes", "solver", "output",
                  "analysis", "sweep",  # [sweep] is read by netsolve.sweep (netsolve sweep)
                  "impedance")  # [impedance]: netsolve.impedance (netsolve impedance)
ANALYSIS_FIELDS = ("solved", "applied")


# --------------------------------------------------------------------------- typed case objects


@dataclass(frozen=True)
class Grid:
    """Regular voxel grid. Axis 0 is x, axis 1 is y, axis 2 (3D only) is z.

    ``thickness_m`` is the lamella thickness of a 2D (single-layer) grid; for 3D it equals the
    voxel size.
    """

    shape: tuple[int, ...]
    voxel_size_m: float
    thickness_m: float

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def face_area_m2(self) -> float:
        """Area of the face shared by two neighbouring voxels (the same for every axis), m^2."""
        return self.voxel_size_m * self.thickness_m

    @property
    def voxel_volume_m3(self) -> float:
        return self.voxel_size_m**2 * self.thickness_m

    @property
    def extent_m(self) -> tuple[float, ...]:
        return tuple(n * self.voxel_size_m for n in self.shape)


@dataclass(frozen=True)
class GrainOrientation:
    """Orientation of one grain as written in the case file (exactly one form is set)."""

    grain_id: int
    euler_deg: tuple[float, float, float] | None = None
    theta_alpha_deg: tuple[float, float] | None = None
    c_axis: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class PhaseRegion:
    """One ``[[microstructure.regions]]`` entry: voxels that become phase ``phase`` (canonical
    name) after the source built its labels.

    kind = "box" (half-open voxel index ranges per axis), "mask" (``path`` to a boolean .npy),
    "polygon" (``polygon`` = WKT in nm, grid lower-left corner at (0, 0), 2D only) or "frame"
    (every voxel whose centre lies within ``frame_width_m`` of one of the grid faces ``sides``).
    ``key`` names the entry in messages (``microstructure.regions[k]``).
    """

    phase: str
    kind: str
    key: str
    box: tuple[tuple[int, int], ...] | None = None
    path: Path | None = None
    polygon: str | None = None
    frame_width_m: float | None = None
    sides: tuple[str, ...] = ()


@dataclass(frozen=True)
class MicrostructureSpec:
    """The ``[microstructure]`` table. ``phases`` maps a phase name to its label value;
    ``options`` holds the checked keys of the chosen source (see ``netsolve.sources``);
    ``regions`` the phase overlays, applied in order on top of the source's labels."""

    source: str
    phases: dict[str, int] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    regions: tuple[PhaseRegion, ...] = ()


@dataclass(frozen=True)
class Materials:
    """Conductivities (S/m) and GB/electrode parameters of the ``[materials]`` table."""

    sigma_ip: float
    ratio_ip_op: float
    ratio_ip_gb: float
    gb_thickness_m: float
    ratio_ip_backbone: float
    conductivity_model: str
    electrode_link: str
    asr_ct_ohm_m2: float
    # AC response only (netsolve impedance, docs/impedance.md): relative permittivities and
    # the electrodes' default double-layer capacitance per contact area (F/m^2)
    eps_r_bulk: float = 10.0
    eps_r_gb: float = 10.0
    eps_r_backbone: float = 10.0
    double_layer_F_per_m2: float = 0.0

    @property
    def sigma_op(self) -> float:
        return self.sigma_ip / self.ratio_ip_op

    @property
    def sigma_gb(self) -> float:
        return self.sigma_ip / self.ratio_ip_gb

    @property
    def sigma_backbone(self) -> float:
        return self.sigma_ip / self.ratio_ip_backbone


@dataclass(frozen=True)
class Region:
    """Where an electrode is.

    kind = "edge" (``edge`` names a grid face; the electrode covers the outer faces of the
    boundary voxels), "box" (``box`` = half-open voxel index ranges per axis), "mask" (``path``
    to a boolean .npy of the grid shape), "polygon" (``polygon`` = WKT in nm, 2D only) or "label"
    (``label`` = a label value of the label map). Box, mask, polygon and label electrodes occupy
    voxels: those voxels become electrode material.
    """

    kind: str
    edge: str | None = None
    box: tuple[tuple[int, int], ...] | None = None
    path: Path | None = None
    label: int | None = None
    polygon: str | None = None

    def describe(self) -> str:
        if self.kind == "edge":
            return f'"{self.edge}"'
        if self.kind == "box":
            return f"box {list(map(list, self.box))}"
        if self.kind == "mask":
            return f"mask {self.path.name}"
        if self.kind == "polygon":
            return f"polygon {self.polygon}"
        return f"label {self.label}"


@dataclass(frozen=True)
class Electrode:
    """One ``[[electrodes]]`` entry: either ``potential_V`` (Dirichlet) or ``current_A`` is set.

    ``current_A`` is positive when current flows from the electrode into the sample.
    """

    name: str
    region: Region
    potential_V: float | None
    current_A: float | None
    asr_ohm_m2: float
    double_layer_F_per_m2: float = 0.0  # F/m^2, in parallel with asr_ohm_m2 (AC only)


# Cell budget of the adaptive refinement when the case gives none: twice the voxels, at least
# 200 000 and at most 2 000 000 cells (a bounded multiple of the unrefined cost; maps with more
# voxels are bracketed on their voxels, with a warning). Measured: docs/performance.md.
DEFAULT_REFINE_MAX_CELLS = 2_000_000


def default_refine_budget(n_cells: int) -> int:
    """``[solver] refine_max_cells`` when the case gives none, for ``n_cells`` voxel cells."""
    return min(DEFAULT_REFINE_MAX_CELLS, max(200_000, 2 * n_cells))


@dataclass(frozen=True)
class SolverOptions:
    method: str = "auto"
    rtol: float = 1e-10
    maxiter: int = 2000
    direct_max_unknowns: int | None = None  # None: by dimension, see solvers.choose_method
    # "tpfa" (two-point, the paper's), "fem" (Q1, full tensor) or "mixed" (conservative RT0);
    # a case file's default depends on the conductivity model (default_discretization)
    discretization: str = "tpfa"
    # whether the case file gave `discretization` (a command that supports one discretization
    # only, e.g. impedance, uses its own when the case left the choice to the default)
    discretization_given: bool = False
    # Largest accepted |sum of electrode currents| / max |electrode current| and
    # |Joule heat - electrode power| / electrode power of a solve (netsolve.solve guards).
    balance_tol: float = 1e-9
    # Two-sided bounds (netsolve.certify): solve with Q1 and the mixed method, bracket the
    # answer; certified when the relative gap is <= bound_tol.
    bounds: bool = False
    bound_tol: float = 0.03
    # Adaptive sub-voxel refinement (2D) until the gap is <= bound_tol, within this many cells.
    refine: bool = True
    refine_max_cells: int | None = None  # None: DEFAULT_REFINE_MAX_CELLS
    max_memory_GB: float | None = None  # None: the memory available (see netsolve.resources)


EXPORT_FORMATS = ("vti", "vtu", "xdmf", "gbnet", "csv", "graphml")
FIGURE_NAMES = ("j", "e", "grains", "gb")  # netsolve.plot.FIGURES draws these
FIGURE_FORMATS = ("png", "svg", "pdf")
CONTOURS = ("none", "potential", "current")


@dataclass(frozen=True)
class OutputOptions:
    """``[output]``: where ``run`` writes, and which files and figures it adds to the result."""

    dir: Path | None = None
    figures: tuple[str, ...] = FIGURE_NAMES
    # False: `figures` is the default list, whose grain and GB maps are left out of a map
    # without grain boundaries (nothing to show but one grain; 1.5 s of a 128^3 porous run)
    figures_given: bool = False
    # grains.graphml is not a default: at 2048^2 it cost more than the solve, and the two tables
    # (+ fields.npz) carry its values; `export --format graphml` and `netsolve graph` write it.
    formats: tuple[str, ...] = ("vti", "gbnet", "csv")
    figure_formats: tuple[str, ...] = ("png",)
    contours: str = "none"
    streamlines: bool = False


@dataclass(frozen=True)
class AnalysisOptions:
    """The ``[analysis]`` table: grain-boundary classification and metrics
    (``docs/gb-classification.md``). Angles in degrees, lengths in m; None = the default
    that depends on the grid (3 voxels)."""

    field: str = "solved"
    type_tolerance_deg: float = 15.0
    across_angle_deg: float = 45.0
    segment_angle_deg: float = 30.0
    segment_smoothing_m: float | None = None
    band_width_m: float | None = None
    negative_electrode: str | None = None
    negligible_current_rel: float = 1e-3
    compare_applied: bool = True


@dataclass(frozen=True)
class Case:
    """A validated case. ``path`` is the case file (None for cases built in Python)."""

    grid: Grid
    microstructure: MicrostructureSpec
    grains: tuple[GrainOrientation, ...]
    materials: Materials
    electrodes: tuple[Electrode, ...]
    solver: SolverOptions
    output: OutputOptions
    path: Path | None = None
    name: str = "case"
    analysis: AnalysisOptions = AnalysisOptions()
    impedance: Any = None  # netsolve.impedance.ImpedanceOptions of an [impedance] table, or None

    @property
    def label(self) -> str:
        """How messages refer to this case (its file name when it has one)."""
        return self.path.name if self.path is not None else self.name


# --------------------------------------------------------------------------- loading


def load_case(path: str | Path) -> Case:
    """Read and validate a case file. Raises :class:`CaseError` on any problem."""
    path = Path(path)
    data = read_toml(path, "case file")
    path = path.resolve()
    return case_from_dict(data, base_dir=path.parent, origin=path.name, path=path,
                          name=path.stem)


def case_from_dict(data: dict, base_dir: str | Path = ".", origin: str = "case",
                   path: Path | None = None, name: str = "case") -> Case:
    """Validate a case given as a dict (the parsed TOML). Relative paths resolve in ``base_dir``."""
    base_dir = Path(base_dir)
    top = Table(data, "", origin)
    top.used.update(TOP_LEVEL_KEYS)
    top.finish()  # a misspelled table name is reported before anything that depends on it
    grid = _read_grid(Table(top.raw("grid"), "grid", origin))
    micro = _read_microstructure(Table(top.raw("microstructure"), "microstructure", origin),
                                 base_dir, grid)
    grains = _read_grains(top.raw("grains", []), origin)
    materials = _read_materials(Table(top.raw("materials", {}), "materials", origin), grid)
    electrodes = _read_electrodes(top.raw("electrodes", []), origin, grid, micro, base_dir,
                                  materials)
    solver = _read_solver(Table(top.raw("solver", {}), "solver", origin), grid, materials)
    output = _read_output(Table(top.raw("output", {}), "output", origin), base_dir)
    analysis = _read_analysis(Table(top.raw("analysis", {}), "analysis", origin), grid,
                              electrodes)
    impedance = _read_impedance(top, origin, electrodes)
    top.finish()
    return Case(grid=grid, microstructure=micro, grains=grains, materials=materials,
                electrodes=electrodes, solver=solver, output=output, path=path, name=name,
                analysis=analysis, impedance=impedance)


def _read_grid(t: Table) -> Grid:
    shape_raw = t.raw("shape")
    if (not isinstance(shape_raw, list) or len(shape_raw) not in (2, 3)
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in shape_raw)):
        t.fail(f"'grid.shape' must be a list of 2 or 3 integers ([nx, ny] or [nx, ny, nz]), "
               f"got {shape_raw!r}")
    if any(n < 1 for n in shape_raw):
        t.fail(f"'grid.shape' entries must be >= 1, got {shape_raw!r}")
    h = t.number("voxel_size_nm", within=RANGES["grid.voxel_size_nm"]) * NM
    if len(shape_raw) == 2:
        thickness = t.number("thickness_nm", h / NM, within=RANGES["grid.thickness_nm"]) * NM
    else:
        if t.has("thickness_nm"):
            t.fail("'grid.thickness_nm' applies to 2D grids only; a 3D grid has cubic voxels")
        thickness = h
    t.finish()
    return Grid(shape=tuple(shape_raw), voxel_size_m=h, thickness_m=thickness)


def _read_microstructure(t: Table, base_dir: Path, grid: Grid) -> MicrostructureSpec:
    from .sources import SOURCES as SOURCE_MODULES

    source = t.string("source", choices=tuple(SOURCE_MODULES))
    phases_raw = t.raw("phases", {})
    pt = Table(phases_raw, "microstructure.phases", t.origin)
    phases: dict[str, int] = {}
    for key in list(phases_raw):
        canonical = PHASE_ALIASES.get(key, key)
        if canonical not in PHASE_NAMES:
            pt.fail(f"unknown phase 'microstructure.phases.{key}': phases are "
                    f"{', '.join(PHASE_NAMES)}{suggest(key, PHASE_NAMES)}")
        value = pt.integer(key)
        if value > 0:
            pt.fail(f"'microstructure.phases.{key}' = {value}: label values > 0 are grain ids; "
                    f"a phase needs a label value <= 0")
        if canonical in phases:
            pt.fail(f"phase '{canonical}' is given twice in [microstructure.phases]")
        phases[canonical] = value
    if len(set(phases.values())) != len(phases):
        pt.fail("two phases in [microstructure.phases] share one label value")
    pt.finish()

    regions = _read_phase_regions(t.raw("regions", []), t.origin, grid, base_dir)
    options = SOURCE_MODULES[source].read_options(t, base_dir, grid)
    t.finish()
    return MicrostructureSpec(source=source, phases=phases, options=options, regions=regions)


def _read_phase_regions(raw: Any, origin: str, grid: Grid,
                        base_dir: Path) -> tuple[PhaseRegion, ...]:
    if not isinstance(raw, list):
        raise CaseError(f"{origin}: 'microstructure.regions' must be an array of tables "
                        f"([[microstructure.regions]]), got {type(raw).__name__}")
    regions: list[PhaseRegion] = []
    faces = EDGE_NAMES_2D if grid.ndim == 2 else EDGE_NAMES_3D
    for k, entry in enumerate(raw):
        key = f"microstructure.regions[{k}]"
        rt = Table(entry, key, origin)
        phase = rt.string("phase", choices=REGION_PHASES)
        phase = PHASE_ALIASES.get(phase, phase)
        kinds = [g for g in ("box", "mask", "polygon", "frame_width_nm") if rt.has(g)]
        if len(kinds) != 1:
            rt.fail(f"'{key}' needs exactly one geometry: box = [[i0, i1], ...], mask = "
                    f"\"file.npy\", polygon = \"POLYGON ((x y, ...))\" or frame_width_nm = w "
                    f"(got {', '.join(kinds) or 'none'})")
        kind = kinds[0]
        if rt.has("sides") and kind != "frame_width_nm":
            rt.fail(f"'{key}.sides' applies to a frame (frame_width_nm) only")
        if kind == "box":
            region = PhaseRegion(phase, "box", key, box=_read_box(rt, grid, f"'{key}.box'"))
        elif kind == "mask":
            region = PhaseRegion(phase, "mask", key, path=input_path(base_dir, rt.string("mask")))
        elif kind == "polygon":
            region = PhaseRegion(phase, "polygon", key,
                                 polygon=_read_polygon(rt, grid, f"'{key}.polygon'"))
        else:
            width = rt.number("frame_width_nm", within=LENGTH_NM) * NM
            if width < grid.voxel_size_m / 2 * (1 - 1e-9):
                rt.fail(f"'{key}.frame_width_nm' = {width / NM:g} is less than half a voxel "
                        f"({grid.voxel_size_m / NM / 2:g} nm): the frame would hold no voxel")
            sides = rt.raw("sides", list(faces[:4]))
            if (not isinstance(sides, list) or not sides
                    or not all(isinstance(f, str) for f in sides)):
                rt.fail(f"'{key}.sides' must be a non-empty list of face names "
                        f"({', '.join(faces)}), got {sides!r}")
            for f in sides:
                if f not in faces:
                    rt.fail(f"'{key}.sides': {f!r} is not a face of this {grid.ndim}D grid; "
                            f"expected some of {', '.join(faces)}{suggest(f, faces)}")
            if len(set(sides)) != len(sides):
                rt.fail(f"'{key}.sides' names a face twice: {sides!r}")
            region = PhaseRegion(phase, "frame", key, frame_width_m=width, sides=tuple(sides))
        rt.finish()
        regions.append(region)
    return tuple(regions)


def _read_box(rt: Table, grid: Grid, what: str) -> tuple[tuple[int, int], ...]:
    """A half-open voxel box [[i0, i1], ...] (one pair per axis) inside the grid."""
    box = rt.raw("box")
    ok = (isinstance(box, list) and len(box) == grid.ndim and all(
        isinstance(r, list) and len(r) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in r) for r in box))
    if not ok:
        rt.fail(f"{what} must be {grid.ndim} pairs of integer voxel indices [[i0, i1], ...] "
                f"(half-open), got {box!r}")
    for axis, ((lo, hi), n) in enumerate(zip(box, grid.shape)):
        if not (0 <= lo < hi <= n):
            rt.fail(f"{what} range {[lo, hi]} on axis {axis} is outside the grid (need "
                    f"0 <= i0 < i1 <= {n})")
    return tuple((lo, hi) for lo, hi in box)


def _read_polygon(rt: Table, grid: Grid, what: str) -> str:
    """A WKT (Multi)Polygon in nm on a 2D grid; returned as written (checked here)."""
    from .sources.polygons import parse_wkt_polygon

    text = rt.raw("polygon")
    if grid.ndim != 2:
        rt.fail(f"{what} needs a 2D grid (polygons are drawn on the lamella surface), but "
                f"grid.shape = {list(grid.shape)} is 3D")
    parse_wkt_polygon(text, rt.origin, what.strip("'"))
    return text


def _read_grains(raw: Any, origin: str) -> tuple[GrainOrientation, ...]:
    if not isinstance(raw, list):
        raise CaseError(f"{origin}: 'grains' must be an array of tables ([[grains]]), "
                        f"got {type(raw).__name__}")
    grains: list[GrainOrientation] = []
    seen: set[int] = set()
    for k, entry in enumerate(raw):
        t = Table(entry, f"grains[{k}]", origin)
        gid = t.integer("id", minimum=1)
        if gid in seen:
            t.fail(f"grain id {gid} has two [[grains]] entries")
        seen.add(gid)
        forms = [f for f in ("euler_deg", "theta_deg", "alpha_deg", "c_axis") if t.has(f)]
        euler = theta_alpha = c_axis = None
        if forms == ["euler_deg"]:
            euler = t.numbers("euler_deg", 3)
        elif sorted(forms) == ["alpha_deg", "theta_deg"]:
            theta_alpha = (t.number("theta_deg"), t.number("alpha_deg"))
        elif forms == ["c_axis"]:
            c_axis = t.numbers("c_axis", 3)
            if math.hypot(*c_axis) == 0:
                t.fail(f"grain {gid}: 'c_axis' must not be the zero vector")
        else:
            t.fail(f"grain {gid}: give exactly one orientation: euler_deg = [phi1, Phi, phi2], "
                   f"or theta_deg and alpha_deg, or c_axis = [x, y, z] (got "
                   f"{', '.join(forms) or 'none'})")
        t.finish()
        grains.append(GrainOrientation(gid, euler, theta_alpha, c_axis))
    return tuple(grains)


def _read_materials(t: Table, grid: Grid) -> Materials:
    def value(key: str, default: float) -> float:
        return t.number(key, default, within=RANGES[f"materials.{key}"])

    m = Materials(
        sigma_ip=value("sigma_ip_S_per_m", 1.0),
        ratio_ip_op=value("ratio_ip_op", 1000.0),
        ratio_ip_gb=value("ratio_ip_gb", 20.0),
        gb_thickness_m=value("gb_thickness_nm", 1.0) * NM,
        ratio_ip_backbone=value("ratio_ip_backbone", 250.0),
        conductivity_model=t.string("conductivity_model", "tensor", choices=CONDUCTIVITY_MODELS),
        electrode_link=t.string("electrode_link", "half_voxel", choices=ELECTRODE_LINKS),
        asr_ct_ohm_m2=value("asr_ct_ohm_m2", 0.0),
        **_read_permittivities(t),
    )
    if m.conductivity_model == "ding2023" and grid.ndim == 3:
        t.fail("'materials.conductivity_model' = \"ding2023\" (Eq. 4-1) is defined for 2D "
               "lamellae only; use \"tensor\" for a 3D grid")
    t.finish()
    return m


def _read_region(t: Table, grid: Grid, micro: MicrostructureSpec, base_dir: Path,
                 name: str) -> Region:
    raw = t.raw("region")
    edges = EDGE_NAMES_2D if grid.ndim == 2 else EDGE_NAMES_3D
    if isinstance(raw, str):
        if raw not in edges:
            t.fail(f"electrode '{name}': region {raw!r} is not a face of this "
                   f"{grid.ndim}D grid; expected one of {', '.join(edges)}{suggest(raw, edges)}")
        return Region(kind="edge", edge=raw)
    rt = Table(raw, f"electrodes.{name}.region", t.origin)
    kinds = [k for k in ("box", "mask", "polygon", "label") if rt.has(k)]
    if len(kinds) != 1:
        rt.fail(f"electrode '{name}': region must be a face name ({', '.join(edges)}) or a table "
                f"with exactly one of box = [[i0, i1], ...], mask = \"file.npy\", polygon = "
                f"\"POLYGON ((x y, ...))\", label = <int>")
    kind = kinds[0]
    if kind == "box":
        region = Region(kind="box", box=_read_box(rt, grid, f"electrode '{name}': region.box"))
    elif kind == "mask":
        region = Region(kind="mask", path=input_path(base_dir, rt.string("mask")))
    elif kind == "polygon":
        region = Region(kind="polygon", polygon=_read_polygon(
            rt, grid, f"'electrodes.{name}.region.polygon'"))
    else:
        label = rt.integer("label")
        if label > 0:
            rt.fail(f"electrode '{name}': region.label = {label} is a grain id; electrode voxels "
                    f"need a label value <= 0")
        if label in micro.phases.values():
            rt.fail(f"electrode '{name}': region.label = {label} is already a phase in "
                    f"[microstructure.phases]")
        region = Region(kind="label", label=label)
    rt.finish()
    return region


def _read_electrodes(raw: Any, origin: str, grid: Grid, micro: MicrostructureSpec,
                     base_dir: Path, materials: Materials) -> tuple[Electrode, ...]:
    if not isinstance(raw, list):
        raise CaseError(f"{origin}: 'electrodes' must be an array of tables ([[electrodes]])")
    electrodes: list[Electrode] = []
    for k, entry in enumerate(raw):
        t = Table(entry, f"electrodes[{k}]", origin)
        name = t.string("name", f"electrode{k + 1}")
        if any(e.name == name for e in electrodes):
            t.fail(f"two electrodes are named '{name}'")
        region = _read_region(t, grid, micro, base_dir, name)
        same_face = [e.name for e in electrodes if region.kind == "edge" and e.region == region]
        if same_face:
            t.fail(f"electrodes '{same_face[0]}' and '{name}' both cover face '{region.edge}'")
        has_v, has_i = t.has("potential_V"), t.has("current_A")
        if has_v == has_i:
            t.fail(f"electrode '{name}': give exactly one of potential_V (fixed potential) or "
                   f"current_A (fixed current, positive into the sample)")
        potential = (t.number("potential_V", within=RANGES["electrodes.potential_V"])
                     if has_v else None)
        current = (t.number("current_A", within=RANGES["electrodes.current_A"])
                   if has_i else None)
        asr = t.number("asr_ohm_m2", materials.asr_ct_ohm_m2,
                       within=RANGES["electrodes.asr_ohm_m2"])
        double_layer = t.number("double_layer_F_per_m2", materials.double_layer_F_per_m2,
                                nonnegative=True)
        t.finish()
        electrodes.append(Electrode(name, region, potential, current, asr, double_layer))
    if len(electrodes) < 2:
        raise CaseError(f"{origin}: need at least two [[electrodes]], got {len(electrodes)}")
    fixed = [e for e in electrodes if e.potential_V is not None]
    if not fixed:
        raise CaseError(f"{origin}: at least one electrode needs potential_V (a reference "
                        f"potential); all of them set current_A")
    check_drive(origin, electrodes)
    check_contrast(origin, materials, electrodes, grid.voxel_size_m)
    return tuple(electrodes)


def default_discretization(conductivity_model: str) -> str:
    """The paper's two-point scheme for the paper's conductivity model (reproducing it), the
    conservative mixed method with certified bounds for the physical tensor (docs/model.md,
    "Which discretization by default")."""
    return "tpfa" if conductivity_model == "ding2023" else "mixed"


def _read_solver(t: Table, grid: Grid, materials: Materials) -> SolverOptions:
    s = SolverOptions(
        method=t.string("method", "auto", choices=SOLVER_METHODS),
        rtol=t.number("rtol", 1e-10, positive=True),
        maxiter=t.integer("maxiter", 2000, minimum=1),
        direct_max_unknowns=t.integer("direct_max_unknowns", None, minimum=0),
        discretization=t.string("discretization",
                                default_discretization(materials.conductivity_model),
                                choices=DISCRETIZATIONS),
        discretization_given=t.raw("discretization", None) is not None,
        balance_tol=t.number("balance_tol", 1e-9, positive=True),
        bounds=t.boolean("bounds", t.raw("discretization", default_discretization(
            materials.conductivity_model)) == "mixed"),
        bound_tol=t.number("bound_tol", 0.03, positive=True),
        refine=t.boolean("refine", True),
        refine_max_cells=t.integer("refine_max_cells", None, minimum=1),
        max_memory_GB=t.number("max_memory_GB", None, within=RANGES["solver.max_memory_GB"]),
    )
    if s.rtol >= 1:
        t.fail(f"'solver.rtol' must be < 1, got {s.rtol}")
    if s.balance_tol >= 1:
        t.fail(f"'solver.balance_tol' must be < 1, got {s.balance_tol}")
    if s.bound_tol >= 1:
        t.fail(f"'solver.bound_tol' must be in (0, 1), got {s.bound_tol}")
    n_voxels = math.prod(grid.shape)
    if (s.bounds and s.refine and grid.ndim == 2 and s.refine_max_cells is not None
            and s.refine_max_cells < n_voxels):
        t.fail(f"'solver.refine_max_cells' = {s.refine_max_cells} cannot hold the base grid "
               f"of {n_voxels} voxels: give at least {n_voxels} (or refine = false)")
    t.finish()
    return s


def _read_output(t: Table, base_dir: Path) -> OutputOptions:
    rel = t.string("dir", None)
    default = OutputOptions()
    figures = t.raw("figures", True)
    figures_given = t.has("figures")
    if isinstance(figures, bool):
        figures = FIGURE_NAMES if figures else ()
    else:
        figures = t.strings("figures", choices=FIGURE_NAMES)
    options = OutputOptions(
        dir=(base_dir / rel) if rel is not None else None,
        figures=figures,
        figures_given=figures_given,
        formats=t.strings("formats", default.formats, choices=EXPORT_FORMATS),
        figure_formats=t.strings("figure_formats", default.figure_formats,
                                 choices=FIGURE_FORMATS),
        contours=t.string("contours", default.contours, choices=CONTOURS),
        streamlines=t.boolean("streamlines", default.streamlines),
    )
    t.finish()
    return options


def _read_analysis(t: Table, grid: Grid, electrodes: tuple[Electrode, ...]) -> AnalysisOptions:
    def angle(key: str, default: float, upper: float) -> float:
        value = t.number(key, default)
        if not 0.0 < value < upper:
            t.fail(f"'analysis.{key}' must be in (0, {upper:g}) degrees, got {value!r}")
        return value

    def length(key: str) -> float | None:
        if not t.has(key):
            return None
        value = t.number(key, positive=True) * NM
        if value < grid.voxel_size_m * (1 - 1e-9):
            t.fail(f"'analysis.{key}' = {value / NM:g} is less than one voxel "
                   f"({grid.voxel_size_m / NM:g} nm)")
        if value > max(grid.extent_m):  # beyond the grid a length means nothing, but costs
            t.fail(f"'analysis.{key}' = {value / NM:g} is larger than the grid (at most "
                   f"{max(grid.extent_m) / NM:g} nm)")
        return value

    names = tuple(e.name for e in electrodes)
    negative = t.string("negative_electrode", None)
    if negative is not None and negative not in names:
        t.fail(f"'analysis.negative_electrode' = {negative!r} is not an electrode; electrodes "
               f"are {', '.join(names)}{suggest(negative, names)}")
    options = AnalysisOptions(
        field=t.string("field", "solved", choices=ANALYSIS_FIELDS),
        type_tolerance_deg=angle("type_tolerance_deg", 15.0, 45.0),
        across_angle_deg=angle("across_angle_deg", 45.0, 90.0),
        segment_angle_deg=angle("segment_angle_deg", 30.0, 180.0),
        segment_smoothing_m=length("segment_smoothing_nm"),
        band_width_m=length("band_width_nm"),
        negative_electrode=negative,
        negligible_current_rel=t.number("negligible_current_rel", 1e-3, nonnegative=True),
        compare_applied=t.boolean("compare_applied", True),
    )
    if not options.negligible_current_rel < 1:
        t.fail(f"'analysis.negligible_current_rel' must be in [0, 1), got "
               f"{options.negligible_current_rel!r}")
    t.finish()
    return options


def _read_permittivities(t: Table) -> dict[str, float]:
    """The AC keys of [materials] (docs/impedance.md: defaults and their sources)."""
    bulk = t.number("eps_r_bulk", 10.0, positive=True)
    return {"eps_r_bulk": bulk,
            "eps_r_gb": t.number("eps_r_gb", bulk, positive=True),
            "eps_r_backbone": t.number("eps_r_backbone", bulk, positive=True),
            "double_layer_F_per_m2": t.number("double_layer_F_per_m2", 0.0, nonnegative=True)}


def _read_impedance(top: Table, origin: str, electrodes: tuple[Electrode, ...]):
    """The [impedance] table (netsolve.impedance.options), None when the case has none."""
    if not top.has("impedance"):
        return None
    from .impedance.options import read_impedance_options

    return read_impedance_options(Table(top.raw("impedance"), "impedance", origin), electrodes)

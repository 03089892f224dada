"""Phases of an orientation map -> netsolve: which file phase is the conducting crystal
(``grain``), which become ``zro2`` / ``backbone`` / ``void`` and which are filled like bad
pixels (``fill``), from ``[microstructure.phase_map]`` (or ``phase``, or the only phase)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import CaseError
from ...symmetry import CrystalSymmetry
from .readers import FilePhase

TARGETS = ("grain", "zro2", "backbone", "void", "fill")
TARGET_ALIASES = {"frame": "backbone"}


def read_phase_map(t) -> dict[str, str] | None:
    """``[microstructure.phase_map]``: file phase name (or id) -> netsolve phase."""
    from ...tables import Table, suggest

    if not t.has("phase_map"):
        return None
    raw = t.raw("phase_map")
    pt = Table(raw, "microstructure.phase_map", t.origin)
    mapping = {}
    for key in list(raw):
        value = pt.string(key)
        target = TARGET_ALIASES.get(value, value)
        if target not in TARGETS:
            pt.fail(f"'microstructure.phase_map.{key}' = {value!r}: a netsolve phase is one of "
                    f"{', '.join(TARGETS)}{suggest(value, TARGETS)}")
        mapping[str(key)] = target
    pt.finish()
    if t.has("phase"):
        t.fail("give either 'microstructure.phase' or [microstructure.phase_map], not both "
               "(phase = NAME is short for phase_map = { NAME = \"grain\" })")
    return mapping


@dataclass(frozen=True)
class PhaseRoles:
    """``target`` of every declared file phase id; ``grain_id`` the conducting phase's id and
    ``symmetry`` its crystal symmetry; ``fractions`` pixel fraction of each present phase."""

    target: dict[int, str]
    grain_id: int
    grain_name: str
    symmetry: CrystalSymmetry
    fractions: dict[int, float]


def _percent(f: float) -> str:
    return f"{100 * f:.3g} %"


def resolve_phases(name: str, phases: dict[int, FilePhase], phase: np.ndarray,
                   indexed: np.ndarray, options: dict, model: str) -> PhaseRoles:
    """Map every phase present among the indexed pixels (``phase`` per pixel on the grid) to a
    netsolve phase; errors name the file and list the phases with their pixel fractions."""
    ids, counts = np.unique(phase[indexed], return_counts=True)
    fractions = {int(i): c / phase.size for i, c in zip(ids, counts)}
    present = [int(i) for i in ids]
    if not present:
        raise CaseError(f"{name}: no pixel is indexed (every pixel is marked not indexed)")

    def listing(pids):
        return ", ".join(f"{phases[i].name!r} ({_percent(fractions.get(i, 0.0))})"
                         for i in pids)

    mapping = options.get("phase_map")
    if mapping is None and options.get("phase") is not None:
        mapping = {options["phase"]: "grain"}
    if mapping is None:
        if len(present) > 1:
            example = ", ".join(f'"{phases[i].name}" = "{t}"'
                                for i, t in zip(present, ("grain", "void")))
            raise CaseError(f"{name}: the map holds several phases {listing(present)}: map each "
                            f"to a netsolve phase in [microstructure.phase_map] (grain, zro2, "
                            f"backbone, void or fill), e.g. {{ {example} }}")
        mapping = {phases[present[0]].name: "grain"}
    target: dict[int, str] = {}
    for key, value in mapping.items():
        hits = [i for i, p in phases.items() if p.name == key] or (
            [int(key)] if key.isdigit() and int(key) in phases else [])
        if not hits:
            names = ", ".join(repr(p.name) for p in phases.values())
            raise CaseError(f"{name}: no phase named {key!r} in the file (phases: {names})")
        for i in hits:
            target[i] = value
    unmapped = [i for i in present if i not in target]
    if unmapped:
        raise CaseError(f"{name}: phase(s) {listing(unmapped)} of the map are not mapped: add "
                        f"them to [microstructure.phase_map] (grain, zro2, backbone, void or "
                        f"fill)")
    grains = [i for i, t in target.items() if t == "grain"]
    if len(grains) != 1:
        found = ", ".join(repr(phases[i].name) for i in grains) or "none"
        raise CaseError(f"{name}: exactly one phase must map to \"grain\" (the conducting "
                        f"crystal phase), got {found}")
    grain_id = grains[0]
    grain = phases[grain_id]
    if grain_id not in fractions:
        raise CaseError(f"{name}: the conducting phase {grain.name!r} has no indexed pixel "
                        f"(phases present: {listing(present)})")
    if grain.symmetry is None:
        raise CaseError(f"{name}: the conducting phase {grain.name!r} declares no crystal "
                        f"symmetry netsolve can read ({grain.declared})")
    if grain.symmetry.conduction == "biaxial" and model != "isotropic":
        raise CaseError(f"{name}: the conducting phase {grain.name!r} is "
                        f"{grain.symmetry.system} (Laue class {grain.symmetry.laue}): its "
                        f"conductivity tensor has three principal values, but netsolve's "
                        f"crystals conduct uniaxially (tetragonal, trigonal, hexagonal) or "
                        f"isotropically (cubic); use materials.conductivity_model = "
                        f"\"isotropic\" or map the phase to another netsolve phase")
    return PhaseRoles(target, grain_id, grain.name, grain.symmetry, fractions)

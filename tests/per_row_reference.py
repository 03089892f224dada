"""The per-row implementations that the vectorized GB-table code replaced (reasons, subtypes,
behaviours, the headline lists), kept verbatim as the reference the tests compare against."""

from __future__ import annotations

import numpy as np

from netsolve.analysis.classify import (BEHAVIOUR, ISOTROPIC, NOT_CLASSIFIED, UNDETERMINED,
                                        Classification)


def reasons(cls, grain_a, grain_b, options, field_source, plane_rules_off, idle, band_j,
            median_j):
    """The old per-row :func:`netsolve.analysis.explain.reasons`."""
    tau, across = options.type_tolerance_deg, options.across_angle_deg
    out = []
    for k in range(len(cls.psi_deg)):  # one sentence per table row
        words = _row_reason(cls, k, int(grain_a[k]), int(grain_b[k]), tau, across,
                            field_source, plane_rules_off)
        if idle[k]:
            words += (f"; negligible current: band |J| {band_j[k]:.3g} A/m^2 < "
                      f"{options.negligible_current_rel:g} x the grains' median |J| "
                      f"{median_j:.3g} A/m^2, so not counted as blocking and not ranked")
        out.append(words)
    return np.array(out, dtype=object)


def _row_reason(cls: Classification, k: int, a: int, b: int, tau: float, across: float,
                source: str, plane_rules_off: str | None) -> str:
    psi, gb_type, letter = cls.psi_deg[k], cls.gb_type[k], cls.letter[k]
    if not gb_type:
        return "undetermined: a grain of this GB has no orientation"
    if not letter:
        if not np.isfinite(cls.c_normal_deg_a[k]):
            return "undetermined: the GB normal is undefined (its voxel faces cancel)"
        return f"undetermined: no {source} field at the GB (its voxels are not solved)"
    subtype = f"{gb_type} {letter}{cls.suffix[k]}"
    if gb_type == "I":
        kind = f"psi = {psi:.1f} deg <= {tau:g}: type I (planes of G{a} and G{b} parallel)"
    elif gb_type == "II":
        kind = f"psi = {psi:.1f} deg >= {90 - tau:g}: type II (planes perpendicular)"
    else:
        kind = (f"psi = {psi:.1f} deg, between {tau:g} and {90 - tau:g}: type III "
                f"(oblique planes)")
    angle = float(np.degrees(np.arccos(min(abs(cls.field_normal_cos[k]), 1.0))))
    crossing = (f"the {source} field is {angle:.1f} deg from the GB normal "
                + (f"(<= {across:g}: it crosses the GB, suffix 1)" if cls.suffix[k] == 1
                   else f"(> {across:g}: it runs along the GB, suffix 2)"))
    verdict = (f"{subtype} -> behaviour {cls.behaviour[k]}"
               + (", a blocking subtype" if cls.blocking[k] else ""))
    if plane_rules_off is not None:
        return (f"{subtype} geometry, but {plane_rules_off}: the plane rules do not apply, the "
                f"GB behaves like type I b and never blocks -> {cls.behaviour[k]}: "
                f"{kind}; {crossing}")
    return f"{verdict}: {kind}; {crossing}; {_letter_reason(cls, k, a, b, tau)}"


def _letter_reason(cls: Classification, k: int, a: int, b: int, tau: float) -> str:
    gb_type, letter = cls.gb_type[k], cls.letter[k]
    angle = {a: cls.c_normal_deg_a[k], b: cls.c_normal_deg_b[k]}

    def planes(g: int) -> str:
        parallel = angle[g] <= tau
        return (f"G{g}'s planes are {'' if parallel else 'not '}parallel to the GB (c-axis "
                f"{angle[g]:.1f} deg from the normal, {'<=' if parallel else '>'} {tau:g})")

    if gb_type == "I":
        if letter == "a":
            g = a if angle[a] <= angle[b] else b
            return f"{planes(g)}: a spinel layer separates the grains, letter a"
        return (f"neither grain's planes are parallel to the GB (c-axes {angle[a]:.1f} and "
                f"{angle[b]:.1f} deg from the normal, > {tau:g}): the planes connect across it, "
                f"letter b")
    if gb_type == "II":
        down = cls.downstream[k]
        if not down:
            g = a if angle[a] <= angle[b] else b
            return (f"the field has no normal part, so either grain counts as downstream; "
                    f"{planes(g)}: letter {letter}")
        g, up = (b, a) if down == "b" else (a, b)
        return (f"the field enters G{g} (downstream): {planes(g)}, so ions arriving from "
                f"G{up} are {'stopped, letter b' if letter == 'b' else 'passed on, letter a'}")
    drift_a, drift_b = cls.drift_a[k], cls.drift_b[k]
    if np.isfinite(drift_a):
        return (f"under the field's tangential part the Na+ drift "
                f"{'converges on' if letter == 'a' else 'does not converge on'} the GB "
                f"(w.n = {drift_a:+.3g} in G{a}, {drift_b:+.3g} in G{b}, sigma_ip units; "
                f"converging: > 0 in G{a} and < 0 in G{b}), letter {letter}")
    return (f"the field has no tangential part; the planes "
            f"{'form' if letter == 'a' else 'do not form'} a chevron, letter {letter}")


def subtypes(gb_type, letter, suffix) -> np.ndarray:
    return np.array([t if t in (NOT_CLASSIFIED, ISOTROPIC) else (f"{t} {lt}{s}" if lt else "")
                     for t, lt, s in zip(gb_type, letter, suffix)], dtype=object)


def behaviours(gb_type, letter, suffix) -> np.ndarray:
    return np.array([BEHAVIOUR.get((t, lt, int(s)), UNDETERMINED)
                     for t, lt, s in zip(gb_type, letter, suffix)], dtype=object)


def without_plane_rules_behaviour(cls: Classification) -> np.ndarray:
    return np.array([BEHAVIOUR.get(("I", "b", int(s)), UNDETERMINED) if lt else b
                     for lt, s, b in zip(cls.letter, cls.suffix, cls.behaviour)], dtype=object)


def headline_lists(names, order, score, subtype, is_blocking, top_k):
    """(blocking, top) of :func:`netsolve.analysis.headline` as the per-row loops built them."""
    blocking = [(names[k], str(subtype[k])) for k in order if is_blocking[k]]
    top = [(names[k], float(score[k])) for k in order if np.isfinite(score[k])][:top_k]
    return blocking, top


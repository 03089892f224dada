"""Geometric grain-boundary classification: types I-III, letter a/b, suffix 1/2 (the project's
reading of Ding et al. 2023, Fig. 5; rules and conventions in ``docs/gb-classification.md``).

Everything is vectorized over boundaries (rows). Vectors are 3-component (2D maps pad the GB
normal and the field with z = 0); angles in degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..properties import crystal_tensor, thin_film_tensor

# The field counts as having a tangential (normal) part only above sin(1 degree) of its length:
# below that, staircase noise would decide the letter of a boundary the field crosses (runs
# along) exactly.
_NEGLIGIBLE = np.sin(np.radians(1.0))
# Drift components are compared in units of sigma_ip (the tensors below have sigma_ip = 1).
_DRIFT_EPS = 1e-9

NONE, ACROSS, BLOCKING, BLOCKING_ALONG = "none", "across", "blocking", "blocking_along"
NOT_CLASSIFIED, UNDETERMINED = "not_classified", "undetermined"
# The type of GBs between crystals that conduct isotropically (cubic): no type I-III.
ISOTROPIC = "isotropic"
TYPE_NAMES = np.array(["", "I", "II", "III"])
# Expected behaviour by (type, letter, suffix) (the paper's colours cyan/black/red/orange).
BEHAVIOUR = {
    ("I", "a", 1): NONE, ("I", "a", 2): NONE, ("I", "b", 1): ACROSS, ("I", "b", 2): NONE,
    ("II", "a", 1): ACROSS, ("II", "a", 2): NONE, ("II", "b", 1): BLOCKING, ("II", "b", 2): NONE,
    ("III", "a", 1): ACROSS, ("III", "a", 2): BLOCKING_ALONG, ("III", "b", 1): ACROSS,
    ("III", "b", 2): NONE,
}


@dataclass(frozen=True)
class Classification:
    """Per-boundary classification (one entry per row).

    ``gb_type``: "I", "II", "III" ("" when ``psi_deg`` is NaN); ``letter``: "a"/"b" and
    ``suffix``: 1/2 ("" and 0 when the normal or the field is undefined); ``behaviour``: none,
    across, blocking, blocking_along or undetermined; ``blocking``: II b1 or III a2.
    ``field_normal_cos``: e . n (n from grain a to grain b).

    Why (:mod:`.explain` words it): ``c_normal_deg_a`` / ``_b``, the angle between each
    grain's c-axis and the GB normal folded into [0, 90] (<= tau: its planes are parallel to
    the GB); ``downstream``: the grain the field's normal part enters ("a", "b", "" when it has
    no normal part); ``drift_a`` / ``drift_b``: w_K . n of the type III rule (units of
    sigma_ip; NaN without a tangential field), ``chevron``: the type III rule without a
    tangential field.
    """

    psi_deg: np.ndarray
    gb_type: np.ndarray
    letter: np.ndarray
    suffix: np.ndarray
    behaviour: np.ndarray
    blocking: np.ndarray
    field_normal_cos: np.ndarray
    c_normal_deg_a: np.ndarray
    c_normal_deg_b: np.ndarray
    downstream: np.ndarray
    drift_a: np.ndarray
    drift_b: np.ndarray
    chevron: np.ndarray


def drift_tensors(c_axis: np.ndarray, ratio_ip_op: float, ndim: int) -> np.ndarray:
    """Ionic drift tensors S_K / sigma_ip of grains with unit c-axes (n, 3), padded to 3x3.

    The crystal tensor whatever the case's conductivity model (the classification is a property
    of the orientations); in 2D the thin-film in-plane tensor (J_z = 0), zero in the z row and
    column.
    """
    tensor3 = crystal_tensor(np.asarray(c_axis, float), 1.0, 1.0 / ratio_ip_op)
    if ndim == 3:
        return tensor3
    padded = np.zeros_like(tensor3)
    padded[:, :2, :2] = thin_film_tensor(tensor3)
    return padded


def pad3(vectors: np.ndarray) -> np.ndarray:
    """(n, 2) or (n, 3) vectors as (n, 3), z = 0 for 2D."""
    vectors = np.asarray(vectors, float)
    if vectors.shape[1] == 3:
        return vectors
    return np.concatenate([vectors, np.zeros((len(vectors), 1))], axis=1)


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows normalized to length 1 (NaN rows for zero or NaN vectors)."""
    norm = np.linalg.norm(vectors, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, vectors / norm, np.nan)


def classify(c_a: np.ndarray, c_b: np.ndarray, normal: np.ndarray, field: np.ndarray,
             drift_a: np.ndarray, drift_b: np.ndarray, type_tolerance_deg: float = 15.0,
             across_angle_deg: float = 45.0) -> Classification:
    """Classify boundaries between grains a and b.

    c_a, c_b: unit c-axes (n, 3); normal: unit GB normal from a to b (n, 3); field: driving
    field direction at the boundary (n, 3, any length); drift_a/b: :func:`drift_tensors` rows.
    """
    c_a, c_b = np.asarray(c_a, float), np.asarray(c_b, float)
    n, e = unit(pad3(normal)), unit(pad3(field))
    tau = np.radians(type_tolerance_deg)
    psi = np.degrees(np.arccos(np.clip(np.abs(np.einsum("ij,ij->i", c_a, c_b)), 0.0, 1.0)))
    type_code = np.where(psi <= type_tolerance_deg, 1,
                         np.where(psi >= 90.0 - type_tolerance_deg, 2, 3))
    type_code = np.where(np.isfinite(psi), type_code, 0)

    e_n = np.einsum("ij,ij->i", e, n)
    crosses = np.abs(e_n) >= np.cos(np.radians(across_angle_deg))
    # "Planes parallel to the GB": the c-axis within tau of the normal.
    cos_a, cos_b = (np.abs(np.einsum("ij,ij->i", c, n)) for c in (c_a, c_b))
    parallel_a, parallel_b = cos_a >= np.cos(tau), cos_b >= np.cos(tau)

    letter_i = np.where(parallel_a | parallel_b, "a", "b")
    # Type II: the downstream grain (the one the normal component of the field enters) stops
    # the ions if its planes are parallel to the GB. Without a normal component: either grain.
    downstream_parallel = np.where(e_n >= _NEGLIGIBLE, parallel_b,
                                   np.where(e_n <= -_NEGLIGIBLE, parallel_a,
                                            parallel_a | parallel_b))
    letter_ii = np.where(downstream_parallel, "b", "a")
    # Type III: drift w_K = S_K t under the tangential field t; w_K . n = t . (P S_K n) with P
    # the projector on the GB plane, as t is tangential.
    tangential = e - e_n[:, None] * n
    has_tangent = np.linalg.norm(tangential, axis=1) >= _NEGLIGIBLE
    proj_a = _tangential(np.einsum("kij,kj->ki", drift_a, n), n)
    proj_b = _tangential(np.einsum("kij,kj->ki", drift_b, n), n)
    w_a = np.einsum("ij,ij->i", tangential, proj_a)
    w_b = np.einsum("ij,ij->i", tangential, proj_b)
    converges = (w_a > _DRIFT_EPS) & (w_b < -_DRIFT_EPS)
    # No tangential field: a chevron = some tangent t makes both drifts converge, i.e. the two
    # tangential drift responses are nonzero and not pointing the same way.
    norm_a, norm_b = np.linalg.norm(proj_a, axis=1), np.linalg.norm(proj_b, axis=1)
    chevron = ((norm_a > _DRIFT_EPS) & (norm_b > _DRIFT_EPS)
               & (np.einsum("ij,ij->i", proj_a, proj_b) < norm_a * norm_b * (1 - 1e-9)))
    letter_iii = np.where(np.where(has_tangent, converges, chevron), "a", "b")

    letter = np.select([type_code == 1, type_code == 2, type_code == 3],
                       [letter_i, letter_ii, letter_iii], "")
    suffix = np.where(crosses, 1, 2)
    defined = (type_code > 0) & np.all(np.isfinite(n), axis=1) & np.all(np.isfinite(e), axis=1)
    letter = np.where(defined, letter, "")
    suffix = np.where(defined, suffix, 0)
    gb_type = TYPE_NAMES[type_code]
    behaviour = behaviours(gb_type, letter, suffix)
    blocking = (behaviour == BLOCKING) | (behaviour == BLOCKING_ALONG)
    with np.errstate(invalid="ignore"):
        c_normal_a, c_normal_b = (np.degrees(np.arccos(np.clip(c, 0.0, 1.0)))
                                  for c in (cos_a, cos_b))
    downstream = np.where(e_n >= _NEGLIGIBLE, "b", np.where(e_n <= -_NEGLIGIBLE, "a", ""))
    return Classification(psi, gb_type.astype(object), letter.astype(object),
                          suffix.astype(np.int8), behaviour, blocking, e_n,
                          c_normal_a, c_normal_b, downstream.astype(object),
                          np.where(has_tangent, w_a, np.nan), np.where(has_tangent, w_b, np.nan),
                          ~has_tangent & chevron)


def behaviours(gb_type, letter, suffix) -> np.ndarray:
    """:data:`BEHAVIOUR` of every row's (type, letter, suffix), ``UNDETERMINED`` for any other
    combination (object array; one mask per table entry, not a loop over rows)."""
    gb_type, letter, suffix = np.asarray(gb_type), np.asarray(letter), np.asarray(suffix)
    out = np.full(len(gb_type), UNDETERMINED, dtype=object)
    for (t, lt, s), behaviour in BEHAVIOUR.items():  # 12 entries
        out[(gb_type == t) & (letter == lt) & (suffix == s)] = behaviour
    return out


def _tangential(vectors: np.ndarray, n: np.ndarray) -> np.ndarray:
    return vectors - np.einsum("ij,ij->i", vectors, n)[:, None] * n


# The crystal counts as isotropic when sigma_ip / sigma_op is within this of 1: the rules
# above rest on conduction planes, which then do not exist.
ISOTROPY_TOL = 1e-6


def isotropic_conduction(materials) -> str | None:
    """Why the plane-based rules do not apply to a case's materials (``[materials]``), or
    None when they do: the conductivity model ignores the orientations, or the crystal
    conducts isotropically (``ratio_ip_op`` within :data:`ISOTROPY_TOL` of 1)."""
    if materials.conductivity_model == "isotropic":
        return "conductivity_model = \"isotropic\" (grains conduct isotropically)"
    if abs(materials.ratio_ip_op - 1.0) <= ISOTROPY_TOL:
        return f"sigma_ip / sigma_op = {materials.ratio_ip_op:g} (an isotropic crystal)"
    return None


def without_plane_rules(cls: Classification) -> Classification:
    """The classification of an isotropic conductor: type, letter and suffix stay (the
    geometry), but without conduction planes nothing stops or channels the ions: every GB
    behaves like a type I b GB, across when the field crosses it, none when it runs along it,
    and none blocks."""
    from dataclasses import replace

    letter = np.asarray(cls.letter).astype(object)
    behaviour = np.where(letter != "", behaviours(np.full(len(letter), "I", object),
                                                  np.full(len(letter), "b", object), cls.suffix),
                         np.asarray(cls.behaviour, object))
    return replace(cls, behaviour=behaviour, blocking=np.zeros(len(behaviour), bool))

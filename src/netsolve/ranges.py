"""Documented ranges of case values, and the conditioning of the network they build.

Why there are ranges at all: the solve works in float64 (about 16 significant digits). A value
far outside anything physical either underflows or overflows somewhere on its way to the
currents (a face area h * t of 1e-600 m^2 is 0, sigma = 1e-300 S/m gives currents of 1e-310 A,
which are subnormal), or it makes the linear system so ill-conditioned that its solution has no
correct digit left. The individual ranges below are generous (decades beyond measured values)
but finite; the *contrast* check bounds what matters for accuracy, the spread of conductances
inside one matrix (``docs/case-format.md``, "Ranges").

Conductance contrast. Every link of the network is, relative to a bulk in-plane link
sigma_ip * A / h (A the face area, h the voxel size; the same factor for the FEM stiffness),

- a grain link: between 1/ratio_ip_op and 1 (the conductivity along a link lies between
  sigma_op and sigma_ip; Ding's Eq. 4-1 up to 2);
- a backbone link: 1/ratio_ip_backbone;
- a link across a GB: two half-voxels in series with R_GB, i.e. at least
  1 / (1/g + ratio_ip_gb * t_GB / h) with g the weaker grain link;
- an electrode link: 1 / (L/(h s) + ASR sigma_ip / h), with s the voxel's conductivity and L
  the link length (h/2 or h).

The largest over the smallest of these is the contrast. A Laplacian's condition number grows
linearly with it (times the grid's own ~n^(2/d)), and the residual of a solve is only as good as
eps x condition number; beyond a contrast of ~1e10 a converged float64 solve no longer gives
the effective resistance to the digits netsolve reports. So the contrast is bounded by
:data:`MAX_CONDUCTANCE_CONTRAST`, whether or not the map holds every material (the backbone
conductivity counts even without a backbone phase: it is a property of the case).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import CaseError


@dataclass(frozen=True)
class Range:
    """Allowed values ``low <= v <= high`` (of |v| when ``signed``), and 0 when ``zero``."""

    low: float
    high: float
    unit: str = ""
    zero: bool = False
    signed: bool = False

    def contains(self, value: float) -> bool:
        size = abs(value) if self.signed else value
        return (self.zero and value == 0) or self.low <= size <= self.high

    def describe(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.signed:
            text = (f"{self.low:g} <= |value| <= {self.high:g}{unit}" if self.low > 0
                    else f"at most {self.high:g}{unit} in magnitude")
        else:
            text = f"in [{self.low:g}, {self.high:g}]{unit}"
        return f"0 or {text}" if self.zero else text


LENGTH_NM = Range(1e-3, 1e9, "nm")  # 1 pm (below any atomic spacing) .. 1 m
RATIO = Range(1e-8, 1e8)
RANGES = {
    "grid.voxel_size_nm": LENGTH_NM,
    "grid.thickness_nm": LENGTH_NM,
    # from good insulators to metals: currents and Joule power stay far from the float64 limits
    "materials.sigma_ip_S_per_m": Range(1e-15, 1e8, "S/m"),
    "materials.ratio_ip_op": RATIO,
    "materials.ratio_ip_gb": RATIO,
    "materials.ratio_ip_backbone": RATIO,
    "materials.gb_thickness_nm": Range(1e-3, 1e6, "nm", zero=True),  # 0: no GB resistor
    # 1e4 ohm m^2 = 1e8 ohm cm^2, far beyond a blocking contact
    "materials.asr_ct_ohm_m2": Range(0.0, 1e4, "ohm m^2"),
    "electrodes.asr_ohm_m2": Range(0.0, 1e4, "ohm m^2"),
    "electrodes.potential_V": Range(0.0, 1e6, "V", signed=True),
    # below 1e-24 A (one elementary charge per 5 days) a current only probes rounding; 0 is a
    # current-free probe electrode
    "electrodes.current_A": Range(1e-24, 1e6, "A", zero=True, signed=True),
    "solver.max_memory_GB": Range(1e-3, 1e6, "GB"),
}
MAX_CONDUCTANCE_CONTRAST = 1e10
# Fixed potentials that differ by less than this fraction of their magnitude (1e9 V and
# 1e9 + 1 V) keep fewer correct digits in their difference than the result needs.
MIN_POTENTIAL_SPREAD = 1e-8


def conductance_contrast(materials, electrodes, voxel_size_m: float) -> tuple[float, str, str]:
    """The largest over the smallest link conductance a case can build (see the module doc),
    and what the largest and the smallest are (for the message)."""
    sigma_ip = materials.sigma_ip
    grain = {"grain in-plane (sigma_ip)": 1.0}
    if materials.conductivity_model != "isotropic":
        grain["grain out-of-plane (sigma_ip / ratio_ip_op)"] = 1.0 / materials.ratio_ip_op
    bulk = dict(grain)
    bulk["backbone (sigma_ip / ratio_ip_backbone)"] = 1.0 / materials.ratio_ip_backbone
    links = dict(bulk)
    if materials.gb_thickness_m > 0:
        weakest = min(grain.values())
        gb = materials.ratio_ip_gb * materials.gb_thickness_m / voxel_size_m
        links["grain boundary (ratio_ip_gb, gb_thickness_nm)"] = 1.0 / (1.0 / weakest + gb)
    link_length = 0.5 if materials.electrode_link == "half_voxel" else 1.0
    strongest, weakest = max(bulk.values()), min(bulk.values())
    for e in electrodes:
        contact = e.asr_ohm_m2 * sigma_ip / voxel_size_m
        links[f"electrode '{e.name}' contact (asr_ohm_m2)"] = 1.0 / (link_length / weakest
                                                                    + contact)
        links[f"electrode '{e.name}'"] = 1.0 / (link_length / strongest + contact)
    high = max(links, key=links.get)
    low = min(links, key=links.get)
    return links[high] / links[low], high, low


def check_contrast(origin: str, materials, electrodes, voxel_size_m: float) -> None:
    """Refuse a case whose conductances span more than :data:`MAX_CONDUCTANCE_CONTRAST`."""
    contrast, high, low = conductance_contrast(materials, electrodes, voxel_size_m)
    if contrast > MAX_CONDUCTANCE_CONTRAST:
        raise CaseError(f"{origin}: the conductances of this case span a factor {contrast:.3g}, "
                        f"more than {MAX_CONDUCTANCE_CONTRAST:g} (largest: {high} links, "
                        f"smallest: {low} links): the float64 solve would lose the digits of "
                        f"the result; bring the [materials] ratios or the ASR closer to 1 "
                        f"(docs/case-format.md, \"Ranges\")")


def check_drive(origin: str, electrodes) -> None:
    """Something must drive a current: a non-zero current_A, or fixed potentials that differ by
    more than rounding (:data:`MIN_POTENTIAL_SPREAD`). Needs at least one fixed potential."""
    if any(e.current_A for e in electrodes):
        return
    volts = [e.potential_V for e in electrodes if e.potential_V is not None]
    spread, size = max(volts) - min(volts), max(abs(v) for v in volts)
    probes = [e.name for e in electrodes if e.current_A is not None]
    probes = f"; electrodes {', '.join(probes)} draw current_A = 0" if probes else ""
    if spread == 0:
        raise CaseError(f"{origin}: all fixed electrodes are at potential_V = {volts[0]}"
                        f"{probes}: no current would flow; set different potentials or a "
                        f"non-zero current_A")
    if spread < MIN_POTENTIAL_SPREAD * size:
        raise CaseError(f"{origin}: the fixed potentials differ by {spread:g} V at a level of "
                        f"{size:g} V (less than {MIN_POTENTIAL_SPREAD:g} of it): float64 keeps "
                        f"too few digits of the difference; give the potentials relative to a "
                        f"0 V reference")

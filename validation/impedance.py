"""Impedance spectra of the two-point network against exact results and the brick-layer model
(not a test; the exact cases are asserted in tests/test_impedance.py).

    python validation/impedance.py [--ding2023]

1. Homogeneous slab (one RC), bicrystal (two RC arcs), parallel layers (admittances add): the
   largest relative deviation from the analytic Z over 1e4-1e13 Hz, and the Lin-KK residual.
2. Brick-layer model (BLM; van Dijk & Burggraaf, phys. stat. sol. (a) 63 (1981) 229; Haile,
   West & Campbell, J. Mater. Res. 13 (1998) 1576): cubic grains of edge G, GBs of thickness
   g. Series BLM: R_gb = (L/G) g / (sigma_gb A), C_gb = (G/L) eps_gb A / g, bulk
   R_b = L / (sigma_b A); the parallel GB path adds (d-1) (g/G) sigma_gb A / L (d = 2, 3).
   The network of a regular array is exactly R_b || C_b in series with (N-1) GB planes
   (N = L/G grains along the current): it has no GB volume and no parallel GB path. Printed:
   the network's GB resistance and summit frequency against the BLM's, for N and g/G, and
   for staggered bricks (rows shifted by half a brick), where current detours.
3. ``--ding2023``: the spectra of the ding2023 cases (reduced, full, isotropic; 5 points per
   decade; minutes), with the bulk / GB shares of the DC resistance and at the arc summits.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
import tempfile
from pathlib import Path

import numpy as np
from scipy.constants import epsilon_0

import netsolve
from netsolve.impedance import compute_impedance, default_options

H = 10e-9
SIGMA, EPS_R = 1.0, 10.0
ROOT = Path(__file__).resolve().parents[1]


def case(shape, labels=None, materials=None, impedance=None, phases=None):
    data = {"grid": {"shape": list(shape), "voxel_size_nm": H * 1e9},
            "microstructure": {"source": "uniform"},
            "materials": {"sigma_ip_S_per_m": SIGMA, "conductivity_model": "isotropic",
                          "eps_r_bulk": EPS_R, **(materials or {})},
            "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                           {"name": "b", "region": "right", "potential_V": 0.0}],
            "impedance": {"f_min_Hz": 1e4, "f_max_Hz": 1e13, "points_per_decade": 10,
                          **(impedance or {})}}
    tmp = Path(tempfile.mkdtemp(prefix="netsolve-impedance-"))
    if labels is not None:
        np.save(tmp / "labels.npy", labels.astype(np.int32))
        data["microstructure"] = {"source": "labels", "path": "labels.npy",
                                  "phases": phases or {}}
    return compute_impedance(netsolve.case_from_dict(data, base_dir=tmp))


def rc(r, tau, f):
    return r / (1 + 2j * np.pi * f * tau)


def exact_cases() -> None:
    print("1. exact RC results (largest |Z - Z_exact| / |Z_exact| over the window; Lin-KK)")
    nx, ny = 40, 8
    area = ny * H * H
    r_b, tau_b = nx * H / (SIGMA * area), epsilon_0 * EPS_R / SIGMA
    slab = case((nx, ny))
    report("homogeneous slab", slab, rc(r_b, tau_b, slab.frequency_Hz))
    labels = np.where(np.arange(nx)[:, None] < nx // 2, 1, 2) * np.ones((nx, ny), int)
    bi = case((nx, ny), labels, {"ratio_ip_gb": 5000.0, "gb_thickness_nm": 1.0})
    sigma_gb = SIGMA / 5000.0
    r_gb, tau_gb = 1e-9 / (sigma_gb * area), epsilon_0 * EPS_R / sigma_gb
    report("bicrystal", bi, rc(r_b, tau_b, bi.frequency_Hz) + rc(r_gb, tau_gb, bi.frequency_Hz))
    print(f"   bicrystal summits: bulk 1/(2 pi R_b C_b) = {1 / (2 * np.pi * tau_b):.4g} Hz, GB "
          f"{1 / (2 * np.pi * tau_gb):.4g} Hz; spectrum's -Z'' maxima at "
          + ", ".join(f"{a['frequency_Hz']:.4g}" for a in bi.arcs) + " Hz (grid points); DRT "
          "peaks at " + ", ".join(f"{1 / (2 * np.pi * p['tau_s']):.4g} Hz ({p['resistance_ohm']:.4g}"
                                  f" ohm)" for p in bi.drt.peaks()))
    layers = np.where(np.arange(ny)[None, :] < 3, 1, -2) * np.ones((nx, ny), int)
    par = case((nx, ny), layers, {"ratio_ip_backbone": 30.0, "eps_r_backbone": 40.0},
               phases={"backbone": -2})
    omega = 2 * np.pi * par.frequency_Hz
    y = (3 * (SIGMA + 1j * omega * epsilon_0 * EPS_R)
         + 5 * (SIGMA / 30 + 1j * omega * epsilon_0 * 40.0)) * H * H / (nx * H)
    report("parallel layers", par, 1 / y)


def report(name, result, exact) -> None:
    deviation = np.max(np.abs(result.impedance_ohm - exact) / np.abs(exact))
    print(f"   {name:18s} {deviation:.1e}   Lin-KK residual {result.kk.max_residual:.1e}")


def bricks(n_along: int, brick_vox: int, g_over_g: float, staggered: bool = False,
           ndim: int = 2, rows: int = 4):
    """Label map of n_along bricks of brick_vox voxels along x (cubic bricks), rows across."""
    shape = (n_along * brick_vox,) + (rows * brick_vox,) * (ndim - 1)
    index = np.indices(shape)
    shift = (index[1] // brick_vox % 2) * (brick_vox // 2) if staggered else 0
    column = (index[0] + shift) // brick_vox
    label = 1 + column
    for axis in range(1, ndim):
        label = label * 1000 + index[axis] // brick_vox
    return shape, label


def brick_layer() -> None:
    print("\n2. brick-layer model: network (GB planes as interfaces) against the series BLM")
    print("   N = grains along the current, g/G = GB thickness / grain size; R_gb, f_gb = "
          "GB arc resistance and summit")
    print(f"   {'layout':22s} {'N':>3s} {'g/G':>6s} {'R_gb net/BLM':>13s} {'f_gb net/BLM':>13s} "
          f"{'R_b net/BLM_thick':>18s} {'Lin-KK':>8s}")
    ratio_gb, brick_vox = 1000.0, 10
    for ndim, staggered in ((2, False), (3, False), (2, True)):
        for n_along in (2, 5, 10):
            for g_over_g in (0.01, 0.1):
                g = g_over_g * brick_vox * H
                shape, labels = bricks(n_along, brick_vox, g_over_g, staggered, ndim,
                                       rows=4 if ndim == 2 else 2)
                result = case(shape, labels, {"ratio_ip_gb": ratio_gb,
                                              "gb_thickness_nm": g * 1e9},
                              {"f_min_Hz": 1e3, "f_max_Hz": 1e12, "points_per_decade": 10})
                length = shape[0] * H
                area = np.prod(shape[1:]) * H * H  # 2D: thickness = voxel size
                sigma_gb = SIGMA / ratio_gb
                r_gb_blm = (length / (brick_vox * H)) * g / (sigma_gb * area)
                tau_gb = epsilon_0 * EPS_R / sigma_gb
                # the network's GB share: its DC limit and its summit frequency
                gb = result.response.gb_ohm
                r_gb_net = gb[0].real
                f_gb_net = result.frequency_Hz[np.argmax(-gb.imag)]
                r_b_thick = length / (SIGMA * area) / (1 + g_over_g)  # bulk volume G/(G+g)
                r_b_net = result.response.bulk_ohm[0].real
                layout = f"{ndim}D" + (" staggered" if staggered else " aligned")
                print(f"   {layout:22s} {n_along:3d} {g_over_g:6.2f} "
                      f"{r_gb_net / r_gb_blm:13.4f} "
                      f"{f_gb_net * 2 * np.pi * tau_gb:13.3f} {r_b_net / r_b_thick:18.4f} "
                      f"{result.kk.max_residual:8.1e}")
    print("   aligned: R_gb ratio = (N-1)/N exactly (the electrode faces are no GBs); f_gb on "
          "the grid point nearest 1/(2 pi tau_gb) (10 per decade); R_b ratio = 1 + g/G (the "
          "network keeps the full bulk length).")


def ding2023() -> None:
    print("\n3. ding2023 cases (5 points per decade): shares of Z' at the lowest frequency "
          "(the DC resistance) and of Z'' at the arc summits")
    for name in ("ding2023_reduced", "ding2023_full", "ding2023_isotropic"):
        data = netsolve.load_case(ROOT / "cases" / f"{name}.toml")
        data = replace(data, impedance=replace(default_options(data), points_per_decade=5))
        result = compute_impedance(data)
        r = result.response
        z = r.impedance_ohm
        print(f"   {name}: {result.n_unknowns} unknowns, {len(z)} frequencies "
              f"{r.frequency_Hz[0]:.0e}-{r.frequency_Hz[-1]:.0e} Hz, Lin-KK "
              f"{result.kk.max_residual:.1e}; DRT peaks "
              + ", ".join(f"{p['frequency_Hz']:.3g} Hz ({p['resistance_ohm'] / z[0].real:.1%})"
                          for p in result.drt.peaks()))
        print(f"     DC: Z' {z[0].real:.4g} ohm = bulk {r.bulk_ohm[0].real / z[0].real:.1%} + GB "
              f"{r.gb_ohm[0].real / z[0].real:.1%} ({_top_gbs(r.owners, r.gb_share[0].real, z[0].real)})")
        c = result.contributions
        for k, f in enumerate(c.frequency_Hz):
            zc = c.impedance_ohm[k]
            print(f"     summit {f:.3g} Hz: -Z'' {-zc.imag:.4g} ohm = bulk "
                  f"{c.bulk_ohm[k].imag / zc.imag:.1%} + GB {c.gb_ohm[k].imag / zc.imag:.1%} "
                  f"({_top_gbs(c.owners, c.gb_share[k].imag, zc.imag)})")


def _top_gbs(owners, share, total, n=3) -> str:
    if not len(share):
        return "no GBs"
    top = np.argsort(-share / total)[:n]
    return "largest " + ", ".join(f"G{a}/G{b} {share[i] / total:.1%}"
                                  for i, (a, b) in zip(top, owners.gb_pair[top]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ding2023", action="store_true")
    args = parser.parse_args()
    exact_cases()
    brick_layer()
    if args.ding2023:
        ding2023()


if __name__ == "__main__":
    sys.exit(main())

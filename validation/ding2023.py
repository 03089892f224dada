"""The reconstructed Ding et al. (2023) lamella against the paper's qualitative statements.

Solves cases/ding2023_{isotropic,reduced,full}.toml (2D, 10 nm voxels, about 0.2-0.3 M unknowns
each; the isotropic case is one uniform medium between the same electrodes) and prints one row per statement: what the texts say, the netsolve value, pass/fail.
The grain map is a reconstruction (microstructures/ding2023_lamella/README.md), so a "fail"
says the reconstruction does not reproduce the statement, not that the model is wrong.

    .venv/bin/python validation/ding2023.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "microstructures" / "ding2023_lamella"))

import netsolve  # noqa: E402
from make_lamella import FRAME_NM, TABLE_4_1, VOXEL_NM  # noqa: E402


def current_magnitude(result) -> tuple[np.ndarray, np.ndarray]:
    """|J| per voxel (NaN outside conducting voxels) and the label map."""
    j = np.linalg.norm(result.fields.current_density, axis=-1)
    return j, result.microstructure.labels


def grain_mean(j, labels, gid) -> float:
    return float(np.nanmean(j[labels == gid]))


def main() -> int:
    rows = isotropic_rows(netsolve.solve(ROOT / "cases" / "ding2023_isotropic.toml"))

    reduced = netsolve.solve(ROOT / "cases" / "ding2023_reduced.toml")
    graph = reduced.graph
    devs = {p: graph.edges[p]["path_misorientation_deg"] - v[1] for p, v in TABLE_4_1.items()}
    worst = max(devs, key=lambda p: abs(devs[p]))
    rows.append(("Table 4-1 path misorientations within 5 deg (max |dev|)",
                 f"{abs(devs[worst]):.1f} (G{worst[0]}/G{worst[1]})",
                 all(abs(d) <= 5.0 for d in devs.values())))
    cdev = {p: graph.edges[p]["misorientation_deg"] - v[0] for p, v in TABLE_4_1.items()}
    cworst = max(cdev, key=lambda p: abs(cdev[p]))
    rows.append(("Table 4-1 crystallographic misorientations (bonus, max |dev| <= 5)",
                 f"{abs(cdev[cworst]):.1f} (G{cworst[0]}/G{cworst[1]})",
                 all(abs(d) <= 5.0 for d in cdev.values())))

    for kind in ("reduced", "full"):
        result = reduced if kind == "reduced" else netsolve.solve(ROOT / "cases" / "ding2023_full.toml")
        j, labels = current_magnitude(result)
        rows.extend(solved_rows(result, kind))
        if kind == "full":
            n = int(FRAME_NM / VOXEL_NM)
            share = np.nansum(j[:n]) + np.nansum(j[n:, :n])
            rows.append(("full: share of sum |J| carried by the frame (information)",
                         f"{share / np.nansum(j):.3f}", True))

    print_table_4_1(graph)
    width = max(len(r[0]) for r in rows)
    print(f"{'statement':<{width}}  {'netsolve':<40} result")
    for statement, value, ok in rows:
        print(f"{statement:<{width}}  {value:<40} {'pass' if ok else 'FAIL'}")
    return 0



def isotropic_rows(result) -> list[tuple[str, str, bool]]:
    """The isotropic case's statement: the current crowds at the top edge (the Na source)."""
    j, _ = current_magnitude(result)
    ny = j.shape[1]
    top, bottom = np.nanmean(j[:, -ny // 5:]), np.nanmean(j[:, : ny // 5])
    top10, bottom10 = np.nanmean(j[:, -ny // 10:]), np.nanmean(j[:, : ny // 10])
    return [("isotropic: mean |J| top fifth / bottom fifth > 10 (paper L121)",
             f"{top / bottom:.1f}", top / bottom > 10),
            ("isotropic: (same, top tenth / bottom tenth) > 10",
             f"{top10 / bottom10:.1f}", top10 / bottom10 > 10)]


def print_table_4_1(graph) -> None:
    """Table 4-1 of the thesis against the reconstruction: crystallographic misorientation,
    transport-path misorientation and the angle psi between the c-axes (degrees)."""
    print("Table 4-1: paper / reconstruction (degrees)")
    print(f"{'GB':<8} {'crystallographic':>18} {'transport path':>16} {'psi (c-axes)':>13}")
    for (a, b), (mis, path) in TABLE_4_1.items():
        e = graph.edges[a, b]
        print(f"G{a}/G{b:<4} {mis:>8} / {e['misorientation_deg']:5.1f} "
              f"{path:>8} / {e['path_misorientation_deg']:5.1f} {e['plane_angle_deg']:13.1f}")
    print()


def solved_rows(result, kind: str) -> list[tuple[str, str, bool]]:
    """Every statement checked on a solved reduced or full case (also used by the lamella's
    search script)."""
    j, labels = current_magnitude(result)
    m = {g: grain_mean(j, labels, g) for g in (1, 10, 11)}
    return [*gb_classification_rows(result, kind),
            (f"{kind}: mean |J| G10 > G1 and G11 (paper L133)",
             f"G10/G1 {m[10] / m[1]:.2f}, G10/G11 {m[10] / m[11]:.2f}",
             m[10] > m[1] and m[10] > m[11])]


def gb_classification_rows(result, kind: str) -> list[tuple[str, str, bool]]:
    """The paper's GB types (Fig. 5, texts) and |J| observations against netsolve's GB table
    (solved field; docs/gb-classification.md)."""
    gb, grains = result.gb_table, result.grain_table
    subtype = gb.subtype
    rows = []
    for a, b, want, blocking in ((11, 16, "III a2", True), (15, 16, "II b1", True),
                                 (14, 16, "II b1", True), (1, 11, "I a2", False)):
        k = gb.row(a, b)
        rows.append((f"{kind}: G{a}/G{b} is {want} ({'' if blocking else 'not '}blocking)",
                     f"{subtype[k]}, psi {gb.psi_deg[k]:.0f}, {gb.behaviour[k]}",
                     subtype[k] == want and bool(gb.blocking[k]) == blocking))
    k = gb.row(13, 14)
    rows.append((f"{kind}: G13/G14 is I a", f"{subtype[k]}, psi {gb.psi_deg[k]:.0f}",
                 gb.gb_type[k] == "I" and gb.letter[k] == "a"))
    whole = np.flatnonzero((gb.segment == -1) & (gb.grain_b > 0))
    contrast = np.nan_to_num(gb.j_contrast[whole], nan=-np.inf)
    rank = {(int(gb.grain_a[k]), int(gb.grain_b[k])): r + 1
            for r, k in enumerate(whole[np.argsort(-contrast, kind="stable")])}
    named = ((11, 16), (10, 15), (9, 13), (9, 14))
    rows.append((f"{kind}: G11/G16, G10/G15, G9/G13, G9/G14 in the top 6 |J| contrast (L135)",
                 ", ".join(f"G{a}/G{b} #{rank[a, b]}" for a, b in named),
                 all(rank[p] <= 6 for p in named)))
    rows.append((f"{kind}: G1/G11 not in the top half of |J| contrast (L137)",
                 f"#{rank[1, 11]} of {len(whole)}", rank[1, 11] > len(whole) / 2))
    j_11_15 = abs(gb.current_density_A_m2[gb.row(11, 15)])
    j_15_16 = abs(gb.current_density_A_m2[gb.row(15, 16)])
    rows.append((f"{kind}: G11/G15 carries more current density than G15/G16 (L137)",
                 f"|J_n| {j_11_15:.3g} vs {j_15_16:.3g} A/m2", j_11_15 > j_15_16))
    order = grains.grain_id[np.argsort(grains.mean_abs_j_A_m2)]
    quartile = order[: int(np.ceil(len(order) / 4))]
    low = {g: int(np.flatnonzero(order == g)[0]) + 1 for g in (19, 22)}
    rows.append((f"{kind}: G19 and G22 in the lowest quartile of mean |J|",
                 f"G19 #{low[19]}, G22 #{low[22]} of {len(order)} (lowest first)",
                 all(g in quartile for g in (19, 22))))
    return rows


if __name__ == "__main__":
    sys.exit(main())

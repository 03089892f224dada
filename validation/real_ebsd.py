"""Every real vendor orientation map of a folder through ``source = "ebsd"`` (not a test).

    python validation/real_ebsd.py [FOLDER]    # default: shared/real-ebsd next to the clone

For each .ang / .ctf / .h5 file: the grid the coordinates form (read once to build the case),
then ``build_microstructure`` with the file's only phase as the conducting one (multi-phase
files: the phase_map below), timed (best of ``--repeat``) and with its peak traced memory
(tracemalloc, one more run); or the one-line reason the file is refused. Prints a Markdown
table (validation/README.md keeps one).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings
from pathlib import Path

import netsolve
from netsolve.errors import CaseError
from netsolve.microstructure import build_microstructure
from netsolve.sources.ebsd import place_on_grid, read_raw

# Files with several phases: which one conducts (the others become void).
PHASE_MAPS = {
    "ebsdimage_scan1.ang": {"Tungsten Carbide": "grain", "Nickel": "void"},
    "ebsdtools_test_ctfFile.ctf": {"Iron Alpha PH": "grain", "iron Gamma Cr_Fe_Ni_": "void"},
}


def default_folder() -> Path:
    here = Path(__file__).resolve()
    for up in here.parents[2:4]:  # next to the clone, or to the folder of a worktree
        if (up / "shared" / "real-ebsd").is_dir():
            return up / "shared" / "real-ebsd"
    return here.parents[2] / "shared" / "real-ebsd"


def case_for(path: Path):
    placed = place_on_grid(read_raw(path), "nearest")
    step = next((s for s in placed.step_nm if s is not None), 1000.0)
    micro = {"source": "ebsd", "path": str(path), "hex_grid": "nearest",
             "fill_warning_fraction": 1.0}
    if path.name in PHASE_MAPS:
        micro["phase_map"] = PHASE_MAPS[path.name]
    return netsolve.case_from_dict({
        "grid": {"shape": list(placed.shape), "voxel_size_nm": step}, "microstructure": micro,
        "electrodes": [{"name": "a", "region": "left", "potential_V": 1.0},
                       {"name": "b", "region": "right", "potential_V": 0.0}]})


def row(path: Path, repeat: int) -> str:
    try:
        case = case_for(path)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            micro = build_microstructure(case)
            times.append(time.perf_counter() - t0)
        tracemalloc.start()
        build_microstructure(case)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    except CaseError as exc:
        return f"| {path.name} | refused: {exc} | | | | | |"
    r = micro.source_report
    phases = ", ".join(f"{p['name']} ({p['laue_class']}, {100 * p['pixel_fraction']:.1f} %"
                       f"{', ' + p['maps_to'] if p['maps_to'] else ''})"
                       for p in r["phases"] if p["pixel_fraction"] > 0)
    shape = " x ".join(str(n) for n in r["grid"]["shape"])
    step = r["grid"]["step_nm"][0] or r["grid"]["step_nm"][1]
    filled = 100 * r["filled_fraction"]["total"]
    return (f"| {path.name} | {r['vendor']} | {shape}, {step:g} nm | {phases}; not indexed "
            f"{100 * r['not_indexed_fraction']:.1f} % | {r['grains']} ({r['segments']} segments, "
            f"{r['merged_after_filling']} merged, {filled:.1f} % filled) | {min(times):.2f} s | "
            f"{peak:.1f} MB |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=default_folder())
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| file | vendor | grid | phases (Laue class, pixels, mapped to) | grains | time | "
          "peak memory |")
    print("|---|---|---|---|---|---|---|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in sorted(args.folder.iterdir()):
            if path.suffix.lower() in (".ang", ".ctf", ".h5", ".hdf5", ".h5ebsd"):
                print(row(path, args.repeat))


if __name__ == "__main__":
    main()

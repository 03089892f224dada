"""Impedance sweeps (netsolve sweep --impedance): exact arc summits and resistances over swept
permittivities, the arc fit, resume, and the keys and options each kind of sweep refuses."""

from __future__ import annotations

import warnings

import math
from pathlib import Path

import numpy as np
import pytest
from scipy.constants import epsilon_0

from netsolve.cli import main
from netsolve.impedance.arcs import fit_arcs
from netsolve.impedance.options import frequencies
from netsolve.impedance.spectrum import arc_summits, compute_drt
from netsolve.sweep import build_plan, parse_param, read_table, run_sweep

SIGMA = 2.0  # S/m
H = 10e-9  # voxel size (m)

CASE = """
electrodes = [{{ name = "source", region = "left", potential_V = 1.0 }},
              {{ name = "sink", region = "right", potential_V = 0.0 }}]

[grid]
shape = [{nx}, {ny}]
voxel_size_nm = 10.0

[microstructure]
{microstructure}

[materials]
sigma_ip_S_per_m = 2.0
conductivity_model = "isotropic"
ratio_ip_gb = 2000.0
gb_thickness_nm = 1.0
eps_r_bulk = 10.0

[solver]
method = "direct"
discretization = "tpfa"
{extra}"""


def write_case(folder: Path, nx: int = 20, ny: int = 4, bicrystal: bool = False,
               extra: str = "") -> Path:
    if bicrystal:
        labels = np.where(np.arange(nx)[:, None] < nx // 2, 1, 2) * np.ones((nx, ny), int)
        np.save(folder / "labels.npy", labels.astype(np.int32))
        micro = 'source = "labels"\npath = "labels.npy"'
    else:
        micro = 'source = "uniform"'
    path = folder / ("bicrystal.toml" if bicrystal else "slab.toml")
    path.write_text(CASE.format(nx=nx, ny=ny, microstructure=micro, extra=extra))
    return path


def rows_by_value(out: Path, key: str) -> dict[float, dict[str, str]]:
    rows = read_table(out)
    assert all(r["status"] == "ok" for r in rows), [r["message"] for r in rows]
    return {float(r[key]): r for r in rows}


def rc(resistance, tau, f):
    return resistance / (1 + 2j * np.pi * f * tau)


# --------------------------------------------------------------------------- exact arcs


def test_slab_summit_is_sigma_over_2_pi_eps_at_every_swept_eps(tmp_path):
    """One RC: summit f = 1/(2 pi R C) = sigma / (2 pi eps0 eps_r) and R = L/(sigma A) from the
    fit, to 1e-9 at 3 points per decade (the summit is fitted, not read off the grid, whose
    step is a factor 2.15 here); the window follows eps_r (derived per point)."""
    nx, ny = 20, 4
    case = write_case(tmp_path, nx, ny, extra="[impedance]\npoints_per_decade = 3\n")
    plan = build_plan(case, (parse_param("materials.eps_r_bulk=logspace(0,2,5)"),),
                      impedance=True)
    out = tmp_path / "sweep"
    run_sweep(plan, out, plots=False)
    resistance = nx * H / (SIGMA * ny * H * H)
    rows = rows_by_value(out, "materials.eps_r_bulk")
    assert sorted(rows) == pytest.approx(list(np.logspace(0, 2, 5)))
    for eps_r, row in rows.items():
        summit = SIGMA / (2 * np.pi * epsilon_0 * eps_r)
        assert int(row["n_arcs"]) == 1 and row["arc_1_origin"] == "bulk"
        assert float(row["arc_1_frequency_Hz"]) == pytest.approx(summit, rel=1e-9)
        assert float(row["arc_1_resistance_ohm"]) == pytest.approx(resistance, rel=1e-9)
        assert float(row["arc_1_capacitance_F"]) == pytest.approx(
            epsilon_0 * eps_r * ny * H * H / (nx * H), rel=1e-9)
        assert row["arc_2_frequency_Hz"] == "nan" and row["arc_2_origin"] == ""
        assert float(row["effective_resistance_ohm"]) == pytest.approx(resistance, rel=1e-12)
        f_min = float(row["f_min_Hz"])
        assert float(row["z_real_lowest_frequency_ohm"]) == pytest.approx(
            rc(resistance, 1 / (2 * np.pi * summit), f_min).real, rel=1e-9)
        # the derived window: two decades beyond the summit, rounded out to decades
        assert f_min == 10.0 ** math.floor(math.log10(summit) - 2)
        assert abs(float(row["r_inf_ohm"])) < 1e-9 * resistance
        assert float(row["arc_fit_residual_rel"]) < 1e-9
        # 3 points per decade is too coarse for the Lin-KK check (docs/impedance.md): the
        # flag follows the residual, whichever way it goes
        assert row["kk_passed"] == str(int(float(row["kk_max_residual_rel"]) <= 1e-3))


def test_bicrystal_gb_summit_moves_as_one_over_eps_gb_while_the_bulk_arc_stays(tmp_path):
    nx, ny = 20, 4
    case = write_case(tmp_path, nx, ny, bicrystal=True,
                      extra="[impedance]\nf_min_Hz = 1e4\nf_max_Hz = 1e12\n")
    plan = build_plan(case, (parse_param("materials.eps_r_gb=logspace(0,2,5)"),),
                      impedance=True, arcs=2)
    out = tmp_path / "sweep"
    outcome = run_sweep(plan, out, jobs=2, save_spectra=True)
    area = ny * H * H
    r_bulk, r_gb = nx * H / (SIGMA * area), 1e-9 / (SIGMA / 2000 * area)
    f_bulk = SIGMA / (2 * np.pi * epsilon_0 * 10.0)
    rows = rows_by_value(out, "materials.eps_r_gb")
    for eps_gb, row in rows.items():
        # arc 1 (highest frequency): the bulk, the same at every point
        assert row["arc_1_origin"] == "bulk" and row["arc_2_origin"] == "gb"
        assert float(row["arc_1_frequency_Hz"]) == pytest.approx(f_bulk, rel=1e-9)
        assert float(row["arc_1_resistance_ohm"]) == pytest.approx(r_bulk, rel=1e-9)
        # arc 2: the GB, summit sigma_GB / (2 pi eps0 eps_r,GB)
        f_gb = float(row["arc_2_frequency_Hz"])
        assert f_gb * eps_gb == pytest.approx(SIGMA / 2000 / (2 * np.pi * epsilon_0), rel=1e-9)
        assert float(row["arc_2_resistance_ohm"]) == pytest.approx(r_gb, rel=1e-9)
        assert float(row["arc_2_capacitance_F"]) == pytest.approx(
            epsilon_0 * eps_gb * area / 1e-9, rel=1e-9)
        assert float(row["effective_resistance_ohm"]) == pytest.approx(r_bulk + r_gb, rel=1e-12)
    # each point's spectrum on request: the exact two-RC impedance at every frequency
    point = plan.points[3]
    table = np.genfromtxt(out / "spectra" / point.point_id / "impedance.csv", delimiter=",",
                          names=True)
    tau_gb = epsilon_0 * point.values[0] / (SIGMA / 2000)
    exact = rc(r_bulk, 1 / (2 * np.pi * f_bulk), table["frequency_Hz"]) + rc(
        r_gb, tau_gb, table["frequency_Hz"])
    np.testing.assert_allclose(table["z_real_ohm"] + 1j * table["z_imag_ohm"], exact,
                               rtol=1e-11)
    assert (out / "spectra" / point.point_id / "drt.csv").exists()
    assert {p.name for p in outcome.files} >= {"sweep.csv", "sweep_materials_eps_r_gb.png"}
    if (out / "sweep.parquet").exists():
        import pyarrow.parquet as pq

        parquet = pq.read_table(out / "sweep.parquet").to_pydict()
        assert parquet["arc_2_origin"] == ["gb"] * 5
        assert parquet["point_id"] == [p.point_id for p in plan.points]


def test_arc_that_shows_only_as_a_shoulder_is_found_from_the_drt():
    f = frequencies(1e5, 1e12, 10)
    z = rc(1.0, 1e-9, f) + rc(0.3, 1e-8, f) + 0.25
    assert len(arc_summits(f, z)) == 1  # one -Z'' maximum only
    fit = fit_arcs(f, z, compute_drt(f, z, 1e-3))
    assert [a.resistance_ohm for a in fit.arcs] == pytest.approx([1.0, 0.3], rel=1e-9)
    assert [a.frequency_Hz for a in fit.arcs] == pytest.approx(
        [1 / (2 * np.pi * 1e-9), 1 / (2 * np.pi * 1e-8)], rel=1e-9)
    assert fit.r_inf_ohm == pytest.approx(0.25, rel=1e-9)
    # without the DRT the shoulder is not seen: one element cannot fit two arcs
    alone = fit_arcs(f, z)
    assert len(alone.arcs) == 1 and alone.residual_rel > 1e-2


# --------------------------------------------------------------------------- resume


def test_resume_of_an_impedance_sweep_equals_the_uninterrupted_one(tmp_path, capsys):
    case = write_case(tmp_path, bicrystal=True, extra="[impedance]\npoints_per_decade = 5\n")
    params = ["--param", "materials.eps_r_gb=1,3,10", "--param", "materials.ratio_ip_gb=1e3,1e4"]
    full, cut = tmp_path / "full", tmp_path / "cut"
    for out in (full, cut):
        assert main(["sweep", str(case), "--impedance", "-o", str(out), "--no-plots",
                     *params]) == 0
    table = cut / "sweep.csv"
    lines = table.read_text().splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    column = header.index("arc_2_frequency_Hz")
    corrupt = lines[2].split(",")
    corrupt[column] = "abc"  # text where a number belongs
    # as if killed: two rows lost, one corrupted, one cut mid-write
    table.write_text(lines[0] + lines[1] + ",".join(corrupt) + lines[3] + lines[4][:25])
    capsys.readouterr()
    assert main(["sweep", str(case), "--impedance", "-o", str(cut), "--resume", "--no-plots",
                 *params]) == 0
    assert ("2 corrupt rows dropped (first: line 3, 'arc_2_frequency_Hz' is 'abc', not a "
            "number)") in capsys.readouterr().err
    timing = {"wall_s", "solver_time_s"}
    resumed = {r["point_id"]: r for r in read_table(cut)}
    reference = {r["point_id"]: r for r in read_table(full)}
    assert sorted(resumed) == sorted(reference) and len(reference) == 6
    for pid, row in reference.items():
        assert {k: v for k, v in resumed[pid].items() if k not in timing} == \
               {k: v for k, v in row.items() if k not in timing}
    # a DC sweep, or other arcs per row, is not this sweep
    capsys.readouterr()
    assert main(["sweep", str(case), "-o", str(cut), "--resume", "--no-plots",
                 "--param", "materials.ratio_ip_gb=1e3,1e4"]) == 2
    assert "--resume refused" in capsys.readouterr().err
    assert main(["sweep", str(case), "--impedance", "--arcs", "2", "-o", str(cut), "--resume",
                 "--no-plots", *params]) == 2
    err = capsys.readouterr().err
    assert "the number of arcs per row differs (3 in sweep.json, 2 now)" in err


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("args, message", [
    (["--param", "materials.eps_r_gb=1,2"],
     "sweep key 'materials.eps_r_gb' changes only the impedance spectrum"),
    (["--param", "impedance.f_max_Hz=1e12,1e13"], "sweep it with --impedance"),
    (["--param", "electrodes.sink.double_layer_F_per_m2=0.1,1"], "sweep it with --impedance"),
    (["--impedance", "--param", "analysis.type_tolerance_deg=1,2"],
     "does not change the row of an impedance sweep"),
    (["--impedance", "--param", "materials.eps_r_gbb=1,2"],
     "close matches: materials.eps_r_gb"),
    (["--impedance", "--param", "materials.eps_r_gb=0,2"],
     "'materials.eps_r_gb' must be > 0, got 0.0 (sweep point materials.eps_r_gb=0)"),
    (["--impedance", "--param", "impedance.f_min_Hz=1e3,1e4", "--save-fields"],
     "--save-fields writes the fields of a DC sweep"),
    (["--param", "materials.ratio_ip_gb=1,2", "--save-spectra"],
     "--save-spectra applies to impedance sweeps only"),
    (["--param", "materials.ratio_ip_gb=1,2", "--arcs", "2"],
     "--arcs applies to impedance sweeps only"),
    (["--impedance", "--param", "materials.ratio_ip_gb=1,2", "--top-k", "2"],
     "--top-k sets the GB risk columns of a DC sweep"),
])
def test_bad_impedance_sweep_input_one_line_exit_2_nothing_written(tmp_path, capsys, args,
                                                                    message):
    case = write_case(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(case), "-o", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("netsolve: error: ")
    assert message in err
    assert not out.exists()


@pytest.mark.case_default  # the case file's own default discretization (mixed) applies
def test_impedance_sweep_uses_the_two_point_network_unless_the_case_asks_otherwise(tmp_path,
                                                                                  capsys):
    """A case that leaves the discretization to its default (mixed for this model) is swept on
    the two-point network, row for row as with `discretization = "tpfa"`; a case that asks for
    another discretization is refused before anything is written."""
    case = write_case(tmp_path)
    given = tmp_path / "given"
    param = ["--param", "materials.eps_r_bulk=5,10"]
    with warnings.catch_warnings():  # the figure's panels of equal values (R_eff, arc R)
        warnings.simplefilter("error", RuntimeWarning)  # had a singular axis transform
        assert main(["sweep", str(case), "--impedance", "-o", str(given), *param]) == 0
    case.write_text(case.read_text().replace('discretization = "tpfa"', ""))
    defaulted = tmp_path / "defaulted"
    assert main(["sweep", str(case), "--impedance", "-o", str(defaulted), *param]) == 0
    a, b = rows_by_value(given, "materials.eps_r_bulk"), rows_by_value(defaulted,
                                                                       "materials.eps_r_bulk")
    assert sorted(a) == sorted(b) == [5.0, 10.0]
    for value in a:
        for key in ("arc_1_frequency_Hz", "arc_1_resistance_ohm", "effective_resistance_ohm"):
            assert float(a[value][key]) == pytest.approx(float(b[value][key]), rel=1e-12)
    capsys.readouterr()
    case.write_text(case.read_text().replace("[solver]", '[solver]\ndiscretization = "mixed"'))
    out = tmp_path / "out"
    assert main(["sweep", str(case), "--impedance", "-o", str(out), *param]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "set [solver] discretization = \"tpfa\"" in err
    assert not out.exists()


def test_sweep_table_selects_impedance_and_arcs(tmp_path):
    case = write_case(tmp_path, extra='[sweep]\nimpedance = true\narcs = 2\n'
                                      '[sweep.parameters]\n"impedance.points_per_decade" = '
                                      '"linspace(2, 4, 3)"\n')
    plan = build_plan(case)
    assert plan.impedance and plan.arcs == 2
    assert plan.definition()["impedance"] == {"arcs": 2}
    # a whole number from linspace is passed to the integer key as an integer
    assert [plan.point_case(p).impedance.points_per_decade for p in plan.points] == [2, 3, 4]
    out = tmp_path / "sweep"
    run_sweep(plan, out, plots=False)
    rows = read_table(out)
    assert [int(r["n_frequencies"]) for r in rows] == [
        len(frequencies(float(r["f_min_Hz"]), float(r["f_max_Hz"]), n))
        for r, n in zip(rows, (2, 3, 4))]
    assert all(r["arc_1_origin"] == "bulk" for r in rows)


def test_a_point_whose_window_is_empty_is_an_error_row_and_the_sweep_goes_on(tmp_path):
    case = write_case(tmp_path)  # derived window: up to 1e12 Hz
    plan = build_plan(case, (parse_param("impedance.f_min_Hz=1e6,1e13"),), impedance=True)
    out = tmp_path / "sweep"
    outcome = run_sweep(plan, out, plots=True)
    assert (outcome.n_ok, outcome.n_error) == (1, 1)
    ok, failed = sorted(read_table(out), key=lambda r: float(r["impedance.f_min_Hz"]))
    assert failed["status"] == "error" and "is empty or inverted" in failed["message"]
    assert failed["arc_1_frequency_Hz"] == "" and ok["status"] == "ok"
    assert float(ok["f_min_Hz"]) == 1e6 and float(ok["f_max_Hz"]) == 1e12
    # the error row is a result: a resume runs nothing again
    again = run_sweep(plan, out, resume=True, plots=False)
    assert (again.n_skipped, again.n_ok, again.n_error) == (2, 0, 0)

"""Solve guards: no NaN/Inf passes a check, every solver's true residual and both balances are
checked, extreme but physical inputs solve accurately (scaled, offset-free form)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import netsolve
from netsolve import cli
from netsolve.errors import SolveError
from netsolve.result import strict_json
from netsolve.solvers import linear_solve, relative_residual

from conftest import H, base_case, with_labels

SHAPE = (30, 8)  # bicrystal: grains 1 | 2 split at x = 15, GB normal to the current


def bicrystal(tmp_path, sigma=1.0, ratio_gb=20.0, method="direct", **solver):
    labels = np.ones(SHAPE, dtype=np.int32)
    labels[SHAPE[0] // 2:] = 2
    data = base_case(SHAPE, model="tensor", sigma_ip_S_per_m=sigma, ratio_ip_op=1000.0,
                     ratio_ip_gb=ratio_gb, gb_thickness_nm=1.0)
    data["solver"] = {"method": method, **solver}
    # both c-axes along z: sigma_ip along x in both grains
    grains = [{"id": 1, "c_axis": [0.0, 0.0, 1.0]}, {"id": 2, "c_axis": [0.0, 0.0, 1.0]}]
    return with_labels(data, labels, tmp_path, grains=grains)


def exact_resistance(sigma, ratio_gb, thickness_m):
    area = SHAPE[1] * H * thickness_m
    return SHAPE[0] * H / (sigma * area) + 1e-9 / (sigma / ratio_gb * area)


def solve(data, tmp_path):
    return netsolve.solve(netsolve.case_from_dict(data, base_dir=tmp_path))


@pytest.mark.parametrize("method", ["direct", "amg", "cg"])
@pytest.mark.parametrize("discretization", ["tpfa", "fem"])
def test_tiny_conductivities_solve_exactly(tmp_path, method, discretization):
    # 1e-15 S/m, the smallest accepted: conductances of ~1e-23 S, whose Galerkin products
    # underflow float32 unless the levels are scaled to O(1).
    data = bicrystal(tmp_path, sigma=1e-15, method=method, discretization=discretization)
    result = solve(data, tmp_path)
    exact = exact_resistance(1e-15, 20.0, result.case.grid.thickness_m)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-8)
    assert result.current_balance_rel <= 1e-9 and result.power_balance_rel <= 1e-9


@pytest.mark.parametrize("hierarchy", ["classical", "rootnode"])
def test_amg_levels_are_scale_free(hierarchy):
    # The float32 levels hold the matrix divided by its largest diagonal: a matrix scaled by
    # 1e-30 (which float32 alone would flush to zero and NaN) gives the same cycle, scaled.
    import scipy.sparse as sp

    from netsolve.solvers import RugeStubenPreconditioner

    n = 40
    grid = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    matrix = (sp.kron(grid, sp.identity(n)) + sp.kron(sp.identity(n), grid)).tocsr()
    matrix = matrix + sp.diags(np.r_[1.0, np.zeros(n * n - 1)])  # one Dirichlet link
    residual = np.random.default_rng(0).standard_normal(n * n)
    plain = RugeStubenPreconditioner(matrix.tocsr(), hierarchy=hierarchy)(residual)
    tiny = RugeStubenPreconditioner((matrix * 1e-30).tocsr(), hierarchy=hierarchy)(residual)
    assert np.all(np.isfinite(tiny))
    np.testing.assert_allclose(tiny * 1e-30, plain, rtol=1e-5, atol=1e-5 * np.abs(plain).max())


@pytest.mark.parametrize("method", ["direct", "amg"])
def test_large_common_potential_keeps_every_digit(tmp_path, method):
    # 1e6 V and 1e6 V - 1 V: the solve works relative to the electrodes' middle.
    data = bicrystal(tmp_path, method=method)
    data["electrodes"][0]["potential_V"] = 1e6
    data["electrodes"][1]["potential_V"] = 1e6 - 1.0
    result = solve(data, tmp_path)
    exact = exact_resistance(1.0, 20.0, result.case.grid.thickness_m)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-9)
    assert result.electrode_potentials_V == {"source": 1e6, "sink": 1e6 - 1.0}
    assert result.power_balance_rel <= 1e-9
    potential = result.fields.potential
    assert np.nanmax(potential) <= 1e6 and np.nanmin(potential) >= 1e6 - 1.0
    # the GB jump is the GB's share of the 1 V drop, to the digits of the relative solve
    r_gb = 1e-9 / (1.0 / 20.0 * SHAPE[1] * H * result.case.grid.thickness_m)
    assert result.fields.gb_potential_jump[result.network.link_crosses_gb] == pytest.approx(
        r_gb / exact, rel=1e-8)


@pytest.mark.parametrize("rtol", [1e-2, 1e-4])
def test_loose_rtol_is_tightened_until_both_balances_hold(tmp_path, rtol):
    # A loose rtol leaves the currents of an asymmetric sample (grain 2 conducts sigma_op
    # along x) imbalanced far beyond balance_tol; the solve continues from there until
    # Kirchhoff and Tellegen hold to the tolerance.
    data = bicrystal(tmp_path, method="cg", rtol=rtol)
    data["grains"][1]["c_axis"] = [1.0, 0.0, 0.0]
    result = solve(data, tmp_path)
    assert result.current_balance_rel <= 1e-9
    assert result.power_balance_rel <= 1e-9
    assert result.solution.stats.residual_rel < rtol / 1e6
    area = SHAPE[1] * H * result.case.grid.thickness_m
    half = SHAPE[0] // 2 * H
    exact = half / (1.0 * area) + half / (1e-3 * area) + 1e-9 / (1.0 / 20.0 * area)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-8)


def test_unreachable_balance_is_an_error_naming_it(tmp_path):
    data = bicrystal(tmp_path, method="direct", balance_tol=1e-300)
    with pytest.raises(SolveError, match=r"do not balance: \|sum I\| / max \|I\| = .* > "
                                         r"solver.balance_tol 1e-300"):
        solve(data, tmp_path)


def test_unbalanced_result_is_exit_2_and_writes_nothing(tmp_path, capsys):
    data = bicrystal(tmp_path, method="direct", balance_tol=1e-300)
    case_file = tmp_path / "case.toml"
    case_file.write_text(_toml(data))
    out = tmp_path / "out"
    assert cli.main(["run", str(case_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("netsolve: error:") and "balance" in err[0]
    assert not out.exists()


def scale_direct_solutions(monkeypatch, factor):
    """Make every SuperLU solve return ``factor`` times the right answer (a faulty factor)."""
    real_splu = spla.splu

    class Scaled:
        def __init__(self, lu):
            self.lu = lu

        def solve(self, rhs):
            return self.lu.solve(rhs) * factor

    monkeypatch.setattr(spla, "splu", lambda *a, **k: Scaled(real_splu(*a, **k)))


def test_direct_solver_residual_is_checked(tmp_path, monkeypatch):
    # A factorization that returns a wrong answer must not pass: the direct solver's residual
    # is checked like an iterative one's (refinement cannot repair a factor 3 off).
    scale_direct_solutions(monkeypatch, 3.0)
    with pytest.raises(SolveError, match="solver 'direct' did not converge"):
        solve(bicrystal(tmp_path, method="direct"), tmp_path)


def test_refinement_repairs_a_slightly_wrong_factorization(tmp_path, monkeypatch):
    # 1e-6 relative error per solve: iterative refinement brings it to rounding level.
    scale_direct_solutions(monkeypatch, 1 + 1e-6)
    result = solve(bicrystal(tmp_path, method="direct"), tmp_path)
    assert result.solution.stats.residual_rel < 1e-13
    exact = exact_resistance(1.0, 20.0, result.case.grid.thickness_m)
    assert result.effective_resistance_ohm == pytest.approx(exact, rel=1e-12)


def test_nan_never_passes_a_convergence_check():
    import scipy.sparse as sp

    a = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    rhs = np.array([[1.0], [0.0]])
    assert relative_residual(a, np.array([[np.nan], [0.0]]), rhs) == np.inf
    assert relative_residual(a, np.array([[np.inf], [0.0]]), rhs) == np.inf
    # A zero right-hand side with a non-zero "solution" is not converged either.
    assert relative_residual(a, np.array([[1.0], [0.0]]), np.zeros((2, 1))) == np.inf
    x, stats = linear_solve(a, rhs, "direct", 1e-12, 10)
    assert np.allclose(a @ x, rhs, rtol=1e-15) and stats.residual_rel < 1e-15


def test_nan_matrix_is_an_error_for_every_solver():
    import scipy.sparse as sp

    a = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, np.nan]]))
    with pytest.raises(SolveError, match="solver 'direct' failed: the network matrix is "
                                         "singular or not finite"):
        linear_solve(a, np.array([[1.0], [0.0]]), "direct", 1e-10, 50)
    for method in ("amg", "cg"):
        with pytest.raises(SolveError, match="did not converge: relative residual non-finite"):
            linear_solve(a, np.array([[1.0], [0.0]]), method, 1e-10, 50)


def test_summary_is_strict_json(tmp_path):
    data = bicrystal(tmp_path)
    data["electrodes"][1]["region"] = "top"  # not a slab: the conductivity is undefined
    result = solve(data, tmp_path)
    summary = result.summary()
    assert summary["effective_conductivity_S_m"] is None
    json.dumps(summary, allow_nan=False)  # raises on NaN/Infinity
    assert strict_json({"a": [1.0, np.float32("nan"), np.inf], "b": np.int64(3),
                        "c": np.bool_(True)}) == {"a": [1.0, None, None], "b": 3, "c": True}


def _toml(data: dict) -> str:
    """The small subset of TOML these cases need (tables, arrays of tables, scalars, lists)."""
    lines = []

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(float(v)) if isinstance(v, float) else str(v)

    for name, table in data.items():
        if isinstance(table, list):
            for entry in table:
                lines.append(f"[[{name}]]")
                lines += [f"{k} = {value(v)}" for k, v in entry.items()]
        else:
            lines.append(f"[{name}]")
            lines += [f"{k} = {value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def test_toml_helper_round_trips(tmp_path):
    import tomllib

    data = copy.deepcopy(bicrystal(tmp_path, balance_tol=1e-300))
    assert tomllib.loads(_toml(data)) == data

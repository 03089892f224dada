"""The solve stage on the voxel grid without the assembled matrix: connectivity by labelling
the grid, and the residual / balance checks of the grid multigrid computed with the stencil.
Each must give what the matrix (CSR) path gives: the same floating nodes, the same products
to rounding, the same answers; NaN still never passes."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest
from scipy.sparse.csgraph import connected_components

from netsolve.discretization.tpfa import Network
from netsolve.errors import CaseError
from netsolve.multigrid import cycle
from netsolve.multigrid.solver import GridMatrix
from netsolve.solve import (check_connectivity, electrode_groups, joined_components,
                            network_matrix, solve_network)
from netsolve.solvers import relative_residual
from conftest import base_case, solve_dict, with_labels


@pytest.fixture(autouse=True)
def deep_hierarchies(monkeypatch):
    """Small test grids get several levels (the coarsest grid is otherwise solved directly)."""
    monkeypatch.setattr(cycle, "COARSEST_MAX", 12)


def walled_islands(tmp_path, shape=(60, 40)) -> dict:
    """Two grains, a ZrO2 wall around an island of grain 1 and an island walled in against the
    top edge: 8 x 8 + 6 x 8 floating voxels."""
    labels = np.ones(shape, dtype=np.int32)
    labels[30:] = 2
    labels[10:22, 8:20] = -1
    labels[12:20, 10:18] = 1
    labels[40:50, 30:40] = -1
    labels[42:48, 32:40] = 2
    grains = [{"id": 1, "c_axis": [1, 0, 0]}, {"id": 2, "c_axis": [0.3, 0.2, 1.0]}]
    return with_labels(base_case(shape, "tensor", ratio_ip_op=1000.0, ratio_ip_gb=20.0,
                                 gb_thickness_nm=1.0), labels, tmp_path,
                       phases={"zro2": -1}, grains=grains)


def porous_3d(tmp_path, n=14, seed=3) -> dict:
    """A 3D grid with random voids (~30 %): several floating clusters."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random((n, n, n)) < 0.3, 0, 1).astype(np.int32)
    return with_labels(base_case((n, n, n)), labels, tmp_path, phases={"void": 0})


def with_solver(data: dict, **solver) -> dict:
    data = copy.deepcopy(data)
    data["solver"] = {**data.get("solver", {}), **solver}
    return data


def network_of(data: dict, tmp_path) -> Network:
    return solve_dict(with_solver(data, method="direct"), tmp_path).network


def csgraph_groups(network: Network, monkeypatch):
    """electrode_groups through the graph search on the assembled matrix (the former path)."""
    with monkeypatch.context() as patch:
        patch.setattr(Network, "voxel_components", lambda self: None)
        return electrode_groups(network)


@pytest.mark.parametrize("make", [walled_islands, porous_3d])
def test_grid_labelling_is_the_matrix_graph_search(tmp_path, monkeypatch, make):
    network = network_of(make(tmp_path), tmp_path)
    count, component = network.voxel_components()
    n_ref, component_ref = connected_components(network_matrix(network), directed=False)
    assert count == n_ref and np.array_equal(component, component_ref)  # same numbering too
    groups, electrode = electrode_groups(network)
    groups_ref, electrode_ref = csgraph_groups(network, monkeypatch)
    assert np.array_equal(groups, groups_ref) and np.array_equal(electrode, electrode_ref)


def test_floating_clusters_are_still_removed(tmp_path, monkeypatch):
    data = walled_islands(tmp_path)
    network = network_of(data, tmp_path)
    case = solve_dict(with_solver(data, method="direct"), tmp_path).case
    floating = check_connectivity(network, case.electrodes, "case")
    assert floating.sum() == 8 * 8 + 6 * 8
    with monkeypatch.context() as patch:
        patch.setattr(Network, "voxel_components", lambda self: None)
        assert np.array_equal(check_connectivity(network, case.electrodes, "case"), floating)
    result = solve_dict(with_solver(data, method="gmg", rtol=1e-10), tmp_path)
    assert np.array_equal(result.solution.floating, floating)
    assert np.all(np.isnan(result.solution.node_potential[floating]))
    assert np.all(np.isfinite(result.solution.node_potential[~floating]))


def test_labelling_refuses_links_that_are_not_the_face_pairs(tmp_path):
    network = network_of(walled_islands(tmp_path), tmp_path)
    fewer = replace(network, link_nodes=network.link_nodes[1:],
                    link_axis=network.link_axis[1:],
                    link_conductance=network.link_conductance[1:])
    assert fewer.voxel_components() is None  # then the matrix is searched instead


@pytest.mark.parametrize("make", [walled_islands, porous_3d])
def test_stencil_products_are_the_matrix_products(tmp_path, make):
    network = network_of(make(tmp_path), tmp_path)
    floating = ~np.isin(*electrode_groups(network))
    rows = np.flatnonzero(~floating)
    grid = network.grid_operator(rows)
    stencil = GridMatrix(grid)
    matrix = network_matrix(network)[rows][:, rows].tocsr()
    assert stencil.shape == matrix.shape
    x = np.random.default_rng(0).standard_normal((len(rows), 2))
    scale = abs(matrix).max() * np.abs(x).max()
    assert np.max(np.abs(stencil @ x - matrix @ x)) <= 1e-14 * scale
    assert np.max(np.abs(stencil @ x[:, 0] - matrix @ x[:, 0])) <= 1e-14 * scale
    data, data_ref = np.abs(stencil.data), np.abs(matrix.data)
    assert data[data > 0].max() == pytest.approx(data_ref[data_ref > 0].max(), rel=1e-15)
    assert data[data > 0].min() == data_ref[data_ref > 0].min()
    b = matrix @ x[:, :1]
    assert relative_residual(stencil, x[:, :1], b) <= 1e-14


@pytest.mark.parametrize("make", [walled_islands, porous_3d])
def test_gmg_answers_equal_the_matrix_path(tmp_path, make):
    """The grid path (no CSR matrix) against the same solve given the assembled matrix: the
    same iterations and the same potentials to rounding."""
    data = with_solver(make(tmp_path), method="gmg", rtol=1e-10)
    result = solve_dict(data, tmp_path)
    network, case = result.network, result.case
    reference = solve_network(network, case.electrodes, case.solver, "case",
                              matrix=network_matrix(network))
    solution = result.solution
    assert solution.stats.method == reference.stats.method == "gmg"
    assert np.array_equal(solution.floating, reference.floating)
    active = ~solution.floating
    drop = np.ptp(reference.electrode_potential)
    assert np.max(np.abs(solution.node_potential[active]
                         - reference.node_potential[active])) <= 1e-12 * drop
    np.testing.assert_allclose(solution.electrode_current, reference.electrode_current,
                               rtol=1e-10)
    assert solution.stats.residual_rel <= 1e-9 and reference.stats.residual_rel <= 1e-9


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_conductance_is_refused_on_the_grid_path(tmp_path, bad):
    data = with_solver(walled_islands(tmp_path), method="gmg", rtol=1e-10)
    result = solve_dict(data, tmp_path)
    network, case = result.network, result.case
    conductance = network.link_conductance.copy()
    conductance[len(conductance) // 2] = bad
    broken = replace(network, link_conductance=conductance)
    with pytest.raises(CaseError, match=r"^case: (solver 'gmg' did not converge: relative "
                                        r"residual (nan|inf)|the electrode currents are not "
                                        r"finite)"):
        solve_network(broken, case.electrodes, case.solver, "case")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_joined_components_are_the_graph_search(seed):
    """The union-find that joins components through the electrodes, against csgraph: the same
    components, numbered alike (by their smallest vertex)."""
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    n = 60
    a, b = rng.integers(0, n, 45), rng.integers(0, n, 45)
    graph = sp.coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, expected = connected_components(graph, directed=False)
    assert np.array_equal(joined_components(n, a, b), expected)
    assert np.array_equal(joined_components(5, np.zeros(0, int), np.zeros(0, int)),
                          np.arange(5))


def test_a_label_map_case_imports_only_its_own_source(tmp_path):
    """Sources are imported on first use: a label-map case does not load the orientation-map
    readers or the Voronoi / polygon geometry (their imports cost ~0.5 s per process)."""
    import subprocess
    import sys

    from netsolve.sources import SOURCES

    assert list(SOURCES) == ["uniform", "labels", "voronoi", "image", "polygons", "ebsd"]
    assert SOURCES["labels"].__name__ == "netsolve.sources.labels"
    with pytest.raises(KeyError):
        SOURCES["nope"]
    np.save(tmp_path / "map.npy", np.ones((6, 5), dtype=np.int32))
    (tmp_path / "case.toml").write_text(
        '[grid]\nshape = [6, 5]\nvoxel_size_nm = 10.0\n\n'
        '[microstructure]\nsource = "labels"\npath = "map.npy"\n\n'
        '[materials]\nsigma_ip_S_per_m = 1.0\nconductivity_model = "isotropic"\n\n'
        '[[electrodes]]\nname = "a"\nregion = "left"\npotential_V = 1.0\n\n'
        '[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n')
    code = ("import sys, netsolve; c = netsolve.load_case(sys.argv[1]); "
            "from netsolve.microstructure import build_microstructure; "
            "m = build_microstructure(c); "
            "print(' '.join(sorted(k for k in sys.modules if k.startswith('netsolve.sources.'))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "case.toml")],
                         capture_output=True, text=True, check=True).stdout.split()
    assert "netsolve.sources.labels" in out
    assert not [m for m in out if m.split(".")[2] in ("ebsd", "voronoi", "polygons")]

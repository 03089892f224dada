"""Candidate preconditioners for validation/bench_mixed_solver.py (not a test).

Each candidate is a hierarchy (pyamg) plus smoothers, run as one symmetric V-cycle per CG
iteration with the levels in float32 (netsolve.solvers.RugeStubenPreconditioner's cycle and
scaling); "cells" smoothers use the unknowns of every cell as Schwarz subdomains on the finest
level (the unknowns passed by the benchmark), Gauss-Seidel below.

Names: a hierarchy (``rootnode``: netsolve's own preconditioner; ``classical``: Ruge-Stueben;
``sa_evolution`` / ``sa_symmetric``: smoothed aggregation; ``rn_*``: root-node variants of
ROOTNODE_VARIANTS; ``cellcoarse[_rs]``: the cell averages as first coarse space, root-node or
Ruge-Stueben below) and optionally a finest-level smoother: ``+gs2`` (two Gauss-Seidel
sweeps), ``+gs2all`` (on every level), ``+cells`` (cell Schwarz), ``+graphschwarz`` (pyamg's
default Schwarz subdomains, the matrix row of every unknown); a final ``@w``: W-cycle.
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from netsolve.solvers import RugeStubenPreconditioner, relative_residual
from netsolve.stopping import pcg


def _schwarz_smoothers(A, subdomain, ptr):
    """Forward / backward multiplicative Schwarz on the given subdomains (block inverses
    computed in batches of equal size)."""
    from pyamg.relaxation.relaxation import schwarz

    A = A.tocsr()
    A.sort_indices()
    sizes = np.diff(ptr)
    inv_ptr = np.concatenate([[0], np.cumsum(sizes.astype(np.int64) ** 2)]).astype(ptr.dtype)
    from pyamg import amg_core

    blocks_flat = np.zeros(inv_ptr[-1], dtype=np.float64)
    A64 = A.astype(np.float64)
    amg_core.extract_subblocks(A64.indptr, A64.indices, A64.data, blocks_flat, inv_ptr,
                               subdomain, ptr, len(ptr) - 1, A.shape[0])
    inv = np.zeros(inv_ptr[-1], dtype=A.dtype)
    for m in np.unique(sizes):
        which = np.flatnonzero(sizes == m)
        pos = (inv_ptr[which][:, None] + np.arange(m * m)).ravel()
        blocks = blocks_flat[pos].reshape(len(which), m, m)
        inv[pos] = np.linalg.pinv(blocks, hermitian=True).astype(A.dtype).ravel()
    A.schwarz_parameters = (subdomain, ptr, inv, inv_ptr)

    def pre(_A, x, b):
        schwarz(A, x, b, 1, subdomain, ptr, inv, inv_ptr, sweep="forward")

    def post(_A, x, b):
        schwarz(A, x, b, 1, subdomain, ptr, inv, inv_ptr, sweep="backward")
    return pre, post


def _gs_sweeps(n):
    from pyamg.relaxation.relaxation import gauss_seidel

    def pre(A, x, b):
        gauss_seidel(A, x, b, iterations=n, sweep="forward")

    def post(A, x, b):
        gauss_seidel(A, x, b, iterations=n, sweep="backward")
    return pre, post


def _from_pyamg(matrix, build):
    """A RugeStubenPreconditioner around a pyamg hierarchy built by ``build(scaled float64)``,
    levels cast to float32 CSR."""
    import scipy.sparse as sp

    from netsolve.solvers import _csr_as, _symmetric_pseudo_inverse

    precond = RugeStubenPreconditioner.__new__(RugeStubenPreconditioner)
    precond.dtype = np.float32
    precond.scale = 1.0 / float(np.abs(matrix.diagonal()).max())
    ml = build(_csr_as(matrix, np.float64, precond.scale))
    for level in ml.levels:
        for name in ("A", "P", "R"):
            if hasattr(level, name):
                setattr(level, name, _csr_as(sp.csr_matrix(getattr(level, name)), np.float32))
    gs = _gs_sweeps(1)
    for level in ml.levels:
        level.presmoother, level.postsmoother = gs
    precond.hierarchy, precond.levels = ml, ml.levels
    precond._coarse_inverse = _symmetric_pseudo_inverse(ml.levels[-1].A)
    precond.complexity = (sum(level.A.nnz for level in ml.levels) / ml.levels[0].A.nnz,
                          len(ml.levels))
    return precond


def _sa(strength, aggregate="standard", smooth=("energy", {"degree": 1, "maxiter": 2})):
    def build(A):
        import pyamg
        return pyamg.smoothed_aggregation_solver(A, strength=strength, aggregate=aggregate,
                                                 smooth=smooth, max_coarse=500, keep=False,
                                                 improve_candidates=None)
    return build


EVOLUTION = ("evolution", {"k": 2, "epsilon": 4.0})
ROOTNODE_VARIANTS = {
    # the shipped configuration, set up without netsolve's shortcuts
    "rn_base": dict(strength=[EVOLUTION, ("classical", {"theta": 0.25})],
                    smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_evo_all": dict(strength=EVOLUTION,
                       smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_energy4": dict(strength=[EVOLUTION, ("classical", {"theta": 0.25})],
                       smooth=("energy", {"degree": 2, "maxiter": 4, "weighting": "diagonal"})),
    "rn_evo_k4": dict(strength=[("evolution", {"k": 4, "epsilon": 4.0}),
                                ("classical", {"theta": 0.25})],
                      smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_eps2": dict(strength=[("evolution", {"k": 2, "epsilon": 2.0}),
                              ("classical", {"theta": 0.25})],
                    smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_improve": dict(strength=[EVOLUTION, ("classical", {"theta": 0.25})],
                       smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"}),
                       improve_candidates=[("gauss_seidel", {"sweep": "symmetric",
                                                             "iterations": 4}), None]),
    "rn_naive": dict(strength=[EVOLUTION, ("classical", {"theta": 0.25})],
                     aggregate="naive",
                     smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_naive_evo_all": dict(strength=EVOLUTION, aggregate="naive",
                             smooth=("energy", {"degree": 1, "maxiter": 2,
                                                "weighting": "diagonal"})),
    "rn_naive_eps2": dict(strength=[("evolution", {"k": 2, "epsilon": 2.0}),
                                    ("classical", {"theta": 0.25})], aggregate="naive",
                          smooth=("energy", {"degree": 1, "maxiter": 2,
                                             "weighting": "diagonal"})),
    "rn_symmetric": dict(strength=("symmetric", {"theta": 0.25}),
                         smooth=("energy", {"degree": 1, "maxiter": 2,
                                            "weighting": "diagonal"})),
    "rn_classical05": dict(strength=("classical", {"theta": 0.5}),
                           smooth=("energy", {"degree": 1, "maxiter": 2,
                                              "weighting": "diagonal"})),
    "rn_eps8": dict(strength=[("evolution", {"k": 2, "epsilon": 8.0}),
                              ("classical", {"theta": 0.25})],
                    smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
    "rn_evo_DA": dict(strength=[("evolution", {"k": 2, "epsilon": 4.0, "proj_type": "D_A"}),
                                ("classical", {"theta": 0.25})],
                      smooth=("energy", {"degree": 1, "maxiter": 2, "weighting": "diagonal"})),
}


def _rn(kwargs):
    def build(A):
        import pyamg
        kw = dict(improve_candidates=None, max_coarse=500, keep=False)
        kw.update(kwargs)
        return pyamg.rootnode_solver(A, **kw)
    return build


def cell_prolongation(n, subdomain, ptr):
    """Faces from cells: every unknown is the mean of the cells that contain it (a GB side
    unknown belongs to one cell: the coarse space carries the jumps at GB resistors)."""
    import scipy.sparse as sp

    cell = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    P = sp.csr_matrix((np.ones(len(subdomain)), (subdomain, cell)), shape=(n, len(ptr) - 1))
    count = np.asarray(P.sum(axis=1)).ravel()
    return sp.diags(1.0 / np.maximum(count, 1)) @ P


def _cell_coarse(matrix, cells, coarse_kind):
    """Two-level start: faces -> cells by cell_prolongation (Galerkin), then AMG on the cell
    operator."""
    import scipy.sparse as sp

    from netsolve.solvers import _csr_as

    precond = RugeStubenPreconditioner.__new__(RugeStubenPreconditioner)
    precond.dtype = np.float32
    precond.scale = 1.0 / float(np.abs(matrix.diagonal()).max())
    P = sp.csr_matrix(cell_prolongation(matrix.shape[0], *cells))
    fine = _csr_as(matrix, np.float64, precond.scale)
    coarse = sp.csr_matrix(P.T @ fine @ P)
    coarse.sum_duplicates()
    if coarse_kind == "rootnode":
        inner = RugeStubenPreconditioner(coarse, np.float32, "classical", "rootnode")
    else:
        inner = RugeStubenPreconditioner(coarse, np.float32, "classical", "classical")
    import copy
    top = copy.copy(inner.levels[0])
    top.A = _csr_as(fine, np.float32)
    top.P = _csr_as(P, np.float32)
    top.R = _csr_as(P.T, np.float32)
    inner.levels[0].A = _csr_as(inner.levels[0].A, np.float32, 1.0 / inner.scale)
    for level in inner.levels[1:]:
        level.A = _csr_as(level.A, np.float32, 1.0 / inner.scale)
    precond.levels = [top] + list(inner.levels)
    precond.hierarchy = None
    from netsolve.solvers import _symmetric_pseudo_inverse
    precond._coarse_inverse = _symmetric_pseudo_inverse(precond.levels[-1].A)
    gs = _gs_sweeps(1)
    top.presmoother, top.postsmoother = gs
    precond.complexity = (sum(level.A.nnz for level in precond.levels) / top.A.nnz,
                          len(precond.levels))
    return precond


def _make_v(name, matrix, cells):
    base = name.split("+")[0]
    if base.startswith("cellcoarse"):
        precond = _cell_coarse(matrix, cells, "classical" if "rs" in base else "rootnode")
    elif base in ROOTNODE_VARIANTS:
        precond = _from_pyamg(matrix, _rn(ROOTNODE_VARIANTS[base]))
    elif name.startswith("rootnode") or name.startswith("classical"):
        hierarchy = "rootnode" if name.startswith("rootnode") else "classical"
        precond = RugeStubenPreconditioner(matrix, np.float32, "classical", hierarchy)
    elif name.startswith("sa_evolution"):
        precond = _from_pyamg(matrix, _sa(("evolution", {"k": 2, "epsilon": 4.0})))
    elif name.startswith("sa_symmetric"):
        precond = _from_pyamg(matrix, _sa(("symmetric", {"theta": 0.0})))
    else:
        raise ValueError(name)
    fine = precond.levels[0]
    if name.endswith("+cells"):
        if cells is None:
            raise ValueError("no cells for this system")
        fine.presmoother, fine.postsmoother = _schwarz_smoothers(fine.A, *cells)
    elif name.endswith("+gs2"):
        fine.presmoother, fine.postsmoother = _gs_sweeps(2)
    elif name.endswith("+gs2all"):
        for level in precond.levels:
            level.presmoother, level.postsmoother = _gs_sweeps(2)
    elif name.endswith("+graphschwarz"):
        from pyamg.relaxation.relaxation import schwarz

        def pre(A, x, b):
            schwarz(A, x, b, 1, sweep="forward")

        def post(A, x, b):
            schwarz(A, x, b, 1, sweep="backward")
        fine.presmoother, fine.postsmoother = pre, post
    return precond


CANDIDATES = ["rootnode", "rootnode+gs2", "rootnode+cells", "rn_naive", "rn_naive+gs2",
              "sa_evolution", "classical"]


def run_candidate(name, matrix, rhs, x0, cells, rtol):
    """(setup s, iterations, solve s, process CPU s, true relative residual)."""
    with threadpool_limits(limits=1, user_api="blas"):
        cpu, start = time.process_time(), time.perf_counter()
        precond = make(name, matrix, cells)
        setup = time.perf_counter() - start
        x = np.array(x0[:, 0])
        x, its, _ = pcg(matrix, rhs[:, 0], precond.operator(matrix.shape[0]), rtol, 2000, x)
        solve = time.perf_counter() - start - setup
        cpu = time.process_time() - cpu
    residual = relative_residual(matrix, x[:, None], rhs[:, :1])
    run_candidate.complexity = getattr(precond, "complexity", None)
    return setup, its, solve, cpu, residual


class _Cycle:
    """W- (gamma = 2) or F-like cycles on a RugeStubenPreconditioner's levels (same smoothers,
    scaling and coarse solve): gamma coarse-grid corrections per level."""

    def __init__(self, precond, gamma):
        self.p, self.gamma, self.dtype = precond, gamma, precond.dtype
        self.complexity = getattr(precond, "complexity", None)

    def _cycle(self, i, b):
        levels = self.p.levels
        if i == len(levels) - 1:
            return (self.p._coarse_inverse @ b.astype(np.float64)).astype(self.dtype)
        level = levels[i]
        x = np.zeros_like(b)
        level.presmoother(level.A, x, b)
        for _ in range(self.gamma if i + 2 < len(levels) else 1):
            coarse_b = level.R @ (b - level.A @ x)
            x += level.P @ self._cycle(i + 1, coarse_b)
        level.postsmoother(level.A, x, b)
        return x

    def __call__(self, residual):
        magnitude = float(np.abs(residual).max())
        if magnitude == 0.0:
            return np.zeros_like(residual)
        x = self._cycle(0, (residual / magnitude).astype(self.dtype))
        return x.astype(np.float64) * (magnitude * self.p.scale)

    def operator(self, n):
        import scipy.sparse.linalg as spla
        return spla.LinearOperator((n, n), matvec=self, dtype=np.float64)


def make(name, matrix, cells):
    """The preconditioner of candidate ``name`` (module docstring)."""
    if name.endswith("@w"):
        return _Cycle(_make_v(name[:-2], matrix, cells), 2)
    return _make_v(name, matrix, cells)

"""The frequency sweep: Y(omega) u = b at every frequency, the terminal impedance and where it
comes from.

Z = (V_A - V_B) / I_A with V_A = 1 V, V_B = 0 V. Where the impedance comes from follows from
Tellegen's theorem: for any branch currents I_k and voltages V_k that obey Kirchhoff's laws,
``Z |I_A|^2 = sum_k V_k conj(I_k) = sum_k z_k |I_k|^2``. Every branch is a series chain of
parts (half-voxels, a GB element, an electrode contact), so ``z_part |I_k|^2 / |I_A|^2`` is
that part's exact share of Z; the shares of all parts add up to Z (real and imaginary part
separately). Half-voxels are credited to their grain (or the backbone), GB elements to their
grain pair, contacts to their electrode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..microstructure import Microstructure, Phase
from .admittance import AdmittanceNetwork
from .krylov import FrequencyStats, HierarchyReuse, solve_amg, solve_direct
from .options import ImpedanceOptions
from .system import TerminalSystem

# "auto" factorizes (SuperLU, complex) up to these sizes and iterates above: measured
# crossover of one frequency, factorization against AMG setup + COCG (docs/impedance.md)
DIRECT_MAX_UNKNOWNS = {2: 20_000, 3: 3_000}


@dataclass(frozen=True)
class Owners:
    """Who the parts of the branches belong to. ``grain_label``: the label of each owner row
    (grain id > 0, 0 = backbone); ``node_owner`` (n_nodes,): row of each node;
    ``gb_pair`` (n_gbs, 2): grain labels (lower first) of each GB; ``link_gb`` (n_links,):
    row of each internal link's GB, -1 for links inside a grain or phase."""

    grain_label: np.ndarray
    node_owner: np.ndarray
    gb_pair: np.ndarray
    link_gb: np.ndarray


@dataclass(frozen=True)
class Response:
    """The computed spectrum. ``impedance_ohm`` (n_f,) complex; ``grain_share``
    (n_f, n_owners), ``gb_share`` (n_f, n_gbs) and ``contact_share`` (n_f, n_electrodes),
    complex ohm: the Tellegen shares of Z (they add up to Z). ``current_balance_rel``:
    |I_A + I_B| / |I_A|; ``share_balance_rel``: |sum of shares - Z| / |Z|."""

    frequency_Hz: np.ndarray
    impedance_ohm: np.ndarray
    grain_share: np.ndarray
    gb_share: np.ndarray
    contact_share: np.ndarray
    current_balance_rel: np.ndarray
    share_balance_rel: np.ndarray
    stats: tuple[FrequencyStats, ...]
    owners: Owners

    @property
    def bulk_ohm(self) -> np.ndarray:
        return self.grain_share.sum(axis=1)

    @property
    def gb_ohm(self) -> np.ndarray:
        return self.gb_share.sum(axis=1)

    @property
    def contact_ohm(self) -> np.ndarray:
        return self.contact_share.sum(axis=1)


def build_owners(micro: Microstructure, model: AdmittanceNetwork) -> Owners:
    net = model.network
    flat_labels = micro.labels.reshape(-1)[net.node_voxel]
    is_grain = micro.phase.reshape(-1)[net.node_voxel] == Phase.GRAIN
    key = np.where(is_grain, flat_labels, 0)
    grain_label, node_owner = np.unique(key, return_inverse=True)
    a, b = key[net.link_nodes[:, 0]], key[net.link_nodes[:, 1]]
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1)[net.link_crosses_gb]
    gb_pair, gb_row = np.unique(pairs, axis=0, return_inverse=True)
    link_gb = np.full(net.n_links, -1, dtype=np.int64)
    link_gb[net.link_crosses_gb] = gb_row.reshape(-1)
    return Owners(grain_label, node_owner.reshape(-1), gb_pair.reshape(-1, 2), link_gb)


def choose_impedance_method(method: str, n_unknowns: int, ndim: int) -> str:
    if method != "auto":
        return method
    return "direct" if n_unknowns <= DIRECT_MAX_UNKNOWNS[ndim] else "amg"


def compute_response(model: AdmittanceNetwork, system: TerminalSystem, owners: Owners,
                     frequency_Hz: np.ndarray, options: ImpedanceOptions,
                     origin: str) -> Response:
    """Solve every frequency (Hz) and collect Z and its shares."""
    from threadpoolctl import threadpool_limits

    # one BLAS thread, as netsolve.solvers: waking threads for the many small BLAS calls of
    # SuperLU, AMG and the Krylov vector updates costs more than they compute
    with threadpool_limits(limits=1, user_api="blas"):
        return _sweep(model, system, owners, frequency_Hz, options, origin)


def _sweep(model, system, owners, frequency_Hz, options, origin) -> Response:
    net = model.network
    method = choose_impedance_method(options.method, system.n_unknowns, system.ndim)
    n_f, n_e = len(frequency_Hz), net.n_electrodes
    impedance = np.zeros(n_f, complex)
    grain_share = np.zeros((n_f, len(owners.grain_label)), complex)
    gb_share = np.zeros((n_f, len(owners.gb_pair)), complex)
    contact_share = np.zeros((n_f, n_e), complex)
    balance = np.zeros(n_f)
    stats: list[FrequencyStats] = []
    reuse = HierarchyReuse()
    a, b = net.link_nodes[:, 0], net.link_nodes[:, 1]
    e_node = net.electrode_link_node
    gb_links = owners.link_gb >= 0
    for k, frequency in enumerate(frequency_Hz):  # one sparse solve per frequency
        omega = 2 * np.pi * frequency
        z_lower, z_upper, z_gb = model.link_parts(omega)
        z_bulk, z_contact = model.electrode_parts(omega)
        admittance = 1.0 / np.concatenate([z_lower + z_upper + z_gb, z_bulk + z_contact])
        matrix, rhs = system.matrix(admittance), system.rhs(admittance)
        if method == "direct":
            solution, stat = solve_direct(matrix, rhs)
        else:
            solution, stat = solve_amg(
                matrix, rhs, lambda: _real_matrix(system, admittance), system.ndim, reuse,
                options.rtol, options.maxiter, origin)
        stats.append(stat)
        current = admittance * system.branch_voltage(system.potentials(solution))
        i_a, i_b = system.terminal_currents(current)
        impedance[k] = 1.0 / i_a
        balance[k] = abs(i_a + i_b) / abs(i_a)
        weight = np.abs(current) ** 2 / abs(i_a) ** 2
        w_links, w_electrode = weight[:net.n_links], weight[net.n_links:]
        n_owners = len(owners.grain_label)
        grain_share[k] = (_bincount(owners.node_owner[a], z_lower * w_links, n_owners)
                          + _bincount(owners.node_owner[b], z_upper * w_links, n_owners)
                          + _bincount(owners.node_owner[e_node], z_bulk * w_electrode,
                                      n_owners))
        gb_share[k] = _bincount(owners.link_gb[gb_links], (z_gb * w_links)[gb_links],
                                len(owners.gb_pair))
        contact_share[k] = _bincount(net.electrode_link_electrode, z_contact * w_electrode, n_e)
    total = grain_share.sum(axis=1) + gb_share.sum(axis=1) + contact_share.sum(axis=1)
    return Response(np.asarray(frequency_Hz, float), impedance, grain_share, gb_share,
                    contact_share, balance, np.abs(total - impedance) / np.abs(impedance),
                    tuple(stats), owners)


def _real_matrix(system: TerminalSystem, admittance: np.ndarray):
    """P = W + T, the Laplacian of Re y + Im y (real SPD over the unknowns): the matrix the
    AMG hierarchy is set up for."""
    return system.matrix(admittance.real + admittance.imag).real.tocsr()


def _bincount(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Complex np.bincount."""
    return (np.bincount(index, values.real, n) + 1j * np.bincount(index, values.imag, n))

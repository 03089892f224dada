"""The two-point network in the frequency domain: every link as an exact series/parallel
composition of its parts, Y(omega) per link.

Each voxel is a leaky dielectric: along grid axis a its half-voxel (length h/2, face area A)
has the admittance ``(A / (h/2)) sigma*_a(omega)`` with the complex conductivity
``sigma*_a = sigma_a + i omega eps0 eps_r`` (a conductance in parallel with a capacitance of
the same geometry). A link is, in series:

- the half-voxel of each end (``z = 1 / ((A / (h/2)) sigma*)``),
- across a grain boundary, ``R_GB || C_GB`` with ``R_GB = t_GB / (sigma_GB A)`` and
  ``C_GB = eps0 eps_r_gb A / t_GB`` (``z = R_GB / (1 + i omega R_GB C_GB)``);

an electrode link is the voxel's bulk part (length h/2 or h, as in the DC network) in series
with ``R_ct || C_dl`` (``R_ct = ASR / A``, ``C_dl`` = double_layer_F_per_m2 * A). At omega = 0
every link has exactly the DC network's conductance (:mod:`netsolve.discretization.tpfa`).

2D lamellae with the ``tensor`` model: the DC in-plane conductivity is the Schur complement of
the crystal tensor (J_z = 0, :mod:`netsolve.properties`). With displacement current the same
condition applies to the complex tensor ``S3 + i omega eps I``; its in-plane diagonal is
``sigma*_a = sigma_a + i omega eps + k_a i omega eps / (S3_zz + i omega eps)`` with
``k_a = S3_az^2 / S3_zz`` (exact; k_a = 0 unless the c-axis is oblique to the lamella).

ZrO2 and void carry no nodes: neither conduction nor displacement current (the DC model's
R = infinity; their stray capacitance is neglected). Units: S, F, ohm, S/m, F/m, rad/s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.constants import epsilon_0

from ..case import Case
from ..microstructure import Microstructure, Phase
from ..discretization.tpfa import Network
from ..properties import Properties


@dataclass(frozen=True)
class AdmittanceNetwork:
    """The AC parameters of a two-point :class:`Network` (arrays over its nodes and links).

    ``node_sigma`` (n_nodes, d) S/m and ``node_eps`` (n_nodes,) F/m: per-axis conductivity and
    permittivity of each node's voxel; ``node_film_coupling`` (n_nodes, d) S/m and
    ``node_film_sigma_z`` (n_nodes,) S/m: the thin-film terms k_a and S3_zz (zeros when none).
    ``half_factor``: A / (h/2) in m. ``link_gb_resistance`` (ohm, 0 without GB) and
    ``link_gb_capacitance`` (F, 0 without GB) per internal link. ``electrode_bulk_factor``:
    A / L of the electrode links' bulk part (m); ``electrode_contact_resistance`` (ohm) and
    ``electrode_contact_capacitance`` (F) per electrode link.
    """

    network: Network
    node_sigma: np.ndarray
    node_eps: np.ndarray
    node_film_coupling: np.ndarray
    node_film_sigma_z: np.ndarray
    half_factor: float
    link_gb_resistance: np.ndarray
    link_gb_capacitance: np.ndarray
    electrode_bulk_factor: float
    electrode_contact_resistance: np.ndarray
    electrode_contact_capacitance: np.ndarray

    def complex_sigma(self, nodes: np.ndarray, axis: np.ndarray, omega: float) -> np.ndarray:
        """sigma*_a(omega) (S/m) of the voxels of ``nodes`` along ``axis``."""
        eps = self.node_eps[nodes]
        value = self.node_sigma[nodes, axis] + 1j * omega * eps
        coupling = self.node_film_coupling[nodes, axis]
        film = coupling != 0
        if film.any():
            iwe = 1j * omega * eps[film]
            value[film] += coupling[film] * iwe / (self.node_film_sigma_z[nodes[film]] + iwe)
        return value

    def link_parts(self, omega: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Impedances (ohm) of the lower half-voxel, the upper half-voxel and the GB element
        of every internal link."""
        net = self.network
        a, b = net.link_nodes[:, 0], net.link_nodes[:, 1]
        z_lower = 1.0 / (self.half_factor * self.complex_sigma(a, net.link_axis, omega))
        z_upper = 1.0 / (self.half_factor * self.complex_sigma(b, net.link_axis, omega))
        return z_lower, z_upper, parallel_rc(self.link_gb_resistance, self.link_gb_capacitance,
                                             omega)

    def electrode_parts(self, omega: float) -> tuple[np.ndarray, np.ndarray]:
        """Impedances (ohm) of the bulk part and of the contact (R_ct || C_dl) of every
        electrode link."""
        net = self.network
        sigma = self.complex_sigma(net.electrode_link_node, net.electrode_link_axis, omega)
        return (1.0 / (self.electrode_bulk_factor * sigma),
                parallel_rc(self.electrode_contact_resistance,
                            self.electrode_contact_capacitance, omega))


def parallel_rc(resistance: np.ndarray, capacitance: np.ndarray, omega: float) -> np.ndarray:
    """Impedance (ohm) of R || C: R / (1 + i omega R C); 0 where R = 0."""
    return resistance / (1.0 + 1j * omega * resistance * capacitance)


def build_admittance(case: Case, micro: Microstructure, props: Properties,
                     network: Network) -> AdmittanceNetwork:
    """The AC parameters of ``network`` (built by :func:`netsolve.discretization.tpfa.build_network`)."""
    grid, materials = case.grid, case.materials
    ndim = grid.ndim
    area = grid.face_area_m2
    voxels = network.node_voxel
    phase = micro.phase.reshape(-1)[voxels]
    node_sigma = props.voxel_axis_sigma.reshape(-1, ndim)[voxels]
    eps_r = np.where(phase == Phase.BACKBONE, materials.eps_r_backbone, materials.eps_r_bulk)
    coupling = np.zeros((len(voxels), ndim))
    sigma_z = np.zeros(len(voxels))
    if ndim == 2 and materials.conductivity_model == "tensor":
        coupling, sigma_z = _film_terms(micro, materials, voxels, phase)

    t_gb = materials.gb_thickness_m
    gb_r = network.link_gb_resistance
    gb_c = np.where(gb_r > 0, epsilon_0 * materials.eps_r_gb * area / t_gb if t_gb > 0 else 0.0,
                    0.0)
    link_length = 0.5 * grid.voxel_size_m if materials.electrode_link == "half_voxel" \
        else grid.voxel_size_m
    e_id = network.electrode_link_electrode
    asr = np.array([e.asr_ohm_m2 for e in case.electrodes])[e_id]
    dl = np.array([e.double_layer_F_per_m2 for e in case.electrodes])[e_id]
    return AdmittanceNetwork(
        network=network, node_sigma=node_sigma, node_eps=epsilon_0 * eps_r,
        node_film_coupling=coupling, node_film_sigma_z=sigma_z,
        half_factor=area / (0.5 * grid.voxel_size_m), link_gb_resistance=gb_r,
        link_gb_capacitance=gb_c, electrode_bulk_factor=area / link_length,
        electrode_contact_resistance=asr / area,
        electrode_contact_capacitance=np.where(asr > 0, dl * area, 0.0))


def _film_terms(micro: Microstructure, materials, voxels: np.ndarray, phase: np.ndarray):
    """k_a = S3_az^2 / S3_zz (n, 2) and S3_zz (n,) of the grain voxels among ``voxels``."""
    grains = phase == Phase.GRAIN
    c_axis = np.zeros((len(voxels), 3))
    c_axis[:, 2] = 1.0
    c_axis[grains] = micro.orientations.c_axis[micro.grain_index.reshape(-1)[voxels[grains]]]
    if micro.voxel_c_axis is not None:
        own = micro.voxel_c_axis.reshape(-1, 3)[voxels]
        mine = grains & np.isfinite(own[:, 0])
        c_axis[mine] = own[mine]
    # the entries of crystal_tensor (netsolve.properties) that the film terms need, without
    # the (n, 3, 3) array: S3 = sigma_ip I + (sigma_op - sigma_ip) c c^T
    contrast = materials.sigma_op - materials.sigma_ip
    sigma_z = np.where(grains, materials.sigma_ip + contrast * c_axis[:, 2] ** 2, 0.0)
    s_az = contrast * c_axis[:, :2] * c_axis[:, 2:3]
    coupling = np.zeros((len(voxels), 2))
    coupling[grains] = s_az[grains] ** 2 / sigma_z[grains, None]
    return coupling, sigma_z

"""Conductivity models and orientation conventions (model.md sections 2-3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netsolve.orientation import (bunge_matrix, c_axis_from_euler, c_axis_from_theta_alpha,
                                  canonical_c_axis, theta_alpha_from_c)
from netsolve.properties import crystal_tensor, ding2023_axis_sigma, thin_film_tensor

IP, OP = 1.0, 1e-3
unit_vectors = st.tuples(*[st.floats(-1, 1) for _ in range(3)]).filter(
    lambda v: 0.2 < np.linalg.norm(v))


def test_tensor_c_along_z_is_isotropic_in_plane():
    s2 = thin_film_tensor(crystal_tensor(np.array([[0.0, 0, 1]]), IP, OP))
    assert np.allclose(s2[0], IP * np.eye(2), rtol=1e-14)


def test_tensor_c_in_plane():
    s2 = thin_film_tensor(crystal_tensor(np.array([[1.0, 0, 0]]), IP, OP))
    assert np.allclose(s2[0], np.diag([OP, IP]), rtol=1e-14)
    c45 = np.array([[1.0, 1.0, 0]]) / np.sqrt(2)
    s2 = thin_film_tensor(crystal_tensor(c45, IP, OP))[0]
    assert s2[0, 0] == pytest.approx((IP + OP) / 2)
    assert s2[0, 1] == pytest.approx((OP - IP) / 2)


@given(unit_vectors)
@settings(max_examples=60, deadline=None)
def test_schur_complement_is_inverse_of_resistivity_block(c):
    # J_z = 0 means the film's in-plane resistivity is the xy block of the 3D resistivity.
    c = canonical_c_axis(np.array([c]))
    s3 = crystal_tensor(c, IP, OP)
    s2 = thin_film_tensor(s3)[0]
    rho_block = np.linalg.inv(s3[0])[:2, :2]
    assert np.allclose(np.linalg.inv(s2), rho_block, rtol=1e-8)
    eig = np.linalg.eigvalsh(s2)
    assert OP * (1 - 1e-12) <= eig.min() and eig.max() <= IP * (1 + 1e-12)


def test_ding2023_equation_4_1_values():
    deg = np.radians
    theta = deg(np.array([0.0, 45.0, 90.0, 0.0, 30.0]))
    alpha = deg(np.array([0.0, 0.0, 90.0, 90.0, 60.0]))
    s = ding2023_axis_sigma(theta, alpha, IP, OP)
    assert np.allclose(s[0], [IP, IP])
    assert np.allclose(s[1], [np.sqrt(2) * IP, np.sqrt(2) * IP])  # not a tensor projection
    assert np.allclose(s[2], [OP, IP])
    assert np.allclose(s[3], [IP, OP])
    # theta = 30, alpha = 60, by hand: sin30 = 1/2, cos30 = sqrt3/2, sin60 = sqrt3/2, cos60 = 1/2
    sx = OP * (np.sqrt(3) / 2) * 0.5 + IP * (np.sqrt(3) / 2 + 0.5 * 0.5)
    sy = IP * (0.5 + 0.5 * np.sqrt(3) / 2) + OP * (np.sqrt(3) / 2) * (np.sqrt(3) / 2)
    assert np.allclose(s[4], [sx, sy], rtol=1e-14)


def test_bunge_matrix_is_rotation_and_c_axis_is_third_row():
    rng = np.random.default_rng(1)
    euler = rng.random((50, 3)) * [2 * np.pi, np.pi, 2 * np.pi]
    g = bunge_matrix(euler)
    assert np.allclose(g @ np.swapaxes(g, 1, 2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(g), 1.0)
    # g maps the sample-frame c-axis onto the crystal z axis.
    c = c_axis_from_euler(euler)
    assert np.allclose(np.abs(np.einsum("nij,nj->ni", g, c)[:, 2]), 1.0)


def test_euler_examples():
    # Phi = 90, phi1 = 0: c along -y (canonical: +y); Phi = 0: c along z.
    assert np.allclose(c_axis_from_euler(np.radians([0.0, 90.0, 0.0])), [0, 1, 0], atol=1e-15)
    assert np.allclose(c_axis_from_euler(np.radians([37.0, 0.0, 12.0])), [0, 0, 1])
    # Bunge phi1 is the paper's theta and Phi its alpha.
    theta, alpha = theta_alpha_from_c(c_axis_from_euler(np.radians([30.0, 60.0, 5.0])))
    assert np.degrees(theta) == pytest.approx(30.0)
    assert np.degrees(alpha) == pytest.approx(60.0)


@given(st.floats(0, 179.9), st.floats(0.5, 90))
@settings(max_examples=60, deadline=None)
def test_theta_alpha_round_trip(theta_deg, alpha_deg):
    c = c_axis_from_theta_alpha(np.radians(theta_deg), np.radians(alpha_deg))
    theta, alpha = theta_alpha_from_c(c)
    assert np.degrees(alpha) == pytest.approx(alpha_deg, abs=1e-9)
    diff = (np.degrees(theta) - theta_deg + 90) % 180 - 90
    assert diff == pytest.approx(0.0, abs=1e-7)


def test_theta_is_the_trace_of_the_conduction_plane():
    # c along x: planes are the yz planes, trace on the surface along y -> theta = 90.
    theta, alpha = theta_alpha_from_c(np.array([1.0, 0, 0]))
    assert np.degrees(theta) == pytest.approx(90.0)
    assert np.degrees(alpha) == pytest.approx(90.0)

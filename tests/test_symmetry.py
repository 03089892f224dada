"""Misorientations with the trigonal (-3m) crystal symmetry."""

from __future__ import annotations

import numpy as np
import pytest

from netsolve.orientation import bunge_matrix
from netsolve.symmetry import TRIGONAL_32, _rotation, axis_rotation, misorientation_angle


def test_group_is_closed_and_proper():
    ops = TRIGONAL_32
    assert np.allclose(np.linalg.det(ops), 1.0)
    products = np.einsum("aij,bjk->abik", ops, ops).reshape(-1, 3, 3)
    for p in products:  # every product is again an element of the group
        assert np.min(np.abs(ops - p).reshape(6, -1).max(axis=1)) < 1e-12


def test_symmetry_related_orientations_have_zero_misorientation():
    g = bunge_matrix(np.radians([[10.0, 40.0, 70.0]]))[0]
    for s in TRIGONAL_32:
        assert misorientation_angle(g, s @ g) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("axis,angle,expected", [
    ([0, 0, 1], 30.0, 30.0),   # about c: 120-degree symmetry folds angles to [0, 60]
    ([0, 0, 1], 100.0, 20.0),
    ([1, 0, 0], 90.0, 90.0),   # about a: 180-degree symmetry
    ([1, 0, 0], 150.0, 30.0),
    ([0, 1, 0], 40.0, 40.0),
])
def test_known_misorientations(axis, angle, expected):
    g_a = bunge_matrix(np.radians([25.0, 35.0, 45.0]))
    g_b = _rotation(axis, np.radians(angle)) @ g_a  # a rotation in the crystal frame
    assert np.degrees(misorientation_angle(g_a, g_b)) == pytest.approx(expected, abs=1e-9)


def test_vectorized_and_symmetric_in_its_arguments():
    rng = np.random.default_rng(3)
    g_a = bunge_matrix(rng.random((40, 3)) * [2 * np.pi, np.pi, 2 * np.pi])
    g_b = bunge_matrix(rng.random((40, 3)) * [2 * np.pi, np.pi, 2 * np.pi])
    ab, ba = misorientation_angle(g_a, g_b), misorientation_angle(g_b, g_a)
    assert ab.shape == (40,)
    assert np.allclose(ab, ba, atol=1e-9)
    assert np.all(ab <= np.radians(104.5))  # no -3m misorientation exceeds ~104.5 degrees
    nan = np.full((3, 3), np.nan)
    assert np.isnan(misorientation_angle(nan, g_b[0]))


# --- the Laue classes of orientation maps (through orix) ---------------------------------------

LAUE = {"Ci": ("-1", 1), "C2h": ("2/m", 2), "D2h": ("mmm", 4), "C4h": ("4/m", 4),
        "D4h": ("4/mmm", 8), "S6": ("-3", 3), "D3d": ("-3m", 6), "C6h": ("6/m", 6),
        "D6h": ("6/mmm", 12), "Th": ("m-3", 12), "Oh": ("m-3m", 24)}


@pytest.mark.parametrize("group", sorted(LAUE))
def test_crystal_symmetry_of_every_laue_class_is_a_proper_group(group):
    symmetry = pytest.importorskip("orix.quaternion.symmetry")
    from netsolve.symmetry import crystal_symmetry

    laue, order = LAUE[group]
    sym = crystal_symmetry(getattr(symmetry, group))
    ops = sym.rotations
    assert sym.laue == laue and ops.shape == (order, 3, 3)
    assert np.allclose(np.linalg.det(ops), 1.0) and np.allclose(ops @ ops.transpose(0, 2, 1),
                                                                 np.eye(3))
    products = np.einsum("aij,bjk->abik", ops, ops).reshape(-1, 1, 9)
    assert (np.abs(products - ops.reshape(1, -1, 9)).max(axis=2).min(axis=1) < 1e-12).all()
    assert sym.conduction == {"m-3": "isotropic", "m-3m": "isotropic", "4/m": "uniaxial",
                              "4/mmm": "uniaxial", "-3": "uniaxial", "-3m": "uniaxial",
                              "6/m": "uniaxial", "6/mmm": "uniaxial"}.get(laue, "biaxial")


def test_orix_trigonal_group_is_netsolves():
    symmetry = pytest.importorskip("orix.quaternion.symmetry")
    from netsolve.symmetry import crystal_symmetry

    ops = crystal_symmetry(symmetry.D3d).rotations
    distance = np.abs(ops[:, None] - TRIGONAL_32[None]).max(axis=(2, 3))
    assert distance.min(axis=0).max() < 1e-12 and distance.min(axis=1).max() < 1e-12


@pytest.mark.parametrize("group", sorted(LAUE))
def test_misorientation_equals_orix(group):
    pytest.importorskip("orix")
    from orix.quaternion import Orientation
    from orix.quaternion import symmetry

    from netsolve.symmetry import crystal_symmetry

    point_group = getattr(symmetry, group)
    rng = np.random.default_rng(7)
    g_a = bunge_matrix(rng.random((200, 3)) * [2 * np.pi, np.pi, 2 * np.pi])
    g_b = bunge_matrix(rng.random((200, 3)) * [2 * np.pi, np.pi, 2 * np.pi])
    ours = misorientation_angle(g_a, g_b, crystal_symmetry(point_group).rotations)
    theirs = Orientation.from_matrix(g_a, point_group).angle_with(
        Orientation.from_matrix(g_b, point_group))
    np.testing.assert_allclose(ours, theirs, atol=1e-9)


def test_quaternions_are_the_matrices():
    from netsolve.symmetry import (BETA_ALUMINA, matrix_from_quaternion, misorientation_below,
                                   quaternion_from_euler, quaternion_from_matrix,
                                   quaternion_multiply)

    rng = np.random.default_rng(11)
    euler = rng.random((300, 3)) * [2 * np.pi, np.pi, 2 * np.pi]
    q, g = quaternion_from_euler(euler), bunge_matrix(euler)
    np.testing.assert_allclose(matrix_from_quaternion(q), g, atol=1e-14)
    np.testing.assert_allclose(np.abs((quaternion_from_matrix(g) * q).sum(axis=1)), 1.0,
                               atol=1e-14)  # the same rotation (q and -q)
    np.testing.assert_allclose(matrix_from_quaternion(quaternion_multiply(q[:150], q[150:])),
                               g[:150] @ g[150:], atol=1e-14)
    # Pairs near the threshold: a small rotation of b, some of them after a symmetry operator.
    angle = np.radians(rng.uniform(0.0, 10.0, 150))
    turn = np.stack([axis_rotation(a, w) for a, w in zip(rng.normal(size=(150, 3)), angle)])
    g_b = TRIGONAL_32[rng.integers(0, 6, 150)] @ turn @ g[:150]
    expected = misorientation_angle(g[:150], g_b) < np.radians(5.0)
    assert 0 < expected.sum() < 150
    np.testing.assert_array_equal(
        misorientation_below(q[:150], quaternion_from_matrix(g_b), BETA_ALUMINA.quaternions,
                             np.radians(5.0)), expected)


@pytest.mark.parametrize("group", sorted(LAUE))
def test_laue_symmetry_by_name(group):
    symmetry = pytest.importorskip("orix.quaternion.symmetry")
    from netsolve.symmetry import crystal_symmetry, laue_symmetry

    expected = crystal_symmetry(getattr(symmetry, group))
    got = laue_symmetry(LAUE[group][0])
    assert (got.laue, got.system) == (expected.laue, expected.system)
    np.testing.assert_allclose(got.rotations, expected.rotations, atol=1e-12)

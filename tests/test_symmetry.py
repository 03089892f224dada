"""Misorientations with the trigonal (-3m) crystal symmetry."""

from __future__ import annotations

import numpy as np
import pytest

from netsolve.orientation import bunge_matrix
from netsolve.symmetry import TRIGONAL_32, _rotation, misorientation_angle


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

"""The synthetic `voronoi` source: grain count or size, textures, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest

import netsolve
from netsolve.microstructure import build_microstructure
from netsolve.sources.voronoi import fibre_orientations
from conftest import base_case


def voronoi_case(tmp_path, shape=(60, 40), **options):
    data = base_case(shape, model="tensor")
    data["microstructure"] = {"source": "voronoi", "seed": 4, **options}
    return netsolve.case_from_dict(data, base_dir=tmp_path)


def test_same_seed_same_microstructure(tmp_path):
    a = build_microstructure(voronoi_case(tmp_path, n_grains=15))
    b = build_microstructure(voronoi_case(tmp_path, n_grains=15))
    assert np.array_equal(a.labels, b.labels)
    assert np.array_equal(a.orientations.euler_rad, b.orientations.euler_rad)
    c = build_microstructure(voronoi_case(tmp_path, n_grains=15, seed=5))
    assert not np.array_equal(a.labels, c.labels)


def test_mean_grain_size_sets_the_grain_count(tmp_path):
    # 60 x 40 voxels of 10 nm = 600 nm x 400 nm; 100 nm grains -> 24 seeds.
    micro = build_microstructure(voronoi_case(tmp_path, mean_grain_size_nm=100.0))
    assert len(micro.orientations) == 24
    assert len(np.unique(micro.labels)) <= 24


def test_fibre_texture_concentrates_c_axes():
    rng = np.random.default_rng(0)
    ori = fibre_orientations(np.arange(1, 2001), (0.0, 1.0, 0.0), np.radians(5.0), rng)
    tilt = np.degrees(np.arccos(np.abs(ori.c_axis[:, 1])))
    # A tangent-plane Gaussian of sigma per direction: the tilt is Rayleigh(sigma), mean
    # sigma * sqrt(pi/2).
    assert tilt.mean() == pytest.approx(5.0 * np.sqrt(np.pi / 2), rel=0.05)
    sharp = fibre_orientations(np.arange(1, 11), (1.0, 1.0, 0.0), 0.0, rng)
    assert np.allclose(np.abs(sharp.c_axis @ np.array([1, 1, 0]) / np.sqrt(2)), 1.0)


def test_texture_does_not_change_the_grains(tmp_path):
    random = build_microstructure(voronoi_case(tmp_path, n_grains=10))
    fibre = build_microstructure(voronoi_case(tmp_path, n_grains=10, texture="fibre",
                                              fibre_axis=[0, 0, 1], fibre_spread_deg=2.0))
    assert np.array_equal(random.labels, fibre.labels)
    assert np.all(fibre.orientations.alpha_rad < np.radians(15))


@pytest.mark.parametrize("options,words", [
    ({"n_grains": 5, "mean_grain_size_nm": 50.0}, ["exactly one of n_grains"]),
    ({}, ["exactly one of n_grains"]),
    ({"n_grains": 5, "texture": "fiber"}, ["texture", "fibre"]),
    ({"n_grains": 5, "texture": "fibre", "fibre_axis": [0, 0, 0]}, ["fibre_axis"]),
])
def test_bad_voronoi_options(tmp_path, options, words):
    with pytest.raises(netsolve.CaseError) as err:
        voronoi_case(tmp_path, **options)
    for word in words:
        assert word in str(err.value)

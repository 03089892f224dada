"""Shared helpers: small cases built as dicts (the parsed form of a case file)."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

import netsolve


@pytest.fixture(autouse=True)
def two_point_default(request, monkeypatch):
    """In-process tests written against the two-point scheme keep running it when a case does
    not name a discretization; the case-file default (``mixed`` for the tensor model) is tested
    by the tests marked ``case_default`` (and by every CLI subprocess test)."""
    if request.node.get_closest_marker("case_default") is None:
        import netsolve.case

        monkeypatch.setattr(netsolve.case, "default_discretization", lambda model: "tpfa")

H_NM = 10.0  # voxel size used by the helpers
H = H_NM * 1e-9


def base_case(shape=(12, 6), model="isotropic", **materials) -> dict:
    """A uniform sample between a 'source' (left, 1 V) and a 'sink' (right, 0 V)."""
    mats = {"sigma_ip_S_per_m": 2.0, "conductivity_model": model}
    mats.update(materials)
    return {
        "grid": {"shape": list(shape), "voxel_size_nm": H_NM},
        "microstructure": {"source": "uniform"},
        "materials": mats,
        "electrodes": [
            {"name": "source", "region": "left", "potential_V": 1.0},
            {"name": "sink", "region": "right", "potential_V": 0.0},
        ],
        "solver": {"method": "direct", "discretization": "tpfa"},
    }


def with_labels(data: dict, labels: np.ndarray, tmp_path, phases=None, grains=None) -> dict:
    """Replace the microstructure by a label array saved under tmp_path."""
    data = copy.deepcopy(data)
    path = tmp_path / f"labels_{abs(hash(labels.tobytes())) % 10**8}.npy"
    np.save(path, labels.astype(np.int32))
    data["microstructure"] = {"source": "labels", "path": str(path)}
    if phases:
        data["microstructure"]["phases"] = phases
    if grains is not None:
        data["grains"] = grains
    return data


def solve_dict(data: dict, tmp_path=None):
    case = netsolve.case_from_dict(data, base_dir=tmp_path or ".")
    return netsolve.solve(case)


@pytest.fixture
def solve(tmp_path):
    return lambda data: solve_dict(data, tmp_path)


def bicrystal_toml(potential_V: float = 1.0) -> str:
    """The shipped bicrystal case (label path made absolute) with the source at
    ``potential_V``, writing only the core files and the tables (quick to write)."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "cases" / "bicrystal.toml").read_text()
    assert "potential_V = 1.0" in text and 'path = "../microstructures' in text
    text = text.replace('path = "../microstructures', f'path = "{root}/microstructures')
    return (text.replace("potential_V = 1.0", f"potential_V = {potential_V}")
            + '\n[output]\nfigures = false\nformats = ["csv"]\n')

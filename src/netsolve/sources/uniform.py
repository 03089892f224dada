"""``source = "uniform"``: every voxel is grain 1 (orientation from ``[[grains]]`` id 1)."""

from __future__ import annotations

import numpy as np


def read_options(t, base_dir, grid) -> dict:
    return {}


def load(options: dict, case):
    from . import SourceMap

    return SourceMap(np.ones(case.grid.shape, dtype=np.int32))

"""Microstructure sources: where a case's label map (and possibly orientations) come from.

One module per ``[microstructure] source``. Each provides

- ``read_options(t: Table, base_dir: Path, grid: Grid) -> dict``: read and check the keys of
  ``[microstructure]`` that belong to this source (paths resolved against ``base_dir``);
- ``load(options: dict, case: Case) -> SourceMap``: build the label map.

Label convention for every source: values > 0 are grain ids, values <= 0 are phases or
electrode voxels. ``[[grains]]`` entries of the case override orientations a source supplies.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

from ..case import PHASE_NAMES
from ..orientation import GrainOrientations
from ..symmetry import CrystalSymmetry


@dataclass(frozen=True)
class SourceMap:
    """What a source produced: ``labels`` (int32, grid shape); ``orientations`` for grains the
    source knows the orientation of (None: all come from [[grains]]); ``phases`` = phase label
    values the source itself introduced (e.g. generated ZrO2 particles); ``voxel_c_axis``
    (grid shape + (3,), NaN where none) per-voxel c-axes of grain voxels, for sources asked for
    per-voxel orientations (see ``Microstructure.voxel_c_axis``); ``symmetry`` the conducting
    crystal's symmetry when the source knows it (None: Na-beta''-alumina, -3m); ``report`` what
    the source did, JSON-ready (summary.json)."""

    labels: np.ndarray
    orientations: GrainOrientations | None = None
    phases: dict[str, int] = field(default_factory=dict)
    voxel_c_axis: np.ndarray | None = None
    symmetry: CrystalSymmetry | None = None
    report: dict = field(default_factory=dict)


class _Sources(Mapping):
    """Source name -> its module, imported on first use: a case reads only its own source's
    dependencies (the orientation-map readers and the Voronoi / polygon geometry together
    cost about 0.5 s of imports that a label-map case does not need)."""

    NAMES = ("uniform", "labels", "voronoi", "image", "polygons", "ebsd")

    def __getitem__(self, name: str) -> ModuleType:
        if name not in self.NAMES:
            raise KeyError(name)
        return importlib.import_module(f"{__name__}.{name}")

    def __iter__(self):
        return iter(self.NAMES)

    def __len__(self) -> int:
        return len(self.NAMES)


SOURCES = _Sources()


def phase_values(names, declared: dict[str, int], avoid=()) -> dict[str, int]:
    """Label values of the phases ``names`` (canonical names): the declared value, else a new
    value below every declared value, every value in ``avoid`` and 0 (-1, -2, ... in the order
    zro2, backbone, void). Shared by the sources and the ``[[microstructure.regions]]``."""
    values = {}
    lowest = min([0, *declared.values(), *avoid])
    for name in sorted(names, key=PHASE_NAMES.index):
        if name in declared:
            values[name] = declared[name]
        else:
            lowest -= 1
            values[name] = lowest
    return values

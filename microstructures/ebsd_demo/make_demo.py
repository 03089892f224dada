"""Regenerate demo.ang: a synthetic orientation map for ``source = "ebsd"`` (not measured data).

80 x 60 pixels of 25 nm (2 x 1.5 um), 7 Voronoi cells with random orientations plus 0.1 degree
of pixel noise. Cell 1 and its lowest-numbered neighbour are related by a -3m symmetry
operation (180 degrees about the a axis): they are one crystal and segment into one grain, so
the map has 6 grains.
About 2 % of the pixels have a low confidence index (0.05) and a 4 x 3 patch is not indexed
(CI = -1). Run from anywhere:
    python microstructures/ebsd_demo/make_demo.py
"""

from pathlib import Path

import numpy as np

from netsolve.orientation import bunge_matrix, euler_from_matrix, random_orientations
from netsolve.sources.ebsd import face_pairs, write_ang
from netsolve.sources.voronoi import voronoi_labels
from netsolve.symmetry import TRIGONAL_32

HERE = Path(__file__).resolve().parent
SHAPE = (80, 60)  # grid order: x, y
STEP_NM = 25.0
N_CELLS = 7

rng = np.random.default_rng(2024)
labels = voronoi_labels(SHAPE, N_CELLS, rng)
euler = random_orientations(np.arange(1, N_CELLS + 1), rng).euler_rad
# Cell 1's lowest-numbered neighbour gets cell 1's orientation after a 2-fold rotation about a.
flat = labels.ravel()
neighbours = set()
for lo, hi in face_pairs(SHAPE):
    a, b = flat[lo], flat[hi]
    neighbours |= set(b[a == 1].tolist()) | set(a[b == 1].tolist())
partner = min(neighbours - {1})
euler[partner - 1] = euler_from_matrix(TRIGONAL_32[3] @ bunge_matrix(euler[0]))

pixels = euler[labels - 1] + rng.normal(0.0, np.radians(0.1 / np.sqrt(3)), SHAPE + (3,))
ci = np.where(rng.random(SHAPE) < 0.02, 0.05, rng.uniform(0.3, 0.9, SHAPE))
ci[30:34, 20:23] = -1.0  # not indexed

# Grid order [x, y] (y up) -> image order [row, column] (row 0 at the top).
to_image = lambda a: np.swapaxes(a[:, ::-1], 0, 1)  # noqa: E731
write_ang(HERE / "demo.ang", to_image(pixels), STEP_NM, ci=to_image(ci), sample="ebsd_demo")
print(f"wrote {HERE / 'demo.ang'}")

"""A 2:1-balanced quadtree of sub-voxels over the conducting voxels of a 2D map.

Every leaf is a square inside one voxel of the user's map (its *root voxel*) and inherits that
voxel's material: the voxel map stays the geometry, so refinement never changes the exact
answer of the voxelized problem, only how well it is approximated. Coordinates are integers on
the finest possible grid, ``FINE = 2**MAX_LEVEL`` steps per voxel; a leaf of level l has the
side ``FINE >> l``. Neighbouring leaves differ by at most one level across every edge
(2:1 balance), so an edge of a leaf meets one leaf of the same or the next coarser level, or
two leaves of the next finer level.

Everything is vectorized over leaves; the loops run over the 4 sides and the levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

MAX_LEVEL = 12
FINE = 1 << MAX_LEVEL
# side index 2 * axis + (side > 0): x-, x+, y-, y+
SIDE_AXIS = np.array([0, 0, 1, 1])
SIDE_SIGN = np.array([-1, 1, -1, 1])


@dataclass(frozen=True)
class Quadtree:
    """Leaves over the conducting voxels of a ``shape`` grid (2D).

    ``level`` (n,) int8; ``x0``, ``y0`` (n,) int64 lower-left corner in fine units; sorted by
    ``key`` (unique per leaf)."""

    shape: tuple[int, int]
    level: np.ndarray
    x0: np.ndarray
    y0: np.ndarray

    @property
    def n_leaves(self) -> int:
        return len(self.level)

    @property
    def size(self) -> np.ndarray:
        """Side of every leaf in fine units."""
        return FINE >> self.level.astype(np.int64)

    @property
    def root_voxel(self) -> np.ndarray:
        """Flat index of every leaf's voxel in the user's grid (C order)."""
        return (self.x0 >> MAX_LEVEL) * self.shape[1] + (self.y0 >> MAX_LEVEL)

    @property
    def key(self) -> np.ndarray:
        return leaf_key(self.level, self.x0, self.y0)

    def covering_leaf(self, px: np.ndarray, py: np.ndarray,
                      near_level: np.ndarray | None = None) -> np.ndarray:
        """Index of the leaf that contains the fine cell with lower-left corner (px, py), -1
        where no leaf does (outside the grid, or a voxel that does not conduct).

        ``near_level``: the level to try first for each point (a neighbour's level is usually
        within one of the asking leaf's); the other levels are searched only for the points
        still unresolved, each in the sorted keys of that level alone."""
        out = np.full(len(px), -1, dtype=np.int64)
        pending = np.flatnonzero((px >= 0) & (py >= 0) & (px < self.shape[0] * FINE)
                                 & (py < self.shape[1] * FINE))
        levels = list(self._keys_by_level)
        order = [(lev, None) for lev in levels]
        if near_level is not None:
            order = [(None, delta) for delta in (0, -1, 1)] + order
        for lev, delta in order:
            if not len(pending):
                break
            if lev is None:  # try near_level + delta for the pending points, level by level
                wanted = near_level[pending] + delta
                for lv in np.unique(wanted):
                    if int(lv) not in self._keys_by_level:
                        continue
                    points = pending[wanted == lv]
                    out[points] = self._find_at_level(int(lv), px[points], py[points])
            else:
                out[pending] = np.where(out[pending] >= 0, out[pending],
                                        self._find_at_level(lev, px[pending], py[pending]))
            pending = pending[out[pending] < 0]
        return out

    def _find_at_level(self, level: int, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        keys, index = self._keys_by_level[level]
        shift = MAX_LEVEL - level
        want = leaf_key(np.full(len(px), level, dtype=np.int8), (px >> shift) << shift,
                        (py >> shift) << shift)
        pos = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
        return np.where(keys[pos] == want, index[pos], -1)

    @cached_property
    def _keys_by_level(self) -> dict:
        """level -> (sorted keys of its leaves, their leaf indices)."""
        keys = self.key
        out = {}
        for lev in np.unique(self.level):
            idx = np.flatnonzero(self.level == lev)
            out[int(lev)] = (keys[idx], idx)  # keys are sorted, so is every subset
        return out

    def neighbours(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        """The leaves across ``side`` of every leaf: (first, second), -1 where there is none;
        ``second >= 0`` only where the side meets two finer leaves (first: the lower half)."""
        return self._neighbour_table[side]

    @cached_property
    def _neighbour_table(self) -> tuple:
        return tuple(self._find_neighbours(side) for side in range(4))

    def _find_neighbours(self, side: int) -> tuple[np.ndarray, np.ndarray]:
        size = self.size
        axis, sign = SIDE_AXIS[side], SIDE_SIGN[side]
        x, y = self.x0.copy(), self.y0.copy()
        step = np.where(sign > 0, size, -1)
        if axis == 0:
            x = x + step
        else:
            y = y + step
        level = self.level.astype(np.int64)
        first = self.covering_leaf(x, y, level)
        half = size // 2
        finer = np.zeros(self.n_leaves, dtype=bool)
        has = first >= 0
        finer[has] = self.level[first[has]] > self.level[has]
        second = np.full(self.n_leaves, -1, dtype=np.int64)
        if finer.any():
            if axis == 0:
                second[finer] = self.covering_leaf(x[finer], y[finer] + half[finer],
                                                   level[finer] + 1)
            else:
                second[finer] = self.covering_leaf(x[finer] + half[finer], y[finer],
                                                   level[finer] + 1)
        return first, second


def leaf_key(level, x0, y0) -> np.ndarray:
    """One int64 per (level, x0, y0): sorts by x0, then y0, then level."""
    return ((np.asarray(x0, np.int64) << 31) | (np.asarray(y0, np.int64) << 5)
            | np.asarray(level, np.int64))


def root_tree(conducting: np.ndarray) -> Quadtree:
    """One leaf per conducting voxel (level 0)."""
    vx, vy = np.nonzero(conducting)
    return _sorted(conducting.shape, np.zeros(len(vx), dtype=np.int8), vx.astype(np.int64) << MAX_LEVEL,
                   vy.astype(np.int64) << MAX_LEVEL)


def _sorted(shape, level, x0, y0) -> Quadtree:
    order = np.argsort(leaf_key(level, x0, y0), kind="stable")
    return Quadtree(tuple(shape), level[order], x0[order], y0[order])


def refine(tree: Quadtree, marked: np.ndarray) -> Quadtree:
    """Split the marked leaves (bool per leaf) into 4 children, then split more leaves until the
    tree is 2:1 balanced across edges. Leaves at MAX_LEVEL are not split."""
    marked = marked & (tree.level < MAX_LEVEL)
    while marked.any():
        tree = _split(tree, marked)
        marked = _unbalanced(tree)
    return tree


def _split(tree: Quadtree, marked: np.ndarray) -> Quadtree:
    keep = ~marked
    half = tree.size[marked] // 2
    lev = tree.level[marked] + 1
    cx = np.concatenate([tree.x0[marked], tree.x0[marked] + half] * 2)
    cy = np.concatenate([tree.y0[marked]] * 2 + [tree.y0[marked] + half] * 2)
    return _sorted(tree.shape, np.concatenate([tree.level[keep], np.tile(lev, 4)]),
                   np.concatenate([tree.x0[keep], cx]), np.concatenate([tree.y0[keep], cy]))


def _unbalanced(tree: Quadtree) -> np.ndarray:
    """Leaves that must be split: some edge neighbour is two or more levels finer."""
    need = np.zeros(tree.n_leaves, dtype=bool)
    for side in range(4):
        first, _ = tree.neighbours(side)
        # a leaf of level l sees across its side a leaf at most one level coarser: if the
        # leaf there is coarser by 2+, that one must be split
        has = first >= 0
        coarse = has.copy()
        coarse[has] = tree.level[first[has]] < tree.level[has] - 1
        need[first[coarse]] = True
    return need


@dataclass(frozen=True)
class Segments:
    """The edge pieces between leaves: every leaf side is one segment, or two where it meets
    two finer leaves. ``axis``: normal axis; ``pos``: coordinate along it, ``start`` and
    ``length`` along the other axis (fine units). ``lower`` / ``upper``: the leaf below / above
    along the normal (-1: none). ``of_side[s]``: (n_leaves, 2) segments of each leaf's side s
    (second -1 when the side is one segment)."""

    axis: np.ndarray
    pos: np.ndarray
    start: np.ndarray
    length: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    of_side: tuple[np.ndarray, ...]

    @property
    def n(self) -> int:
        return len(self.axis)


def segments(tree: Quadtree) -> Segments:
    """All segments of the tree's leaf sides, each once."""
    size = tree.size
    rows = []  # (axis, pos, start, length, leaf, is_lower_side, side, half)
    for side in range(4):
        axis, sign = SIDE_AXIS[side], SIDE_SIGN[side]
        first, second = tree.neighbours(side)
        pos = (tree.x0 if axis == 0 else tree.y0) + np.where(sign > 0, size, 0)
        start = tree.y0 if axis == 0 else tree.x0
        split = second >= 0
        half = size // 2
        leaf = np.arange(tree.n_leaves)
        # whole sides, then the two halves of the split ones
        for part, s0, length in ((~split, start, size), (split, start, half),
                                 (split, start + half, half)):
            rows.append((np.full(int(part.sum()), axis), pos[part], s0[part], length[part],
                         leaf[part], np.full(int(part.sum()), sign > 0), np.full(int(part.sum()), side),
                         np.full(int(part.sum()), 0 if s0 is start else 1)))
    axis, pos, start, length, leaf, is_lower, side, part = (np.concatenate(c) for c in zip(*rows))
    key = ((axis.astype(np.int64) << 62) | (pos << 37) | (start << 12)
           | np.log2(length).astype(np.int64))
    unique, index = np.unique(key, return_inverse=True)
    n = len(unique)
    first_row = np.full(n, -1, dtype=np.int64)
    first_row[index[::-1]] = np.arange(len(index))[::-1]
    lower = np.full(n, -1, dtype=np.int64)
    upper = np.full(n, -1, dtype=np.int64)
    lower[index[is_lower]] = leaf[is_lower]
    upper[index[~is_lower]] = leaf[~is_lower]
    of_side = []
    for s in range(4):
        pieces = np.full((tree.n_leaves, 2), -1, dtype=np.int64)
        mine = side == s
        pieces[leaf[mine], part[mine]] = index[mine]
        of_side.append(pieces)
    return Segments(axis[first_row], pos[first_row], start[first_row], length[first_row], lower,
                    upper, tuple(of_side))

"""Grains from an orientation map: segmentation with the conducting phase's symmetry, filling
of bad pixels and small grains, merging of grains that filling made neighbours, grain means.

Orientations are unit quaternions (:mod:`netsolve.symmetry`), vectorized over pixels and
pixel pairs: orix's misorientation of 2 million pixel pairs with cubic symmetry takes about
7 s, the quaternion products here well under 1 s, and orix has no segmentation and no
per-grain mean over many grains at once. The symmetry operators come from orix
(:func:`netsolve.symmetry.crystal_symmetry`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ...symmetry import (BETA_ALUMINA, conjugate, matrix_from_quaternion, misorientation_below,
                         quaternion_multiply)

BETA_ALUMINA_Q = BETA_ALUMINA.quaternions


def face_pairs(shape: tuple[int, ...]):
    """(a, b) flat indices of face-neighbour voxel pairs, one array pair per axis."""
    index = np.arange(int(np.prod(shape))).reshape(shape)
    for axis in range(len(shape)):
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        yield index[tuple(lo)].ravel(), index[tuple(hi)].ravel()


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    graph = sp.coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph.tocsr(), directed=False)[1]


def segment_grains(q: np.ndarray, good: np.ndarray, threshold_rad: float,
                   symmetry_q: np.ndarray = BETA_ALUMINA_Q) -> np.ndarray:
    """Connected components of good pixels (orientations ``q``, grid shape + (4,)) joined
    across faces with misorientation (under the proper rotations ``symmetry_q`` of the
    crystal's Laue class) below the threshold. Returns int64 ids 1..n (by first pixel in C
    order) and 0 for bad pixels."""
    shape = good.shape
    n = good.size
    qf = q.reshape(n, 4)
    goodf = good.ravel()
    rows, cols = [], []
    for a, b in face_pairs(shape):
        keep = goodf[a] & goodf[b]
        a, b = a[keep], b[keep]
        close = misorientation_below(qf[a], qf[b], symmetry_q, threshold_rad)
        rows.append(a[close])
        cols.append(b[close])
    component = _components(n, np.concatenate(rows), np.concatenate(cols))
    # scipy numbers components in order of their lowest node: renumber the good ones 1..n
    _, ids = np.unique(component[goodf], return_inverse=True)
    out = np.zeros(n, dtype=np.int64)
    out[goodf] = ids + 1
    return out.reshape(shape)


def fill_from_neighbours(labels: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Give pixels with ``fill`` (and label 0) the label (> 0) shared by most of their face
    neighbours (ties: the smaller label), repeating until no pixel changes."""
    labels = labels.copy()
    shape = labels.shape
    flat = labels.reshape(-1)
    coords = np.indices(shape).reshape(len(shape), -1)
    strides = np.array([int(np.prod(shape[k + 1:])) for k in range(len(shape))])
    todo = np.flatnonzero(fill.ravel() & (flat == 0))
    while todo.size:
        neighbours = []
        for axis in range(len(shape)):  # 2 (or 3) axes, 2 sides each
            c = coords[axis, todo]
            for side, inside in ((-1, c > 0), (1, c < shape[axis] - 1)):
                j = np.where(inside, todo + side * strides[axis], 0)
                neighbours.append(np.where(inside, flat[j], 0))
        cand = np.stack(neighbours, axis=1)
        cand = np.where(cand > 0, cand, 0)
        votes = (cand[:, :, None] == cand[:, None, :]).sum(axis=2)
        votes[cand == 0] = 0
        big = int(cand.max()) + 1
        key = votes * big - cand
        key[votes == 0] = -1
        best = key.argmax(axis=1)
        winner = cand[np.arange(len(todo)), best]
        done = winner > 0
        if not done.any():
            break
        flat[todo[done]] = winner[done]
        todo = todo[~done]
    return flat.reshape(shape)


@dataclass(frozen=True)
class Grains:
    """The segmented map. ``labels``: grain ids 1..m (renumbered by first voxel, C order),
    ``-1 - k`` for pixels of fixed phase k (the ``fixed`` codes given to :func:`grains_of`);
    ``own``: the grain id on the pixels that define its orientation (its own segmented pixels,
    also of grains merged into it), 0 elsewhere; ``mean`` (m, 3, 3) grain mean orientations;
    counts of the steps."""

    labels: np.ndarray
    own: np.ndarray
    mean: np.ndarray
    n_segments: int
    n_small: int
    n_merged: int


def grains_of(q: np.ndarray, good: np.ndarray, fixed: np.ndarray, bad_fill: bool,
              threshold_rad: float, min_voxels: int,
              symmetry_q: np.ndarray = BETA_ALUMINA_Q) -> Grains:
    """Segment the good pixels, drop grains below ``min_voxels`` into their neighbours, fill
    the other pixels (``bad_fill``; else they keep ``fixed`` code 0 -> ``-1``, the caller's void)
    and merge neighbouring grains whose mean orientations are closer than the threshold.

    fixed: int (grid shape), k >= 1 for pixels of the k-th non-grain phase (they stay that
    phase and may fill their neighbours), 0 elsewhere. Bad pixels are the pixels neither good
    nor fixed. Filling: a pixel takes the label most of its face neighbours have (grains before
    phases on ties), repeated until all are filled; with ``bad_fill`` False bad pixels are not
    filled (labels -1) and small grains that touch no grain or phase stay grains.
    """
    segments = segment_grains(q, good, threshold_rad, symmetry_q)
    n = int(segments.max())
    sizes = np.bincount(segments.ravel(), minlength=n + 1)
    small = sizes < min_voxels
    small[0] = False
    work = np.where(small[segments], 0, segments)
    work = np.where(fixed > 0, n + fixed, work)  # phases after every grain: grains win ties
    bad = ~good & (fixed == 0)
    if bad_fill:
        to_fill = work == 0
    else:
        work[bad] = -1  # never a candidate, never filled
        to_fill = work == 0
    work = fill_from_neighbours(work, to_fill)
    stuck = to_fill & (work == 0)
    if stuck.any():
        if bad_fill:
            from ...errors import CaseError

            raise CaseError("no grain or phase pixel to fill the bad pixels from (every pixel "
                            "is bad or in a grain below min_grain_voxels)")
        work[stuck] = segments[stuck]  # small grains enclosed by bad pixels stay grains
    grain = (work >= 1) & (work <= n)
    lookup = _first_voxel_order(work, grain)
    labels = np.where(grain, lookup[np.where(grain, work, 0)],
                      np.where(work > n, -1 - (work - n), -1))  # phase k -> -1 - k, void -1
    # A grain's own pixels: its segmented pixels (a small grain left in place: all of them).
    own = lookup[np.where(good & grain & (work == segments), work, 0)]
    mean = mean_orientations(q[own > 0], own[own > 0] - 1, int(lookup.max()), symmetry_q)
    n_filled = len(mean)
    # Merging moves a grain's mean, which can bring it within the threshold of another
    # neighbour: repeat until no neighbours are that close (each round removes grains).
    while (merged := _merge_close_neighbours(labels, mean, threshold_rad, symmetry_q)) is not None:
        grain = labels > 0
        codes = np.where(grain, merged[np.maximum(labels, 0)] + 1, 0)
        lookup = _first_voxel_order(codes, grain)
        own = np.where(own > 0, lookup[merged[own] + 1], 0)
        labels = np.where(grain, lookup[codes], labels)
        mean = mean_orientations(q[own > 0], own[own > 0] - 1, int(lookup.max()), symmetry_q)
    return Grains(labels, own, matrix_from_quaternion(mean), n, int(small[1:].sum()),
                  n_filled - len(mean))


def _first_voxel_order(codes: np.ndarray, grain: np.ndarray) -> np.ndarray:
    """Lookup code -> grain id 1..m, numbered by each code's first voxel (C order), 0 for codes
    not on ``grain`` pixels."""
    flat = np.flatnonzero(grain.ravel())
    ids, first = np.unique(codes.ravel()[flat], return_index=True)  # flat ascends: first voxel
    rank = np.empty(len(ids), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(ids))
    lookup = np.zeros(int(codes.max(initial=0)) + 1, np.int64)
    lookup[ids] = rank + 1
    return lookup


def _merge_close_neighbours(labels: np.ndarray, mean: np.ndarray, threshold_rad: float,
                            symmetry_q: np.ndarray) -> np.ndarray | None:
    """Grain id -> merged id (index 0 unused) joining neighbouring grains whose mean
    orientations are closer than the threshold (two halves of a crystal that bad pixels had
    split become neighbours only by filling); None when nothing merges."""
    pairs = []
    flat = labels.ravel()
    for a, b in face_pairs(labels.shape):
        la, lb = flat[a], flat[b]
        keep = (la > 0) & (lb > 0) & (la != lb)
        pairs.append(np.stack([np.minimum(la[keep], lb[keep]), np.maximum(la[keep], lb[keep])]))
    pairs = np.unique(np.concatenate(pairs, axis=1), axis=1)
    if pairs.size == 0:
        return None
    close = misorientation_below(mean[pairs[0] - 1], mean[pairs[1] - 1], symmetry_q,
                                 threshold_rad)
    if not close.any():
        return None
    n = len(mean)
    component = _components(n + 1, pairs[0][close], pairs[1][close])
    return component  # labels are renumbered by first voxel afterwards


def mean_orientations(q: np.ndarray, grain: np.ndarray, n: int,
                      symmetry_q: np.ndarray = BETA_ALUMINA_Q, passes: int = 2) -> np.ndarray:
    """Mean orientations (n, 4) of pixels ``q`` (m, 4) of grains ``grain`` (0..n-1): each pixel
    taken as its symmetry equivalent (``symmetry_q``) closest to the grain's current estimate
    (first pixel, then the mean), on the estimate's side of the quaternion sphere, summed and
    normalized (the chordal mean)."""
    _, first = np.unique(grain, return_index=True)
    ref = q[first]
    member = sp.csr_matrix((np.ones(len(grain)), (grain, np.arange(len(grain)))),
                           shape=(n, len(grain)))
    for _ in range(passes):
        delta = quaternion_multiply(q, conjugate(ref[grain]))
        # Within 30 degrees of the estimate (|w| > cos 15 deg) no other equivalent is closer:
        # every non-identity operator turns by at least 60 degrees. Only the others search.
        scalar = delta[:, 0].copy()
        aligned = q.copy()
        far = np.flatnonzero(np.abs(scalar) <= np.cos(np.radians(15.0)))
        if far.size:
            all_s = delta[far] @ conjugate(symmetry_q).T  # w of s delta for every s
            best = np.abs(all_s).argmax(axis=1)
            scalar[far] = all_s[np.arange(far.size), best]
            aligned[far] = quaternion_multiply(symmetry_q[best], q[far])
        aligned[scalar < 0] *= -1.0  # the estimate's side of the quaternion sphere
        total = member @ aligned
        ref = total / np.linalg.norm(total, axis=1, keepdims=True)
    return ref

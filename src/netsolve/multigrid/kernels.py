"""Compiled (numba) kernels of the grid multigrid, on padded flat arrays.

Every per-voxel array of a level is flat (C order over the 3D grid (n0, n1, n2)) with ``pad``
zeros before and after it, so that neighbour reads at ``v +- stride`` never leave the array;
faces on the last layer of an axis are zero, so the reads that wrap to another row or plane
contribute nothing. Face conductances ``g0, g1, g2`` belong to the face between voxel ``v`` and
its + neighbour along axes 0, 1, 2 (strides n1*n2, n2, 1). Axis 0 is skipped when n0 == 1 (2D).

The kernels are serial: on the shared 2-core machine a second thread (numba ``prange``, OpenMP)
made a sweep about 250x slower whenever the other core was busy (measured, docs/performance.md).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64 as U

# Indices are unsigned in the hot loops: numba wraps negative indices around (a compare and
# select per array read) unless it can prove them >= 0, which it cannot for ``v - stride``;
# with unsigned indices the point sweep ran 2x faster (docs/performance.md). The padding keeps
# every ``v - stride`` of an interior voxel >= 0. Unsigned and signed integers must not mix
# in an index (numba makes float64 of them), hence U() around every signed term.
ONE = U(1)

# fastmath without "nnan"/"ninf": reassociation and contraction only change rounding (the
# smoother runs in float32 anyway), while NaN and Inf still propagate to the checks;
# error_model numpy: no zero-division checks in the inner loops.
KERNEL_OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy",
                  "fastmath": {"reassoc", "contract", "arcp", "nsz"}}


@njit(**KERNEL_OPTIONS)
def point_sweep(x, b, g0, g1, g2, inv_diag, n0, n1, n2, pad, colour):
    """Gauss-Seidel on the voxels of one colour ((i + j + k) % 2 == colour): exact solves."""
    s0, s1 = U(n1 * n2), U(n2)
    for ij in range(n0 * n1):
        i = ij // n1
        j = ij - i * n1
        base = U(pad + ij * n2)
        first = (i + j + colour) % 2
        if n0 > 1:
            for k in range(first, n2, 2):
                v = base + U(k)
                x[v] = (b[v] + g2[v - ONE] * x[v - ONE] + g2[v] * x[v + ONE]
                        + g1[v - s1] * x[v - s1] + g1[v] * x[v + s1]
                        + g0[v - s0] * x[v - s0] + g0[v] * x[v + s0]) * inv_diag[v]
        else:
            for k in range(first, n2, 2):
                v = base + U(k)
                x[v] = (b[v] + g2[v - ONE] * x[v - ONE] + g2[v] * x[v + ONE]
                        + g1[v - s1] * x[v - s1] + g1[v] * x[v + s1]) * inv_diag[v]


@njit(**KERNEL_OPTIONS)
def line_sweep_last(x, b, g0, g1, g2, inv_pivot, n0, n1, n2, pad, colour):
    """Exact solves along the grid lines of axis 2 whose (i + j) % 2 == colour (Thomas
    algorithm with the pivots of :func:`line_pivots`)."""
    s0, s1 = U(n1 * n2), U(n2)
    for ij in range(n0 * n1):
        i = ij // n1
        j = ij - i * n1
        if (i + j) % 2 != colour:
            continue
        base = U(pad + ij * n2)
        previous = 0.0
        for k in range(n2):
            v = base + U(k)
            s = b[v] + g1[v - s1] * x[v - s1] + g1[v] * x[v + s1] \
                + g2[v - ONE] * inv_pivot[v - ONE] * previous
            if n0 > 1:
                s += g0[v - s0] * x[v - s0] + g0[v] * x[v + s0]
            x[v] = s
            previous = s
        following = 0.0
        for k in range(n2 - 1, -1, -1):
            v = base + U(k)
            following = (x[v] + g2[v] * following) * inv_pivot[v]
            x[v] = following


@njit(inline="always", **KERNEL_OPTIONS)
def _line_row(axis, pad, o, t, m, n1, n2):
    """First voxel of the grid row holding element t of the lines (o, m) along axis 0 or 1."""
    return U(pad + (o * n1 + t) * n2 if axis == 1 else pad + (t * n1 + m) * n2)


@njit(**KERNEL_OPTIONS)
def line_sweep_strided(x, b, g0, g1, g2, inv_pivot, n0, n1, n2, pad, axis, colour):
    """Exact solves along the grid lines of axis 0 or 1 of one colour (parity of the other two
    indices), all lines of a plane at once: the inner loop runs along the contiguous axis 2."""
    s0, s1 = U(n1 * n2), U(n2)
    if axis == 1:
        g_line, stride, length, outer, middle = g1, s1, n1, n0, 1
    else:
        g_line, stride, length, outer, middle = g0, s0, n0, 1, n1
    for o in range(outer):
        for t in range(length):
            for m in range(middle):
                row = _line_row(axis, pad, o, t, m, n1, n2)
                for k in range((o + m + colour) % 2, n2, 2):
                    v = row + U(k)
                    s = b[v] + g2[v - ONE] * x[v - ONE] + g2[v] * x[v + ONE] \
                        + g_line[v - stride] * inv_pivot[v - stride] * x[v - stride]
                    if axis == 0:
                        s += g1[v - s1] * x[v - s1] + g1[v] * x[v + s1]
                    elif n0 > 1:
                        s += g0[v - s0] * x[v - s0] + g0[v] * x[v + s0]
                    x[v] = s
        for t in range(length - 1, -1, -1):
            for m in range(middle):
                row = _line_row(axis, pad, o, t, m, n1, n2)
                for k in range((o + m + colour) % 2, n2, 2):
                    v = row + U(k)
                    x[v] = (x[v] + g_line[v] * x[v + stride]) * inv_pivot[v]


@njit(**KERNEL_OPTIONS)
def line_pivots(diagonal, g_line, stride, size, pad, out):
    """Inverse pivots of the LDL^T factorization of every grid line's tridiagonal block
    (diagonal, -g_line): p_t = d_t - g_{t-1}^2 / p_{t-1}; float64, stored in ``out``'s dtype.
    Pivots stay >= the voxel's couplings off the line (an M-matrix), so no pivot vanishes on a
    connected, grounded operator."""
    pivot = np.empty(size + 2 * pad)
    pivot[:pad] = 1.0
    for v in range(pad, pad + size):
        p = diagonal[v]
        g = g_line[v - stride]
        if g != 0.0:
            p -= g * g / pivot[v - stride]
        pivot[v] = p
        out[v] = 1.0 / p


@njit(**KERNEL_OPTIONS)
def point_start(x, b, inv_diag, n0, n1, n2, pad, colour):
    """The first Gauss-Seidel step of a cycle, from x = 0: the voxels of ``colour`` get
    b / diagonal (their neighbours are still 0), the others 0."""
    for ij in range(n0 * n1):
        i = ij // n1
        j = ij - i * n1
        base = U(pad + ij * n2)
        first = (i + j + colour) % 2
        for k in range(n2):
            v = base + U(k)
            x[v] = b[v] * inv_diag[v] if k % 2 == first else 0.0


@njit(**KERNEL_OPTIONS)
def residual_restrict(x, b, g0, g1, g2, diagonal, n0, n1, n2, pad, coarse_b, c1, c2, c_pad,
                      solved_kind, solved_colour):
    """coarse_b = P^T (b - A x) for box aggregation (sum of the residual over each 2x2x2 box).

    The residual is 0 on the blocks the last smoothing step solved exactly, so they are
    skipped: ``solved_kind`` 1, the voxels with (i + j + k) % 2 == ``solved_colour``; 2, the
    grid lines along axis 2 with (i + j) % 2 == ``solved_colour``; 0, none."""
    s0, s1 = U(n1 * n2), U(n2)
    c0 = (n0 + 1) // 2
    for cij in range(c0 * c1):
        ci = cij // c1
        cj = cij - ci * c1
        c_base = U(c_pad + cij * c2)
        for k2 in range(c2):
            coarse_b[c_base + U(k2)] = 0.0
        for i in range(2 * ci, min(2 * ci + 2, n0)):
            for j in range(2 * cj, min(2 * cj + 2, n1)):
                base = U(pad + (i * n1 + j) * n2)
                start, step = 0, 1
                if solved_kind == 1:
                    start, step = (i + j + solved_colour + 1) % 2, 2
                elif solved_kind == 2 and (i + j) % 2 == solved_colour:
                    continue
                for k in range(start, n2, step):
                    v = base + U(k)
                    r = b[v] - diagonal[v] * x[v] + g2[v - ONE] * x[v - ONE] \
                        + g2[v] * x[v + ONE] + g1[v - s1] * x[v - s1] + g1[v] * x[v + s1]
                    if n0 > 1:
                        r += g0[v - s0] * x[v - s0] + g0[v] * x[v + s0]
                    coarse_b[c_base + U(k // 2)] += r


@njit(**KERNEL_OPTIONS)
def prolong_add(x, coarse_x, active, n0, n1, n2, pad, c1, c2, c_pad, weight):
    """x += weight * P coarse_x: each active voxel takes its box's value (inactive voxels, which
    have no matrix row, stay 0)."""
    for ij in range(n0 * n1):
        i = ij // n1
        j = ij - i * n1
        base = U(pad + ij * n2)
        c_base = U(c_pad + ((i // 2) * c1 + j // 2) * c2)
        for k in range(n2):
            v = base + U(k)
            if active[v]:
                x[v] += weight * coarse_x[c_base + U(k // 2)]


@njit(**KERNEL_OPTIONS)
def apply_operator(x, y, g0, g1, g2, diagonal, n0, n1, n2, pad):
    """y = A x, and returns x . A x (float64)."""
    s0, s1 = U(n1 * n2), U(n2)
    total = 0.0
    for ij in range(n0 * n1):
        base = U(pad + ij * n2)
        row = 0.0
        for k in range(n2):
            v = base + U(k)
            s = diagonal[v] * x[v] - g2[v - ONE] * x[v - ONE] - g2[v] * x[v + ONE] \
                - g1[v - s1] * x[v - s1] - g1[v] * x[v + s1]
            if n0 > 1:
                s -= g0[v - s0] * x[v - s0] + g0[v] * x[v + s0]
            y[v] = s
            row += s * x[v]
        total += row
    return total


@njit(**KERNEL_OPTIONS)
def add_face_sums(diagonal, g0, g1, g2, n0, n1, n2, pad):
    """diagonal += the conductances of each voxel's faces (float64)."""
    s0 = n1 * n2
    s1 = n2
    for v in range(pad, pad + n0 * n1 * n2):
        diagonal[v] += g2[v - 1] + g2[v] + g1[v - s1] + g1[v]
        if n0 > 1:
            diagonal[v] += g0[v - s0] + g0[v]


@njit(**KERNEL_OPTIONS)
def update_direction(p, z, r, keep, rz_old):
    """CG: rz = r . z; p = z + keep * (rz / rz_old) p (z float32 or float64); returns rz."""
    rz = 0.0
    for v in range(len(r)):
        rz += r[v] * z[v]
    beta = keep * rz / rz_old
    for v in range(len(p)):
        p[v] = z[v] + beta * p[v]
    return rz


@njit(**KERNEL_OPTIONS)
def update_solution(x, r, p, q, alpha):
    """CG: x += alpha p; r -= alpha q; returns ||r||."""
    total = 0.0
    for v in range(len(x)):
        x[v] += alpha * p[v]
        r[v] -= alpha * q[v]
        total += r[v] * r[v]
    return np.sqrt(total)


@njit(**KERNEL_OPTIONS)
def box_aggregate(f0, f1, f2, extra, active, c_f0, c_f1, c_f2, c_extra, c_active):
    """Galerkin operator of box aggregation (3D grid arrays; coarse ones zeroed by the caller):
    a coarse face sums the fine faces between two boxes (fine faces at odd indices: between
    fine 2I+1 and 2I+2), faces inside a box cancel, the extra diagonal is summed per box."""
    n0, n1, n2 = extra.shape
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                ci, cj, ck = i // 2, j // 2, k // 2
                c_extra[ci, cj, ck] += extra[i, j, k]
                if active[i, j, k]:
                    c_active[ci, cj, ck] = True
                if i % 2 == 1:
                    c_f0[ci, cj, ck] += f0[i, j, k]
                if j % 2 == 1:
                    c_f1[ci, cj, ck] += f1[i, j, k]
                if k % 2 == 1:
                    c_f2[ci, cj, ck] += f2[i, j, k]


@njit(**KERNEL_OPTIONS)
def anisotropy_counts(g0, g1, g2, n0, n1, n2, pad, ratio):
    """(voxels coupled along every axis of the grid, those of them whose strongest axis couples
    more than ``ratio`` x more strongly than their weakest). A voxel's coupling along an axis is
    the larger of its two faces on that axis; axes of length 1 are left out."""
    s0 = n1 * n2
    s1 = n2
    coupled = 0
    strong = 0
    for v in range(pad, pad + n0 * n1 * n2):
        c2 = max(g2[v - 1], g2[v]) if n2 > 1 else -1.0
        c1 = max(g1[v - s1], g1[v]) if n1 > 1 else -1.0
        c0 = max(g0[v - s0], g0[v]) if n0 > 1 else -1.0
        high = max(c0, max(c1, c2))
        low = np.inf
        if c0 >= 0.0:
            low = min(low, c0)
        if c1 >= 0.0:
            low = min(low, c1)
        if c2 >= 0.0:
            low = min(low, c2)
        if low > 0.0 and low < np.inf:
            coupled += 1
            if high > ratio * low:
                strong += 1
    return coupled, strong


@njit(**KERNEL_OPTIONS)
def scatter_links(link_nodes, link_axis, conductance, node_voxel, node_kept, pad, faces):
    """faces[axis, pad + voxel below the face] = conductance, for the links between kept nodes
    (one pass over the links instead of a dozen link-sized NumPy temporaries)."""
    for m in range(len(conductance)):
        a = link_nodes[m, 0]
        if node_kept[a] and node_kept[link_nodes[m, 1]]:
            faces[link_axis[m], pad + node_voxel[a]] = conductance[m]

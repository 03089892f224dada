"""Euler reference frames of orientation maps (the ``euler_frame`` presets, docs/case-format.md)."""

from __future__ import annotations

import numpy as np

from ...symmetry import axis_rotation


def _half_turn(axis) -> np.ndarray:
    n = np.asarray(axis, float) / np.linalg.norm(axis)
    return 2 * np.outer(n, n) - np.eye(3)


# The map frame of .ang/.ctf files: x along the map, y down the map (rows), z = x cross y into
# the surface; netsolve's frame is it turned 180 degrees about x (y up, z out of the surface).
MAP_TO_NETSOLVE = _half_turn([1, 0, 0])
# Rotation R with c_netsolve = R c_euler for the Euler reference frame of each preset: the
# vendor's Euler frame -> map frame as MTEX's importers define it (loadEBSD_ang "setting 1..4":
# 180 degrees about x+y, x-y, x, y; loadEBSD_ctf: 180 degrees about x), then map -> netsolve.
EULER_FRAMES = {
    "netsolve": np.eye(3),
    "map": MAP_TO_NETSOLVE,
    "tsl_setting1": MAP_TO_NETSOLVE @ _half_turn([1, 1, 0]),
    "tsl_setting2": MAP_TO_NETSOLVE @ _half_turn([1, -1, 0]),
    "tsl_setting3": MAP_TO_NETSOLVE @ _half_turn([1, 0, 0]),
    "tsl_setting4": MAP_TO_NETSOLVE @ _half_turn([0, 1, 0]),
    "oxford": MAP_TO_NETSOLVE @ _half_turn([1, 0, 0]),
}


def read_euler_frame(t) -> np.ndarray:
    """The rotation R (c_netsolve = R c_file) of ``euler_frame`` or of the explicit
    ``euler_rotation_axis`` + ``euler_rotation_deg``."""
    explicit = t.has("euler_rotation_axis") or t.has("euler_rotation_deg")
    if explicit and t.has("euler_frame"):
        t.fail("give either 'microstructure.euler_frame' or 'microstructure.euler_rotation_axis'"
               " + 'euler_rotation_deg', not both")
    if not explicit:
        return EULER_FRAMES[t.string("euler_frame", "netsolve", choices=tuple(EULER_FRAMES))]
    if not (t.has("euler_rotation_axis") and t.has("euler_rotation_deg")):
        t.fail("'microstructure.euler_rotation_axis' and 'microstructure.euler_rotation_deg' "
               "go together (a rotation axis and its angle)")
    axis = t.numbers("euler_rotation_axis", 3)
    if not any(axis):
        t.fail("'microstructure.euler_rotation_axis' must not be [0, 0, 0]")
    return axis_rotation(axis, np.radians(t.number("euler_rotation_deg")))

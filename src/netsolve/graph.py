"""The grain graph: grains as nodes, grain boundaries as edges (a NetworkX graph).

Built vectorized from the voxel faces of a :class:`Microstructure` (no loop over voxels, faces
or grain boundaries). All lengths, areas and volumes are SI (m, m^2, m^3); angles in degrees.

Nodes are the grain ids (int) of the grains present in the map (voxels of phase GRAIN):

- ``n_voxels``; ``area_m2`` = n_voxels h^2 (2D, the in-plane area) or ``volume_m3`` =
  n_voxels h^3 (3D);
- ``centroid_m``: mean of the voxel centres, (x, y) or (x, y, z), the grid corner at 0;
- ``c_axis`` (3 components, c_z >= 0), ``theta_deg``, ``alpha_deg`` (docs/conventions.md) and
  ``euler_deg`` (Bunge, NaN when the grain was given by a c-axis or theta/alpha);
- ``n_faces_zro2``, ``n_faces_backbone``, ``n_faces_void``, ``n_faces_electrode``: voxel faces
  the grain shares with voxels of those phases (electrode = box/mask/label electrode voxels;
  edge electrodes lie outside the grid and are not counted).

Edges join grains a < b (by id) that share at least one voxel face:

- ``n_faces``; ``length_m`` = n_faces h (2D only); ``area_m2`` = length t (2D, t the lamella
  thickness) or n_faces h^2 (3D);
- ``normal``: unit mean normal pointing from grain a (the smaller id) to grain b: the sum over
  the shared faces of the axis unit vector, signed to point from a's voxel to b's voxel,
  normalized (NaN when the faces cancel, e.g. a grain enclosed by the other);
- ``misorientation_deg``: crystallographic misorientation angle with the grains' symmetry
  (``Microstructure.symmetry``, -3m unless an orientation map declares another;
  :func:`netsolve.symmetry.misorientation_angle`); NaN when either grain has no Euler angles;
- ``plane_angle_deg``: angle between the conduction planes = angle between the c-axes folded
  into [0, 90];
- ``path_misorientation_deg``: see :func:`path_misorientation_deg`.

Graph attributes: ``voxel_size_m``, ``thickness_m``, ``ndim``.
"""

from __future__ import annotations

import os
import secrets
import weakref
from dataclasses import dataclass
from pathlib import Path

from xml.sax.saxutils import escape, quoteattr

import networkx as nx
import numpy as np

from .voxels import face_slices
from .microstructure import Microstructure, Phase
from .orientation import bunge_matrix
from .symmetry import misorientation_angle

AXES = "xyz"
_FACE_PHASES = {Phase.ZRO2: "n_faces_zro2", Phase.BACKBONE: "n_faces_backbone",
                Phase.VOID: "n_faces_void", Phase.ELECTRODE: "n_faces_electrode"}
# How write_graphml names the components of vector attributes.
_COMPONENTS = {"centroid_m": ("centroid_{}_m", AXES), "normal": ("normal_{}", AXES),
               "c_axis": ("c_axis_{}", AXES), "euler_deg": ("euler_{}_deg", ("phi1", "Phi", "phi2"))}


def path_misorientation_deg(theta_a_deg, theta_b_deg) -> np.ndarray:
    """Misorientation of the in-plane Na+ transport paths of two grains, degrees in [0, 90].

    The project's reading of the column "misorientation of Na+ ion transport path of adjacent
    grains" of Table 4-1 of the thesis (Ding): the angle between the two grains' conduction-plane
    traces on the lamella surface, |theta_a - theta_b| folded into [0, 90] (traces are lines,
    so 180 degrees apart is the same trace; 90 is the largest angle between two lines).

    It cannot be the angle between the c-axes: a rotation by w moves any direction by at most
    w, so the angle between c-axes never exceeds the crystallographic misorientation, yet
    Table 4-1 lists pairs whose path misorientation exceeds their misorientation. The trace
    angle can (a small tilt of a grain whose planes lie almost in the surface turns its trace a
    lot). When a grain's planes lie in the surface (alpha = 0) its trace is undefined and theta
    = 0 is used (docs/conventions.md), so the value is then a convention, not a measurement.
    """
    d = np.mod(np.abs(np.asarray(theta_a_deg, float) - np.asarray(theta_b_deg, float)), 180.0)
    return np.minimum(d, 180.0 - d)


@dataclass(frozen=True)
class BoundaryFaces:
    """The voxel faces of a microstructure's grain boundaries and grain|phase interfaces.

    Grain boundaries (faces between voxels of two different grains), sorted by (axis, lower
    voxel) like ``Fields.gb_face_*``:

    - ``gb_lower_voxel`` (flat voxel index of the face's lower voxel; the upper one is its +1
      neighbour along ``gb_axis``), ``gb_axis``;
    - ``gb_edge``: index into ``edge_rows`` (n_edges, 2), the orientation rows (a, b) of the two
      grains, a having the smaller grain id; edges are sorted by (a, b);
    - ``gb_sign``: +1 when the lower voxel is in grain a (the face's +axis points from a to b).

    Grain|phase interfaces (a grain voxel next to a backbone, ZrO2, void or electrode voxel),
    sorted the same way: ``interface_lower_voxel``, ``interface_axis``,
    ``interface_grain_row`` (orientation row of the grain), ``interface_phase`` (the other
    voxel's :class:`Phase`), ``interface_sign`` (+1 when the lower voxel is the grain's).
    """

    gb_lower_voxel: np.ndarray
    gb_axis: np.ndarray
    gb_edge: np.ndarray
    gb_sign: np.ndarray
    edge_rows: np.ndarray
    interface_lower_voxel: np.ndarray
    interface_axis: np.ndarray
    interface_grain_row: np.ndarray
    interface_phase: np.ndarray
    interface_sign: np.ndarray


# The faces of the last microstructure asked for (weak reference, faces): the grain graph, the
# GB geometry and the GB network of one result need the same faces.
_LAST_FACES: tuple = (lambda: None, None)


def boundary_faces(micro: Microstructure) -> BoundaryFaces:
    """Every grain-boundary and grain|phase voxel face of a microstructure (vectorized; the
    last microstructure's faces are kept, not computed again)."""
    global _LAST_FACES
    ref, faces = _LAST_FACES
    if ref() is micro:
        return faces
    faces = _boundary_faces(micro)
    _LAST_FACES = (weakref.ref(micro), faces)
    return faces


def _boundary_faces(micro: Microstructure) -> BoundaryFaces:
    gi = micro.grain_index
    shape, ndim = gi.shape, gi.ndim
    n_rows = max(len(micro.orientations), 1)
    gb_parts, interface_parts = [], []
    for axis in range(ndim):  # loop over axes
        lower, upper = face_slices(ndim, axis)
        face_shape = gi[lower].shape

        def lower_voxel(hit):  # flat index in the full grid of the faces' lower voxels
            return np.ravel_multi_index(np.unravel_index(hit, face_shape), shape)

        a, b = gi[lower].ravel().astype(np.int64), gi[upper].ravel().astype(np.int64)
        hit = np.flatnonzero((a != b) & (a >= 0) & (b >= 0))
        gb_parts.append((lower_voxel(hit), np.full(len(hit), axis, np.int8), a[hit], b[hit]))
        pa, pb = micro.phase[lower].ravel(), micro.phase[upper].ravel()
        for grain, other, sign in ((a, pb, 1), (b, pa, -1)):  # the grain on either side
            hit = np.flatnonzero((grain >= 0) & (other != Phase.GRAIN))
            interface_parts.append((lower_voxel(hit), np.full(len(hit), axis, np.int8),
                                    grain[hit], other[hit].astype(np.int64),
                                    np.full(len(hit), sign, np.int8)))
    voxel, axes, ra, rb = (np.concatenate(c) for c in zip(*gb_parts))
    keys = np.minimum(ra, rb) * n_rows + np.maximum(ra, rb)
    edge_keys, edge = np.unique(keys, return_inverse=True)
    order = np.lexsort((voxel, axes))
    i_voxel, i_axis, i_grain, i_phase, i_sign = (np.concatenate(c) for c in zip(*interface_parts))
    i_order = np.lexsort((i_voxel, i_axis))
    return BoundaryFaces(
        gb_lower_voxel=voxel[order], gb_axis=axes[order], gb_edge=edge.ravel()[order],
        gb_sign=np.where(ra < rb, 1, -1).astype(np.int8)[order],
        edge_rows=np.stack([edge_keys // n_rows, edge_keys % n_rows], axis=1),
        interface_lower_voxel=i_voxel[i_order], interface_axis=i_axis[i_order],
        interface_grain_row=i_grain[i_order], interface_phase=i_phase[i_order],
        interface_sign=i_sign[i_order])


def build_grain_graph(micro: Microstructure) -> nx.Graph:
    """The grain graph of a microstructure (see the module documentation for the attributes)."""
    grid = micro.grid
    h, ndim = grid.voxel_size_m, grid.ndim
    orient = micro.orientations
    n_rows = len(orient)
    gi = micro.grain_index  # row into orientations (sorted by id), -1 outside grains

    # Nodes: voxel counts and centroids by bincount over the grain voxels.
    flat = gi.ravel()
    inside = np.flatnonzero(flat >= 0)
    rows_of_voxels = flat[inside]
    n_voxels = np.bincount(rows_of_voxels, minlength=n_rows)
    rows = np.flatnonzero(n_voxels)
    centroid = np.empty((len(rows), ndim))
    coords = np.unravel_index(inside, gi.shape)
    for d in range(ndim):  # loop over axes
        sums = np.bincount(rows_of_voxels, weights=coords[d], minlength=n_rows)
        centroid[:, d] = (sums[rows] / n_voxels[rows] + 0.5) * h
    del coords, inside, rows_of_voxels

    faces = boundary_faces(micro)
    n_edges = len(faces.edge_rows)
    n_faces = np.bincount(faces.gb_edge, minlength=n_edges)
    normal = np.stack([np.bincount(faces.gb_edge, weights=faces.gb_sign * (faces.gb_axis == d),
                                   minlength=n_edges) for d in range(ndim)], axis=1)
    norm = np.linalg.norm(normal, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = np.where(norm > 0, normal / norm, np.nan)
    phase_faces = np.bincount(faces.interface_grain_row * len(Phase) + faces.interface_phase,
                              minlength=n_rows * len(Phase))
    ea, eb = faces.edge_rows[:, 0], faces.edge_rows[:, 1]

    euler_deg = np.degrees(orient.euler_rad)
    theta_deg, alpha_deg = np.degrees(orient.theta_rad), np.degrees(orient.alpha_rad)
    g = bunge_matrix(orient.euler_rad)
    misorientation = np.degrees(misorientation_angle(g[ea], g[eb], micro.symmetry.rotations))
    cos_planes = np.abs(np.einsum("ij,ij->i", orient.c_axis[ea], orient.c_axis[eb]))
    plane_angle = np.degrees(np.arccos(np.clip(cos_planes, 0.0, 1.0)))
    path = path_misorientation_deg(theta_deg[ea], theta_deg[eb])

    graph = nx.Graph(voxel_size_m=float(h), thickness_m=float(grid.thickness_m), ndim=int(ndim))
    ids = orient.grain_ids
    size = ({"area_m2": n_voxels[rows] * h**2} if ndim == 2
            else {"volume_m3": n_voxels[rows] * h**3})
    node_columns = {
        "n_voxels": n_voxels[rows], **size, "centroid_m": centroid,
        "c_axis": orient.c_axis[rows], "theta_deg": theta_deg[rows], "alpha_deg": alpha_deg[rows],
        "euler_deg": euler_deg[rows],
        **{name: phase_faces.reshape(n_rows, len(Phase))[rows, int(p)]
           for p, name in _FACE_PHASES.items()},
    }
    graph.add_nodes_from(zip(ids[rows].tolist(), _records(node_columns)))
    area = n_faces * (h * grid.thickness_m if ndim == 2 else h**2)
    edge_columns = {"n_faces": n_faces, **({"length_m": n_faces * h} if ndim == 2 else {}),
                    "area_m2": area, "normal": normal, "misorientation_deg": misorientation,
                    "plane_angle_deg": plane_angle, "path_misorientation_deg": path}
    graph.add_edges_from(zip(ids[ea].tolist(), ids[eb].tolist(),
                             _records(edge_columns)))
    return graph


def write_graphml(graph: nx.Graph, path: str | Path) -> Path:
    """Write the grain graph as GraphML, atomically; return the path.

    GraphML holds scalars only: vector attributes become one attribute per component
    (``centroid_x_m``, ``normal_x``, ``c_axis_x``, ``euler_phi1_deg``, ...).
    """
    path = Path(path)
    flat = nx.Graph(**{k: _scalar(v) for k, v in graph.graph.items()})
    flat.add_nodes_from((n, _flatten(d)) for n, d in graph.nodes(data=True))
    flat.add_edges_from((a, b, _flatten(d)) for a, b, d in graph.edges(data=True))
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")  # same folder: atomic
    try:
        with open(tmp, "xb") as f:
            f.write(graphml_bytes(flat))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


# networkx's GraphML types (its writer, infer_numeric_types=False): one key per attribute name,
# scope and Python type of the value.
_GRAPHML_TYPES = {bool: "boolean", int: "long", float: "double", str: "string"}


def graphml_bytes(graph: nx.Graph) -> bytes:
    """An undirected graph of scalar attributes as GraphML, as networkx's writer would write it
    (the same keys, types and value text, ``str(value)``), without building an XML tree: the
    grain graph of a 2048^2 map took networkx 10 s, this ~1 s."""
    keys: dict[tuple[str, str, str], str] = {}

    def data(attrs: dict, scope: str, indent: str) -> list[str]:
        lines = []
        for name, value in attrs.items():
            kind = _GRAPHML_TYPES.get(type(value))
            if kind is None:
                raise TypeError(f"GraphML does not support type {type(value)} as data values.")
            key = keys.setdefault((str(name), kind, scope), f"d{len(keys)}")
            text = escape(value) if kind == "string" else str(value)
            lines.append(f'{indent}<data key="{key}">{text}</data>')
        return lines

    body = data({k: v for k, v in graph.graph.items()
                 if k not in ("node_default", "edge_default")}, "graph", "    ")
    for node, attrs in graph.nodes(data=True):
        body.append(f"    <node id={quoteattr(str(node))}>")
        body += data(attrs, "node", "      ")
        body.append("    </node>")
    for a, b, attrs in graph.edges(data=True):
        body.append(f"    <edge source={quoteattr(str(a))} target={quoteattr(str(b))}>")
        body += data(attrs, "edge", "      ")
        body.append("    </edge>")
    head = ["<?xml version='1.0' encoding='utf-8'?>",
            '<graphml xmlns="http://graphml.graphdrawing.org/xmlns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xsi:schemaLocation="http://graphml.graphdrawing.org/xmlns '
            'http://graphml.graphdrawing.org/xmlns/1.0/graphml.xsd">']
    head += [f'  <key id="{key}" for="{scope}" attr.name={quoteattr(name)} attr.type="{kind}" />'
             for (name, kind, scope), key in reversed(keys.items())]
    lines = head + ['  <graph edgedefault="undirected">', *body, "  </graph>", "</graphml>"]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _records(columns: dict[str, np.ndarray]) -> list[dict]:
    """Per-row attribute dicts (Python scalars; 2D columns become tuples)."""
    names = list(columns)
    values = [[tuple(row) for row in col.tolist()] if col.ndim == 2 else col.tolist()
              for col in (np.asarray(columns[k]) for k in names)]
    return [dict(zip(names, row)) for row in zip(*values)]


def _scalar(value):
    return value.item() if isinstance(value, np.generic) else value


def _flatten(attrs: dict) -> dict:
    out = {}
    for key, value in attrs.items():
        if isinstance(value, (tuple, list, np.ndarray)):
            pattern, labels = _COMPONENTS.get(key, (key + "_{}", [str(i) for i in range(99)]))
            out.update({pattern.format(lab): _scalar(v) for lab, v in zip(labels, value)})
        else:
            out[key] = _scalar(value)
    return out

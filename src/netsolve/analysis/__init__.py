"""Stage 6: analysis of a solved case: grain-boundary classification (types I-III, a/b, 1/2),
GB segments, per-GB/per-segment/per-grain metrics and the Na+ accumulation risk score.

Reads the microstructure, the grain graph and only the discretization-neutral field contract
(voxel fields and GB faces of :class:`netsolve.fields.Fields`). See docs/gb-classification.md.
"""

from .classify import Classification, classify, drift_tensors
from .explain import explain, read_gb_table
from .geometry import GBGeometry, gb_geometry
from .headline import Headline, headline, headline_summary
from .report import GBTable, GrainTable, gb_table, grain_table, require_orientations

__all__ = ["Classification", "GBGeometry", "GBTable", "GrainTable", "classify", "drift_tensors",
           "gb_geometry", "gb_table", "grain_table", "Headline", "headline", "headline_summary",
           "explain", "read_gb_table", "require_orientations"]

"""The analysis tables of a result as CSV (``grain_table.csv``, ``gb_table.csv``) and the grain
graph with their values (GraphML).

The tables are :class:`netsolve.analysis.GrainTable` and :class:`netsolve.analysis.GBTable`
(columns in ``docs/gb-classification.md``): one grain table and one GB table per result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.report import WHOLE_GB, table_columns
from ..errors import CaseError
from ..graph import write_graphml
from .data import GB_TABLE_FILE, GRAIN_TABLE_FILE, ResultData

#: per-GB columns of ``gb_table.csv`` copied onto the GraphML edges
GRAPHML_GB_COLUMNS = ("gb_type", "subtype", "behaviour", "blocking", "negligible_current",
                      "applied_subtype", "current_A", "abs_current_A", "n_solved_faces", "jump_V",
                      "gb_field_V_m", "j_contrast", "risk_score", "reason")


def write_tables(data: ResultData, folder: str | Path) -> list[Path]:
    """``grain_table.csv`` and ``gb_table.csv`` of a result (a CaseError if a saved result has
    none: written by an older netsolve)."""
    folder = Path(folder)
    written = []
    for table, name in ((data.grain_table, GRAIN_TABLE_FILE), (data.gb_table, GB_TABLE_FILE)):
        if table is None:
            raise CaseError(f"{data.label}: the result has no {name} (written by an older "
                            f"netsolve? run the case again)")
        written.append(table.write_csv(folder / name))
    return written


def whole_gb_columns(data: ResultData) -> dict[str, np.ndarray]:
    """The ``gb_table.csv`` columns of the whole grain|grain boundaries (no segments, no
    grain|phase interfaces); empty without a GB table."""
    if data.gb_table is None:
        return {}
    columns = table_columns(data.gb_table)
    whole = (columns["segment"] == WHOLE_GB) & (columns["grain_b"] > 0)
    return {name: column[whole] for name, column in columns.items()}


def write_result_graphml(data: ResultData, path: str | Path) -> Path:
    """The grain graph (:mod:`netsolve.graph`) with the numeric columns of the grain table on
    its nodes and :data:`GRAPHML_GB_COLUMNS` of the GB table on its edges."""
    import networkx as nx

    graph = data.graph.copy()
    if data.grain_table is not None:
        grains = table_columns(data.grain_table)
        ids = grains["grain_id"].tolist()
        for name in ("mean_potential_V", "mean_abs_j_A_m2", "max_abs_j_A_m2", "current_share",
                     "mean_abs_e_V_m", "n_gb", "n_blocking_gb"):
            nx.set_node_attributes(graph, dict(zip(ids, grains[name].tolist())), name)
    table = whole_gb_columns(data)
    if table:
        pairs = list(zip(table["grain_a"].tolist(), table["grain_b"].tolist()))
        for name in GRAPHML_GB_COLUMNS:
            values = [v if isinstance(v, (bool, int, float)) else str(v)
                      for v in table[name].tolist()]
            nx.set_edge_attributes(graph, dict(zip(pairs, values)), name)
    return write_graphml(graph, path)

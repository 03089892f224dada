"""Stage 7: result -> files, written atomically.

A result directory holds ``summary.json``, ``fields.npz``, ``current_density.png`` and a copy of
the case file. Everything is written into a temporary sibling directory that is renamed into
place at the end, so an interrupted run never leaves a half-written result.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import numpy as np

from .errors import CaseError
from .result import Result

RESULT_MARKER = "summary.json"


def write_result(result: Result, out_dir: str | Path, *, figures: bool = True) -> Path:
    """Write a result directory atomically and return its path."""
    out_dir = Path(out_dir).absolute()
    with atomic_directory(out_dir) as tmp:
        (tmp / "summary.json").write_text(json.dumps(result.summary(), indent=2) + "\n")
        write_fields_npz(result, tmp / "fields.npz")
        if result.case.path is not None:
            shutil.copyfile(result.case.path, tmp / "case.toml")
        if figures:
            from .plot import plot_current_density

            plot_current_density(result, tmp / "current_density.png")
    return out_dir


def write_fields_npz(result: Result, path: Path) -> None:
    """Voxel fields: potential (V), current_density (A/m^2), electric_field (V/m), labels,
    phase, floating (bool), voxel_size_nm, thickness_nm."""
    micro = result.microstructure
    floating = result.network.floating_voxels(result.solution.floating)
    np.savez(
        path,
        potential=result.fields.potential,
        current_density=result.fields.current_density,
        electric_field=result.fields.electric_field,
        labels=micro.labels,
        phase=micro.phase,
        floating=floating,
        voxel_size_nm=np.float64(result.case.grid.voxel_size_m * 1e9),
        thickness_nm=np.float64(result.case.grid.thickness_m * 1e9),
    )


class atomic_directory:
    """Context manager: yields a temporary directory that replaces ``target`` on success.

    An existing ``target`` is replaced only if it is empty or a previous result (it holds
    ``summary.json``); anything else is refused, so ``-o`` can never wipe a user's folder.
    """

    def __init__(self, target: Path):
        self.target = target
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        target = self.target
        if target.exists():
            if not target.is_dir():
                raise CaseError(f"output {target} exists and is not a directory")
            if any(target.iterdir()) and not (target / RESULT_MARKER).exists():
                raise CaseError(f"output directory {target} exists and is not a netsolve "
                                f"result (no {RESULT_MARKER}); choose another -o or remove it")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CaseError(f"cannot create output directory {target.parent} ({exc})") from None
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            return False
        os.chmod(self.tmp, 0o755)
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{uuid.uuid4().hex[:8]}"
            os.rename(self.target, old)
            os.rename(self.tmp, self.target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(self.tmp, self.target)
        return False

"""Which files of an output folder netsolve wrote: ``netsolve_manifest.json``.

Every folder netsolve writes (a result of ``run`` or ``compare``, a folder ``export`` or
``plot`` wrote into) lists its own files in :data:`MANIFEST` (paths relative to the folder).
Anything else in the folder is the user's: it is never replaced and moves along when a result
is replaced (:func:`carry_user_files`). Results written before the manifest existed are
recognized by their files (:func:`owned_files`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import CaseError

MANIFEST = "netsolve_manifest.json"
MANIFEST_FORMAT = 1

# a result of `run` / `compare` written before the manifest: these names are netsolve's
_LEGACY_MARKERS = (("summary.json", "fields.npz"),
                   ("summary.json", "grain_comparison.csv", "gb_comparison.csv"))
_LEGACY_CORE = ("summary.json", "fields.npz", "case.toml", "grain_table.csv", "gb_table.csv",
                "grain_comparison.csv", "gb_comparison.csv")


def read_manifest(folder: Path) -> set[str] | None:
    """The files a folder's manifest lists (None without a manifest); CaseError if the file
    of that name is not a netsolve manifest."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
        files = content["files"]
        if content.get("format") != MANIFEST_FORMAT or not all(isinstance(f, str) for f in files):
            raise ValueError
    except (OSError, ValueError, KeyError, TypeError):
        raise CaseError(f"{path} is not a netsolve manifest; move it away") from None
    return set(files)


def manifest_text(files) -> str:
    from . import __version__

    return json.dumps({"format": MANIFEST_FORMAT, "written_by": f"netsolve {__version__}",
                       "files": sorted(set(files) - {MANIFEST})}, indent=1) + "\n"


def is_netsolve_folder(folder: Path) -> bool:
    """A folder with a manifest, or a result written before manifests existed."""
    folder = Path(folder)
    return ((folder / MANIFEST).is_file()
            or any(all((folder / n).is_file() for n in names) for names in _LEGACY_MARKERS))


def owned_files(folder: Path) -> set[str]:
    """The files of ``folder`` that netsolve wrote (relative paths, the manifest included)."""
    folder = Path(folder)
    listed = read_manifest(folder)
    if listed is not None:
        return listed | {MANIFEST}
    if not is_netsolve_folder(folder):
        return set()
    return {name for name in _legacy_names() if (folder / name).is_file()}


def _legacy_names() -> set[str]:
    from .case import FIGURE_FORMATS
    from .export import EXPORT_FILES
    from .plot import FIGURES

    figures = {f"{stem}.{fmt}" for stem, _ in FIGURES.values() for fmt in FIGURE_FORMATS}
    exports = {name for names in EXPORT_FILES.values() for name in names}
    return set(_LEGACY_CORE) | figures | exports


def files_below(folder: Path) -> list[str]:
    """Every file and symlink below ``folder`` (relative POSIX paths; directories walked, not
    listed)."""
    found = []
    for root, dirs, files in os.walk(folder):
        base = Path(root).relative_to(folder)
        links = [d for d in dirs if os.path.islink(os.path.join(root, d))]
        found += [(base / name).as_posix() for name in files + links]
    return sorted(found)


def carry_user_files(old: Path, new: Path, owned: set[str]) -> None:
    """Give ``new`` every file of ``old`` that netsolve did not write (not in ``owned``, whose
    folders are skipped whole), at the same relative path: hard links (copies where the file
    system has none), so the files stay in ``old`` too until it is deleted. A CaseError names
    a user's file that ``new`` also has."""
    clashes = []
    for root, dirs, files in os.walk(old):
        rel_root = Path(root).relative_to(old)
        dirs[:] = [d for d in dirs if (rel_root / d).as_posix() not in owned]
        for name in dirs:
            if not os.path.islink(os.path.join(root, name)):
                target = new / rel_root / name
                if target.exists() and not target.is_dir():
                    clashes.append((rel_root / name).as_posix())
                else:
                    target.mkdir(exist_ok=True)
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            rel = (rel_root / name).as_posix()
            if rel in owned:
                continue
            if os.path.lexists(new / rel):
                clashes.append(rel)
                continue
            _link_or_copy(old / rel, new / rel)
    if clashes:
        raise CaseError(f"{old / clashes[0]} was not written by netsolve and the new result has "
                        f"a file of that name; rename or move it (nothing was written, the "
                        f"previous result is unchanged)")


def _link_or_copy(source: Path, target: Path) -> None:
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    if not source.is_file():
        raise CaseError(f"{source} is not a regular file (a pipe, socket or device); netsolve "
                        f"cannot keep it in a replaced result: move it away")
    try:
        os.link(source, target)
    except OSError:  # no hard links here (some network or FAT file systems, foreign owner)
        shutil.copy2(source, target)

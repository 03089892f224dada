"""Crash-safe output: results replace each other whole, and never a file netsolve did not write.

Everything is written into a temporary sibling ``.<name>.tmp-<host>-<pid>-<token>`` first.

- A new result takes the place of an old one by an atomic exchange of the two directories
  (Linux ``renameat2(RENAME_EXCHANGE)``): at every instant the name holds the complete old or
  the complete new result, even under SIGKILL. Where the exchange is not available (other
  systems, some network file systems) two renames are used, with the old result parked as
  ``.<name>.old-<host>-<pid>-<token>`` in between; the next writer into the same folder, or
  a reader of the result (:func:`restore_interrupted`), moves it back if the process died there.
- Leftovers of dead processes of this host (their PID is in the name) are removed by the next
  writer into the same folder (:func:`remove_stale`).
- An existing non-empty output is refused unless ``overwrite``; then only netsolve's own files
  (the manifest, :mod:`netsolve.manifest`) are replaced, the user's files stay.
- Signals are held back over the exchange (:func:`netsolve.interrupts.signals_deferred`); a
  full disk, a read-only or unwritable folder is one :class:`CaseError` line, nothing left.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import secrets
import shutil
import socket
import stat
from contextlib import contextmanager
from pathlib import Path

from .errors import CaseError
from .interrupts import pause_point, signals_deferred
from .manifest import (MANIFEST, carry_user_files, files_below, is_netsolve_folder,
                       manifest_text, owned_files)

HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<host>[A-Za-z0-9]+)-(?P<pid>[0-9]+)-"
                   r"[0-9a-f]{8}$")
# errors of the output side that a user fixes (disk, quota, permissions, read-only mount)
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM,
                 errno.EFBIG, errno.EIO, errno.ENAMETOOLONG, errno.ENOTDIR, errno.EXDEV}
RENAME_EXCHANGE = 2  # linux/fs.h


def temp_path(parent: Path, name: str, kind: str = "tmp") -> Path:
    """A fresh hidden name next to ``parent / name`` that says whose it is."""
    return parent / f".{name}.{kind}-{HOST}-{os.getpid()}-{secrets.token_hex(4)}"


def _alive(pid: int) -> bool:
    if not 0 < pid < 2**31:  # not a PID netsolve wrote: leave it alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _dead_leftovers(parent: Path) -> list[tuple[Path, re.Match]]:
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _TEMP.match(entry.name)
        if match and match["host"] == HOST and not _alive(int(match["pid"])):
            found.append((Path(entry.path), match))
    return found


def restore_interrupted(target: Path) -> None:
    """If ``target`` is missing because its writer died between the two renames of the
    fallback protocol, move the parked old result back (best effort)."""
    target = Path(target)
    if os.path.lexists(target):
        return
    parked = [p for p, m in _dead_leftovers(target.parent)
              if m["kind"] == "old" and m["name"] == target.name]
    if parked:
        newest = max(parked, key=lambda p: p.stat().st_mtime_ns)
        try:
            os.rename(newest, target)
        except OSError:
            pass


def remove_stale(parent: Path) -> None:
    """Repair and remove what dead netsolve processes of this host left in ``parent``:
    parked old results go back under their name if it is missing, the rest is deleted."""
    leftovers = _dead_leftovers(parent)
    for name in {m["name"] for _, m in leftovers if m["kind"] == "old"}:
        restore_interrupted(parent / name)
    for path, _ in leftovers:
        _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:  # gone already, or not ours to remove: best effort
            pass


def _renameat2():
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]
    return function


EXCHANGE = _renameat2()  # None: not available, use the two-rename protocol
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically; False if this system or file system cannot."""
    if EXCHANGE is None:
        return False
    if EXCHANGE(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def output_path(path: str | Path) -> Path:
    """The absolute output path with symlinks resolved; a CaseError if the path runs through
    a symlink that points nowhere (or into a loop)."""
    path = Path(path).absolute()
    for part in (*reversed(path.parents), path):
        if part.is_symlink() and not part.exists():
            raise CaseError(f"output {path}: {part} is a symlink to {os.readlink(part)}, which "
                            f"does not exist")
    return Path(os.path.realpath(path))


def write_error(exc: OSError, what: Path, existed: bool) -> CaseError:
    """The one-line CaseError of a failed write (full disk, read-only, permissions)."""
    during = f" (writing {Path(exc.filename).name})" if exc.filename else ""
    kept = ", the previous one is unchanged" if existed else ""
    return CaseError(f"cannot write {what}: {exc.strerror or exc}{during}; nothing was "
                     f"written{kept}")


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the ones created (outermost last)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            if not path.is_dir():
                _remove_dirs(missing[missing.index(path) + 1:])
                raise CaseError(f"cannot create output directory {path}: a file of that name "
                                f"exists") from None
        except OSError as exc:
            _remove_dirs(missing[missing.index(path) + 1:])
            raise write_error(exc, path, False) from None
    return missing


def _remove_dirs(created: list[Path]) -> None:
    for path in created:  # innermost first
        try:
            path.rmdir()
        except OSError:
            pass


def _make_temp_dir(parent: Path, name: str) -> Path:
    tmp = temp_path(parent, name)
    tmp.mkdir()
    return tmp


def check_output_dir(target: Path, overwrite: bool) -> None:
    """Refuse an existing output that is a file, or a non-empty folder without ``overwrite``,
    or the folder the command runs in (it is replaced as a whole)."""
    restore_interrupted(target)
    if not target.exists():
        return
    if not target.is_dir():
        raise CaseError(f"output {target} exists and is not a directory")
    if _cwd().is_relative_to(target):
        raise CaseError(f"output directory {target} is (or contains) the current directory; "
                        f"netsolve replaces the folder as a whole: run it from another folder")
    if overwrite or not any(target.iterdir()):
        return
    if is_netsolve_folder(target):
        raise CaseError(f"output directory {target} holds a netsolve result; pass --overwrite "
                        f"to replace it (files netsolve did not write there are kept)")
    raise CaseError(f"output directory {target} is not empty and not a netsolve result; choose "
                    f"another -o, or pass --overwrite to add the result to it (its files are "
                    f"kept)")


def _cwd() -> Path:
    try:
        return Path.cwd().resolve()
    except OSError:  # the current folder was deleted: it cannot be the target
        return Path("/nonexistent-current-directory")


class atomic_directory:
    """Context manager: yields a temporary directory that takes the place of ``target`` on
    success (see the module doc); an existing non-empty ``target`` needs ``overwrite``."""

    def __init__(self, target: str | Path, *, overwrite: bool = False):
        self.target = Path(target)
        self.overwrite = overwrite
        self.tmp: Path | None = None
        self.created: list[Path] = []
        self.existed = False

    def __enter__(self) -> Path:
        self.target = target = output_path(self.target)
        remove_stale(target.parent)  # first: it may move a parked result back under its name
        check_output_dir(target, self.overwrite)
        self.existed = target.exists()
        self.created = _make_dirs(target.parent)
        try:
            self.tmp = _make_temp_dir(target.parent, target.name)
        except OSError as exc:
            _remove_dirs(self.created)
            raise write_error(exc, target, self.existed) from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            try:
                self._commit()
                return False
            except BaseException as failure:
                exc = failure
        with signals_deferred():
            shutil.rmtree(self.tmp, ignore_errors=True)
            _remove_dirs(self.created)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise write_error(exc, self.target, self.existed) from None
        if exc_type is None:
            raise exc
        return False

    def _commit(self) -> None:
        tmp, target = self.tmp, self.target
        (tmp / MANIFEST).write_text(manifest_text(files_below(tmp)))
        if target.exists():
            remove_stale(target)  # e.g. an `export` into the old result killed half-way
            busy = {p.name for p in target.iterdir() if _TEMP.match(p.name)}
            carry_user_files(target, tmp, owned_files(target) | busy)
            os.chmod(tmp, stat.S_IMODE(target.stat().st_mode))
        pause_point("commit")
        with signals_deferred():
            if not target.exists():
                os.rename(tmp, target)
                return
            if not exchange(tmp, target):
                tmp = _two_renames(tmp, target)
            pause_point("exchanged")
            shutil.rmtree(tmp, ignore_errors=True)


def _two_renames(new: Path, target: Path) -> Path:
    """The fallback of :func:`exchange`: park ``target``, move ``new`` in; return where the old
    result is parked. Dying in between leaves the parked result for :func:`remove_stale` /
    :func:`restore_interrupted` to move back."""
    old = temp_path(target.parent, target.name, "old")
    os.rename(target, old)
    pause_point("renamed-aside")
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(old, target)
        raise
    return old


@contextmanager
def staged_files(folder: str | Path, *, overwrite: bool = False, expected=()):
    """Yield a temporary folder inside ``folder``; on success move every file in it into
    ``folder`` and list them in its manifest, on failure delete it: files are added whole or
    not at all. A file of the same name that netsolve did not write is refused unless
    ``overwrite`` (``expected``: the names to check before anything is written)."""
    folder = output_path(folder)
    if folder.exists() and not folder.is_dir():
        raise CaseError(f"output {folder} exists and is not a directory")
    _refuse_foreign(folder, expected, overwrite)
    created = _make_dirs(folder)
    remove_stale(folder)
    try:
        tmp = _make_temp_dir(folder, "export")
    except OSError as exc:
        _remove_dirs(created)
        raise write_error(exc, folder, False) from None
    try:
        yield tmp
        names = sorted(p.name for p in tmp.iterdir())
        _refuse_foreign(folder, names, overwrite)
        owned = owned_files(folder)
        with signals_deferred():
            _write_replacing(folder / MANIFEST, manifest_text(owned | set(names)))
            for name in names:
                os.replace(tmp / name, folder / name)
            tmp.rmdir()
    except BaseException as exc:
        with signals_deferred():
            shutil.rmtree(tmp, ignore_errors=True)
            _remove_dirs(created)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise write_error(exc, folder, False) from None
        raise


def _refuse_foreign(folder: Path, names, overwrite: bool) -> None:
    if not folder.is_dir():
        return
    owned = owned_files(folder)
    for name in names:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            raise CaseError(f"{path} is a directory; netsolve will not replace it")
        if os.path.lexists(path) and name not in owned and not overwrite:
            raise CaseError(f"{path} exists and was not written by netsolve; pass --overwrite "
                            f"to replace it")


def _write_replacing(path: Path, text: str) -> None:
    tmp = temp_path(path.parent, path.name)
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


@contextmanager
def atomic_file(path: str | Path, *, overwrite: bool = False):
    """Yield a temporary path whose file replaces ``path`` on success. An existing non-empty
    ``path`` is refused unless ``overwrite``; the folder must exist."""
    given = path
    path = output_path(path)
    if path.is_dir() or not path.parent.is_dir():
        raise CaseError(f"-o {given}: expected a file in an existing folder")
    if path.exists() and path.stat().st_size > 0 and not overwrite:
        raise CaseError(f"{given} exists; pass --overwrite to replace it")
    remove_stale(path.parent)
    try:
        tmp = _make_temp_dir(path.parent, path.name)
    except OSError as exc:
        raise write_error(exc, path, False) from None
    existed = path.exists()
    try:
        yield tmp / path.name
        with signals_deferred():
            os.replace(tmp / path.name, path)
            tmp.rmdir()
    except BaseException as exc:
        with signals_deferred():
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in _WRITE_ERRNOS:
            raise write_error(exc, path, existed) from None
        raise

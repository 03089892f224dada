"""Files of a sweep folder: atomic writes, write failures as one line, content fingerprints.

Every file netsolve writes into a sweep folder (except the appended ``sweep.csv``, see
``store.py``) is written under a temporary name in the same folder, fsync'd and renamed, so a
crash, a full disk or a read-only mount leaves the previous file or none, never half of one.
OSError while writing (ENOSPC, EROFS, EACCES, EFBIG) becomes :class:`SweepWriteError`: one
line naming the file and the reason.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from contextlib import contextmanager
from pathlib import Path

from ..errors import CaseError


class SweepWriteError(CaseError):
    """The sweep folder cannot be written (disk full, read-only, no permission): the sweep
    stops (it is not a failure of one point)."""


def write_failure(path: Path, exc: OSError, advice: str = "") -> SweepWriteError:
    reason = exc.strerror or str(exc)
    return SweepWriteError(f"{path}: cannot write ({reason}){'; ' + advice if advice else ''}")


@contextmanager
def writing(path: Path, advice: str = ""):
    """OSError inside the block becomes a :class:`SweepWriteError` naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise write_failure(path, exc, advice) from None


def fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a written file (or a folder's entries) to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path next to ``path`` to write; on success it is fsync'd and renamed
    to ``path``, on any failure removed."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with writing(path):
            yield tmp
            fsync_path(tmp)
            os.replace(tmp, path)
            fsync_path(path.parent, directory=True)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "xb") as stream:
            stream.write(data)


def file_sha256(path: Path, what: str) -> str:
    """SHA-256 of a regular file's contents (``what`` names the file in errors); a special
    file (FIFO, device, folder) is refused before it is opened, so it cannot block."""
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise CaseError(f"{what}: not a regular file ({path})")
        with open(path, "rb") as stream:
            return hashlib.file_digest(stream, "sha256").hexdigest()
    except FileNotFoundError:
        raise CaseError(f"{what}: input file not found ({path})") from None
    except OSError as exc:
        raise CaseError(f"{what}: cannot read ({exc.strerror or exc})") from None

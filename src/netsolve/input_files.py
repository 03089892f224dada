"""Opening user files safely: the checks every reader makes before it reads, in one place.

- **Only regular files.** A FIFO, a device, a socket or a directory is refused from ``os.stat``
  alone, before anything opens it (opening a FIFO blocks until a writer appears; reading
  ``/dev/zero`` never ends); a symbolic-link loop or a dangling link likewise.
- **Bounded reads.** Text inputs (case files, CSV, GeoJSON) are read whole, so their size is
  bounded first; nesting depth of parsed TOML/JSON is bounded (deep nesting is a RecursionError
  in the parsers and in every walker after them).
- **Bounded decoding.** A ``.npy`` header, or the header of a ``.npz`` member, is checked against
  the expected array shape before any data is read; a ``.npz`` member's declared uncompressed
  size must match its header (a zip bomb is refused without inflating it); an image's pixel
  count is checked by the reader before decoding (Pillow's decompression-bomb limit is a clear
  error here).

Every problem is a :class:`CaseError` ``<file name>: <what is wrong>``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import struct
import tomllib
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from .errors import CaseError

if TYPE_CHECKING:  # NumPy loads lazily (the CLI imports this before its signal handlers)
    import numpy as np

MiB = 1 << 20
# Case files are small (a thousand [[grains]] entries are ~100 kB); data tables (orientation CSV,
# polygon tracings) may hold a large map's grains. A text input is held in memory whole and
# parsed into Python objects (~10x its size), so the limit bounds the parse as well.
TEXT_LIMITS = {"case file": 16 * MiB}
DEFAULT_TEXT_LIMIT = 256 * MiB
MAX_NESTING = 32  # tables/arrays/objects; a case or a GeoJSON needs fewer than 10
NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
NPY_MAX_HEADER = 10_000  # numpy's own limit for an untrusted header
# Errors a third-party decoder (Pillow, zipfile/zlib, numpy's header parser) raises on a damaged
# or hostile file. CaseError is a ValueError: it is re-raised before these are caught.
DECODER_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, zlib.error,
                  KeyError, IndexError, TypeError, NotImplementedError, RuntimeError,
                  zipfile.BadZipFile, ZeroDivisionError)


# --------------------------------------------------------------------------- any file


def _kind(mode: int) -> str | None:
    """What a non-regular file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def reason(exc: BaseException, limit: int = 200) -> str:
    """A library's exception text as a short single line (numpy's and Pillow's span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def regular_file(path: Path, what: str) -> os.stat_result:
    """``os.stat`` of an input file that must be a regular file (links followed); anything else
    is a CaseError naming the file. Never opens the file."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise CaseError(f"{path.name}: {what} is a symbolic link to a missing file "
                            f"({path} -> {os.readlink(path)})") from None
        raise CaseError(f"{path.name}: {what} not found ({path})") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CaseError(f"{path.name}: {what} is a symbolic link loop ({path})") from None
        raise CaseError(f"{path.name}: cannot read {what} ({exc.strerror})") from None
    kind = _kind(info.st_mode)
    if kind is not None:
        raise CaseError(f"{path.name}: {what} is {kind}, not a regular file ({path})")
    return info


def input_path(base_dir: Path, text: str) -> Path:
    """An input file named in a case file: absolute, relative to the case file's folder.
    Symbolic links are not resolved here (a link loop is reported when the file is read)."""
    return Path(os.path.abspath(Path(base_dir) / text))


@contextmanager
def opened(path: Path, what: str) -> Iterator:
    """A regular input file opened for binary reading. The open does not block (O_NONBLOCK), and
    the opened file is checked again, so a file swapped for a FIFO after the check is refused."""
    regular_file(path, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise CaseError(f"{Path(path).name}: cannot read {what} ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as stream:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise CaseError(f"{Path(path).name}: {what} is {kind}, not a regular file")
        os.set_blocking(fd, True)
        yield stream


def read_bytes(path: Path, what: str, limit: int | None = None) -> bytes:
    """The whole content of a regular input file of at most ``limit`` bytes."""
    path = Path(path)
    limit = limit or TEXT_LIMITS.get(what, DEFAULT_TEXT_LIMIT)
    size = regular_file(path, what).st_size
    if size <= limit:
        with opened(path, what) as stream:
            try:
                data = stream.read(limit + 1)  # also bounds files whose st_size lies (/proc)
            except OSError as exc:
                raise CaseError(f"{path.name}: cannot read {what} ({exc.strerror})") from None
        size = len(data)
    if size > limit:
        raise CaseError(f"{path.name}: {what} is larger than {limit // MiB} MiB, the most "
                        f"netsolve reads of it ({size} bytes)")
    return data


def read_text(path: Path, what: str, encoding: str = "utf-8-sig") -> str:
    """A text input file (UTF-8, an optional BOM); errors name the file."""
    path = Path(path)
    data = read_bytes(path, what)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise CaseError(f"{path.name}: {what} is not UTF-8 text (byte 0x{data[exc.start]:02x} "
                        f"on line {line})") from None


# --------------------------------------------------------------------------- TOML, JSON


def nesting_depth(data, limit: int = MAX_NESTING) -> int:
    """Depth of nested dicts/lists (iterative; stops counting above ``limit``)."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if depth > limit:
                return depth
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children
                         if isinstance(child, (dict, list)))
    return deepest


def _parse(loads, text: str, file: str, language: str):
    """``loads(text)`` (tomllib or json) with every failure a CaseError naming ``file``."""
    try:
        data = loads(text)
    except RecursionError:
        raise CaseError(f"{file}: {language} nested too deeply (more than {MAX_NESTING} levels "
                        f"are refused)") from None
    except ValueError as exc:  # also int() of more than 4300 digits, a limit of Python's own
        raise CaseError(f"{file}: not valid {language} ({reason(exc)})") from None
    if nesting_depth(data) > MAX_NESTING:
        raise CaseError(f"{file}: {language} nested more than {MAX_NESTING} levels deep")
    return data


def read_toml(path: Path, what: str = "case file") -> dict:
    """A TOML file as a dict; invalid TOML, too deep nesting and every read error name it."""
    path = Path(path)
    return _parse(tomllib.loads, read_text(path, what), path.name, "TOML")


def parse_json(text: str, file: str):
    """JSON text of the file ``file``; invalid JSON, too deep nesting and numbers Python cannot
    hold (an integer of more than 4300 digits) are CaseErrors naming the file."""
    return _parse(json.loads, text, file, "JSON")


# --------------------------------------------------------------------------- .npy / .npz


def _shape_text(shape) -> str:
    return str([int(n) for n in shape])


def _array_header(stream, where: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, header length) of the .npy data at the stream's position;
    ``where`` starts every message (file, or file and member)."""
    import numpy as np  # lazily: the CLI loads this module before installing its handlers
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(stream, max_header_size=NPY_MAX_HEADER)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(stream, max_header_size=NPY_MAX_HEADER)
        else:
            raise CaseError(f"{where} uses .npy format version {version[0]}.{version[1]} "
                            f"(structured data), not a plain numeric array")
    except (CaseError, zipfile.BadZipFile):  # a damaged archive member: the caller says so
        raise
    except DECODER_ERRORS as exc:
        raise CaseError(f"{where} is not a valid .npy array ({reason(exc)})") from None
    if dtype.hasobject:
        raise CaseError(f"{where} holds Python objects (dtype {dtype}): pickled data is never "
                        f"loaded; save a plain numeric array")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise CaseError(f"{where} has a structured dtype ({dtype}), not a plain numeric array")
    return tuple(shape), fortran, dtype, stream.tell()


def _check_shape(where: str, found: tuple[int, ...], shape: tuple[int, ...], kind: str) -> None:
    if tuple(found) != tuple(shape):
        raise CaseError(f"{where}: {kind} has shape {_shape_text(found)}, but grid.shape is "
                        f"{_shape_text(shape)}")


def load_array(path: Path, what: str, shape: tuple[int, ...], kind: str, *,
               choose: Callable[[list[str]], str] | None = None) -> np.ndarray:
    """An array of ``shape`` from a .npy file, or from one member of a .npz archive when
    ``choose`` is given (it gets the member names and returns one, or raises); ``kind`` names
    the array in messages ("label array"). Everything is checked before the data is read: a
    regular, non-empty file; a valid header without objects; the shape; the data present in
    full; for a .npz, a readable archive, an unencrypted member whose declared uncompressed size
    is what its header announces. Never unpickles."""
    path = Path(path)
    info = regular_file(path, what)
    if info.st_size == 0:
        raise CaseError(f"{path.name}: {what} is empty (0 bytes)")
    with opened(path, what) as stream:
        start = stream.read(len(NPY_MAGIC))
        stream.seek(0)
        if start.startswith(NPY_MAGIC):
            return _read_npy(stream, path, info.st_size, shape, kind)
        if start[:4] in ZIP_MAGICS:
            if choose is None:
                raise CaseError(f"{path.name}: {what} must be a plain .npy array, not a .npz "
                                f"archive")
            return _read_npz_member(stream, path, shape, kind, choose)
    raise CaseError(f"{path.name}: {what} is not a .npy array or .npz archive (it starts "
                    f"with {start[:8]!r})")


def _read_npy(stream, path: Path, size: int, shape, kind: str) -> np.ndarray:
    import numpy as np  # lazily: the CLI loads this module before installing its handlers
    where = path.name
    found, fortran, dtype, offset = _array_header(stream, where)
    _check_shape(where, found, shape, kind)
    need = math.prod(found) * dtype.itemsize
    if offset + need > size:
        raise CaseError(f"{where}: truncated: the header announces {need} bytes of array data, "
                        f"the file holds {size - offset}")
    stream.seek(0)
    try:
        return np.lib.format.read_array(stream, allow_pickle=False)
    except DECODER_ERRORS as exc:
        raise CaseError(f"{where}: cannot read the array data ({reason(exc)})") from None


def _read_npz_member(stream, path: Path, shape, kind: str, choose) -> np.ndarray:
    import numpy as np  # lazily: the CLI loads this module before installing its handlers
    try:
        archive = zipfile.ZipFile(stream)
    except DECODER_ERRORS as exc:
        raise CaseError(f"{path.name}: not a readable .npz (zip) archive ({reason(exc)}): truncated or "
                        f"damaged?") from None
    with archive:
        members = {(n[:-4] if n.endswith(".npy") else n): n for n in archive.namelist()}
        if not members:
            raise CaseError(f"{path.name}: the .npz archive holds no array")
        name = choose(list(members))
        member = archive.getinfo(members[name])
        where = f"{path.name}, array '{name}'"
        if member.flag_bits & 0x1:
            raise CaseError(f"{where}: the member is encrypted; save it with numpy.savez")
        try:
            with archive.open(member) as data:  # a small member is read whole: CRC checked
                found, fortran, dtype, offset = _array_header(data, where)
                _check_shape(where, found, shape, kind)
                need = offset + math.prod(found) * dtype.itemsize
                if member.file_size != need:
                    raise CaseError(f"{where}: the archive declares {member.file_size} bytes "
                                    f"uncompressed, but the array header announces {need}: "
                                    f"not an array written by numpy (a zip bomb?)")
        except CaseError:
            raise
        except zipfile.BadZipFile as exc:
            raise CaseError(f"{where}: damaged .npz member ({reason(exc)})") from None
        except DECODER_ERRORS as exc:
            raise CaseError(f"{where}: cannot read the member ({reason(exc)})") from None
        try:
            with archive.open(member) as data:
                array = np.lib.format.read_array(data, allow_pickle=False)
                data.read()  # to the end: zipfile checks the CRC there
        except DECODER_ERRORS as exc:
            raise CaseError(f"{where}: damaged .npz member ({reason(exc)})") from None
    return array


# --------------------------------------------------------------------------- images


@contextmanager
def open_image(path: Path, what: str) -> Iterator:
    """A Pillow image opened lazily (header only). Decoding errors in the ``with`` body, and
    Pillow's decompression-bomb limit, become one CaseError naming the file; the reader checks
    the pixel count against the grid before it decodes."""
    from PIL import Image

    path = Path(path)
    regular_file(path, what)
    with warnings.catch_warnings():
        # Below Image.MAX_IMAGE_PIXELS x 2 Pillow only warns (the reader bounds the size
        # itself); its other warnings ("Corrupt EXIF data") come with a damaged file that
        # either fails to decode (then that is the error) or decodes to checked values.
        warnings.simplefilter("ignore")
        try:
            with opened(path, what) as stream, Image.open(stream) as image:
                yield image
        except CaseError:
            raise
        except Image.DecompressionBombError as exc:
            raise CaseError(f"{path.name}: {what} is too large to decode safely ({reason(exc)})") from None
        except DECODER_ERRORS as exc:
            raise CaseError(f"{path.name}: not a readable PNG/TIFF image "
                            f"({type(exc).__name__}: {reason(exc)})") from None

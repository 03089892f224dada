"""The corpus of hostile inputs run by ``adversarial.py`` (and sampled by
``tests/test_hostile_inputs.py``): one generator function per class, listed in :data:`CLASSES`;
:func:`judge` says whether the CLI handled an input."""

from __future__ import annotations

import os
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from hostile_files import npy, npy_header, npz, patched_npz, png, png_chunk, tiff, tiff_loop

TIMEOUT_S = 10.0
SHAPE = (12, 8)
LABELS = np.where(np.arange(SHAPE[0])[:, None] < SHAPE[0] // 2, 1, 2) * np.ones(SHAPE, np.int32)


# --------------------------------------------------------------------------- the corpus


@dataclass(frozen=True)
class Hostile:
    """One input. ``build(folder)`` writes its files and returns the path given to the CLI
    (None: ``folder / "case.toml"``). ``words`` must appear in the error line. ``valid``
    inputs must succeed instead."""

    name: str
    build: Callable[[Path], Path | None]
    words: tuple[str, ...] = ()
    valid: bool = False
    command: str = "run"
    args: tuple[str, ...] = ()


def case_text(micro: str = 'source = "uniform"', *, shape=SHAPE, grid: str = "voxel_size_nm = 10.0",
              materials: str = "", electrodes: str | None = None, tail: str = "",
              model: str = "isotropic") -> str:
    if electrodes is None:
        electrodes = ('[[electrodes]]\nname = "a"\nregion = "left"\npotential_V = 1.0\n\n'
                      '[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n')
    return (f"[grid]\nshape = {list(shape)}\n{grid}\n\n[microstructure]\n{micro}\n\n"
            f'[materials]\nconductivity_model = "{model}"\n{materials}\n\n{electrodes}\n'
            f"[output]\nfigures = false\nformats = []\n\n{tail}")


def write(folder: Path, name: str, data: bytes | str) -> Path:
    path = folder / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def with_case(text: str, **files: bytes | str) -> Callable[[Path], None]:
    """A builder writing case.toml and the given data files (names with dots as keyword
    arguments are passed through a dict)."""
    def build(folder: Path) -> None:
        write(folder, "case.toml", text)
        for name, data in files.items():
            write(folder, name, data)
    return build


def labels_case(name: str = "labels.npy", extra: str = "") -> str:
    return case_text(f'source = "labels"\npath = "{name}"{extra}')


def grey_image() -> np.ndarray:
    """LABELS as an 8-bit image (rows from the top)."""
    return LABELS.T[::-1].astype(np.uint8).copy()


# --------------------------------------------------------------------------- the classes


def case_values() -> list[Hostile]:
    """Out-of-range, non-finite and ill-conditioned case values; set-ups that drive nothing."""
    out = []

    def bad(name, words, **parts):
        out.append(Hostile(name, with_case(case_text(**parts)), words))

    for value in ("1e-300", "0.0", "-1.0", "1e300", "nan", "inf"):
        bad(f"voxel_size_nm = {value}", ("case.toml", "grid.voxel_size_nm"),
            grid=f"voxel_size_nm = {value}")
    for value in ("1e-300", "1e300"):
        bad(f"thickness_nm = {value}", ("case.toml", "grid.thickness_nm"),
            grid=f"voxel_size_nm = 10.0\nthickness_nm = {value}")
    materials = {"sigma_ip_S_per_m": ("1e-300", "1e300", "0.0", "-inf", "9223372036854775807"),
                 "ratio_ip_op": ("1e12", "1e-12", "nan"), "ratio_ip_gb": ("1e12", "1e-12"),
                 "ratio_ip_backbone": ("1e20", "1e-20"), "gb_thickness_nm": ("1e-300", "1e300",
                                                                            "-1.0"),
                 "asr_ct_ohm_m2": ("1e300", "-1.0", "inf")}
    for key, values in materials.items():
        for value in values:
            bad(f"{key} = {value}", ("case.toml", f"materials.{key}"),
                materials=f"{key} = {value}")
    contrast = {"ratio_ip_op 1e6 with backbone 1e-6": "ratio_ip_op = 1e6\nratio_ip_backbone "
                                                      "= 1e-6",
                "GB 1e8 x 1 um thick on 1 nm voxels": "ratio_ip_gb = 1e8\ngb_thickness_nm = 1e3",
                "ASR 1e3 ohm m^2 with sigma 1e6": "asr_ct_ohm_m2 = 1e3\nsigma_ip_S_per_m = 1e6"}
    for name, text in contrast.items():
        bad(f"contrast: {name}", ("case.toml", "span a factor"), grid="voxel_size_nm = 1.0",
            materials=text, model="tensor")

    def electrodes(*entries):
        return "\n".join(f'[[electrodes]]\nname = "e{k}"\nregion = "{side}"\n{drive}\n'
                         for k, (side, drive) in enumerate(entries))

    drives = {
        "potentials 1e9 and 1e9 + 1": ((("left", "potential_V = 1e9"), ("right", "potential_V = "
                                        "1000000001.0")), "electrodes[0].potential_V"),
        "potential 1e300": ((("left", "potential_V = 1e300"), ("right", "potential_V = 0.0")),
                            "electrodes[0].potential_V"),
        "potentials 1e5 and 1e5 + 1e-4": ((("left", "potential_V = 1e5"),
                                           ("right", "potential_V = 100000.0001")),
                                          "fixed potentials differ"),
        "equal potentials": ((("left", "potential_V = 0.5"), ("right", "potential_V = 0.5")),
                             "no current would flow"),
        "0 A and one fixed potential": ((("left", "potential_V = 0.0"), ("right",
                                         "current_A = 0.0")), "no current would flow"),
        "0 A everywhere, equal potentials": ((("left", "potential_V = 1.0"), ("right",
                                              "potential_V = 1.0"), ("top", "current_A = 0.0")),
                                             "no current would flow"),
        "current 1e-300 A": ((("left", "potential_V = 0.0"), ("right", "current_A = 1e-300")),
                             "electrodes[1].current_A"),
        "current 1e300 A": ((("left", "potential_V = 0.0"), ("right", "current_A = 1e300")),
                            "electrodes[1].current_A"),
        "current nan": ((("left", "potential_V = 0.0"), ("right", "current_A = nan")),
                        "electrodes[1].current_A"),
        "electrode ASR 1e10": ((("left", "potential_V = 0.0\nasr_ohm_m2 = 1e10"),
                                ("right", "potential_V = 1.0")), "electrodes[0].asr_ohm_m2"),
    }
    for name, (entries, word) in drives.items():
        bad(name, ("case.toml", word), electrodes=electrodes(*entries))
    for key, value in (("max_memory_GB", "0.0"), ("max_memory_GB", "-1.0"),
                       ("max_memory_GB", "nan")):
        bad(f"solver.{key} = {value}", ("case.toml", f"solver.{key}"),
            tail=f"[solver]\n{key} = {value}\n")
    for key, value in (("mean_grain_size_nm", "1e-300"), ("zro2_radius_nm", "1e300")):
        bad(f"voronoi {key} = {value}", ("case.toml", f"microstructure.{key}"),
            micro=f'source = "voronoi"\n{key} = {value}'
                  + ("\nn_grains = 4\nzro2_fraction = 0.1" if key == "zro2_radius_nm" else ""))
    bad("frame_width_nm = 1e300", ("case.toml", "frame_width_nm"),
        micro='source = "uniform"\n\n[[microstructure.regions]]\nphase = "backbone"\n'
              'frame_width_nm = 1e300')
    bad("band_width_nm = 1e300", ("case.toml", "analysis.band_width_nm"),
        tail="[analysis]\nband_width_nm = 1e300\n")
    out.append(Hostile("--max-memory nan", with_case(case_text()), ("--max-memory",),
                       args=("--max-memory", "nan")))
    # valid: extreme but inside the ranges; a current-free probe electrode
    out.append(Hostile("valid: probe electrode at 0 A", with_case(case_text(
        electrodes=electrodes(("left", "potential_V = 1.0"), ("right", "potential_V = 0.0"),
                              ("top", "current_A = 0.0")))), valid=True))
    out.append(Hostile("valid: potentials 1e6 and -1e6, sigma 1e-15", with_case(case_text(
        materials="sigma_ip_S_per_m = 1e-15", electrodes=electrodes(
            ("left", "potential_V = 1e6"), ("right", "potential_V = -1e6")))), valid=True))
    out.append(Hostile("valid: ratio_ip_gb 1e6, voxel 1 nm", with_case(case_text(
        grid="voxel_size_nm = 1.0", materials="ratio_ip_gb = 1e6")), valid=True))
    return out


def toml_files() -> list[Hostile]:
    """Case files that are not TOML, or TOML nested or sized beyond reason."""
    good = case_text()
    cases = {
        "deeply nested arrays": ("a = " + "[" * 100_000 + "]" * 100_000 + "\n" + good,
                                 "nested too deeply"),
        "deeply nested inline tables": ("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n" + good,
                                        "nested too deeply"),
        "40 nested tables": ("[" + ".".join(["t"] * 40) + "]\nx = 1\n" + good,
                             "nested more than"),
        "truncated in a string": (good[:good.index('"uniform"') + 4], "not valid TOML"),
        "empty file": ("", "missing key 'grid'"),
        "binary garbage": (bytes(range(256)) * 8, "not UTF-8"),
        "invalid UTF-8 in a comment": (good.encode() + b"# caf\xe9\n", "not UTF-8"),
        "UTF-16": (good.encode("utf-16"), "not UTF-8"),
        "NUL byte": (good.replace("[grid]", "[grid]\x00"), "not valid TOML"),
        "17 MiB of comments": (("#" + "x" * 1023 + "\n") * (17 * 1024) + good, "larger than"),
        "duplicate key": (good.replace("voxel_size_nm = 10.0",
                                       "voxel_size_nm = 10.0\nvoxel_size_nm = 5.0"),
                          "not valid TOML"),
        "a 5000-digit integer": (good.replace("voxel_size_nm = 10.0",
                                              "voxel_size_nm = " + "9" * 5000),
                                 "not valid TOML"),
    }
    return [Hostile(name, with_case(text), ("case.toml", word)) for name, (text, word)
            in cases.items()]


SPECIAL_ROLES = {  # role: (file name, case text using it)
    "case file": ("case.toml", None),
    "label .npy": ("labels.npy", labels_case()),
    "label .tif": ("labels.tif", labels_case("labels.tif")),
    "image .png": ("grains.png", case_text('source = "image"\npath = "grains.png"')),
    "orientation .csv": ("orient.csv", labels_case(extra='\norientations = "orient.csv"')),
    "polygons .geojson": ("grains.geojson", case_text('source = "polygons"\n'
                                                      'path = "grains.geojson"')),
    "polygons .csv": ("grains.csv", case_text('source = "polygons"\npath = "grains.csv"')),
    "electrode mask": ("contact.npy", case_text(electrodes=(
        '[[electrodes]]\nname = "a"\nregion = { mask = "contact.npy" }\npotential_V = 1.0\n\n'
        '[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n'))),
    "region mask": ("pores.npy", case_text('source = "uniform"\n\n[[microstructure.regions]]\n'
                                           'phase = "void"\nmask = "pores.npy"')),
    "orientation map .ang": ("map.ang", case_text('source = "ebsd"\npath = "map.ang"')),
}


def special_files() -> list[Hostile]:
    """FIFOs, directories, devices, symlink loops and dangling links in every file role."""
    def make(kind: str, target: Path) -> None:
        if kind == "FIFO":
            os.mkfifo(target)
        elif kind == "directory":
            target.mkdir()
        elif kind == "character device":
            target.symlink_to("/dev/zero")
        elif kind == "symlink loop":
            target.symlink_to(target.name + ".other")
            target.with_name(target.name + ".other").symlink_to(target.name)
        else:
            target.symlink_to(target.name + ".missing")

    kinds = {"FIFO": "named pipe", "directory": "a directory",
             "character device": "character device", "symlink loop": "symbolic link loop",
             "dangling link": "missing file"}
    out = []
    for role, (name, text) in SPECIAL_ROLES.items():
        for kind, word in kinds.items():
            def build(folder: Path, name=name, text=text, kind=kind) -> Path:
                if text is not None:
                    write(folder, "case.toml", text)
                if name != "labels.npy":
                    write(folder, "labels.npy", npy(LABELS))
                make(kind, folder / name)
                return folder / "case.toml"
            out.append(Hostile(f"{role} is a {kind}", build, (name, word)))
    return out


def npy_files() -> list[Hostile]:
    """Damaged, hostile or out-of-range .npy label arrays and masks."""
    good = npy(LABELS)
    header = npy_header("<i4", SHAPE)
    wide = LABELS.astype(np.int64)
    wide[3, 2] = 2**32 + 1  # wraps onto grain 1 when cast to int32
    cases = {
        "empty file": (b"", "empty"),
        "magic only": (b"\x93NUMPY", "not a valid .npy"),
        "header cut": (good[:20], "not a valid .npy"),
        "data cut": (good[:-40], "truncated"),
        "header only": (header, "truncated"),
        "header claims 1e12 elements": (npy_header("<i4", (1_000_000, 1_000_000)), "shape"),
        "header claims 2^62 x 2^62": (npy_header("<i8", (2**62, 2**62)), "shape"),
        "object dtype (pickle)": (npy_header("|O", SHAPE) + b"\x80\x04K\x01.", "Python objects"),
        "structured dtype": (npy_header([("a", "<i4")], SHAPE) + bytes(4 * 96), "structured"),
        "float labels": (npy(LABELS.astype(float)), "integer"),
        "label 2^32 + 1 in int64": (npy(wide), "int32"),
        "uint64 maximum": (npy(np.full(SHAPE, 2**64 - 1, np.uint64)), "int32"),
        "label -2^40": (npy(np.full(SHAPE, -(2**40), np.int64)), "int32"),
        "bad magic": (b"\x93NUMPX" + good[6:], "not a .npy"),
        "format version 3.0": (good[:6] + b"\x03\x00" + good[8:], "version 3.0"),
        "header of 70 kB": (b"\x93NUMPY\x02\x00" + struct.pack("<I", 70_000) + b" " * 70_000,
                            "not a valid .npy"),
        "text file": (b"1,2,3\n4,5,6\n", "not a .npy"),
        "wrong shape": (npy(LABELS[:-1]), "grid.shape"),
    }
    out = [Hostile(f"labels: {name}", with_case(labels_case(), **{"labels.npy": data}),
                   ("labels.npy", word)) for name, (data, word) in cases.items()]
    mask_case = SPECIAL_ROLES["electrode mask"][1]
    for name in ("empty file", "data cut", "object dtype (pickle)", "header claims 1e12 elements"):
        data, word = cases[name]
        out.append(Hostile(f"mask: {name}", with_case(mask_case, **{"contact.npy": data}),
                           ("contact.npy", word)))
    out.append(Hostile("mask: an .npz", with_case(mask_case, **{"contact.npy": npz(
        {"m.npy": npy(np.ones(SHAPE, bool))})}), ("contact.npy", "plain .npy")))
    out.append(Hostile("valid: Fortran-order big-endian labels", with_case(
        labels_case(), **{"labels.npy": npy(np.asfortranarray(LABELS.astype(">i2")))}),
        valid=True))
    return out


def npz_files() -> list[Hostile]:
    """Damaged, encrypted, pickled and zip-bomb .npz archives."""
    member = npy(LABELS)
    good = npz({"labels.npy": member})
    stored = npz({"labels.npy": member}, zipfile.ZIP_STORED)

    def flip_data(raw, info):  # one byte of the stored member's data: a CRC mismatch
        raw[info.header_offset + 30 + len(info.filename) + len(member) - 10] ^= 0xFF

    def encrypt(raw, info):  # the "encrypted" flag in both headers
        raw[info.header_offset + 6] |= 1
        central = raw.rindex(b"PK\x01\x02")
        raw[central + 8] |= 1

    def declare(size):
        def patch(raw, info):
            struct.pack_into("<I", raw, info.header_offset + 22, size)
            struct.pack_into("<I", raw, raw.rindex(b"PK\x01\x02") + 24, size)
        return patch

    def method(number):
        def patch(raw, info):
            struct.pack_into("<H", raw, info.header_offset + 8, number)
            struct.pack_into("<H", raw, raw.rindex(b"PK\x01\x02") + 10, number)
        return patch

    bomb_zeros = np.zeros(50_000_000, np.uint8).tobytes()  # 50 MB -> 50 kB deflated
    cases = {
        "truncated": (good[: len(good) // 2], "not a readable .npz"),
        "bad CRC": (patched_npz(stored, flip_data), "damaged"),
        "encrypted member": (patched_npz(good, encrypt), "encrypted"),
        "raw pickle member": (npz({"labels.npy": b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00"
                                                 b"K\x01K\x02\x86\x94."}), "not a valid .npy"),
        "object-dtype member": (npz({"labels.npy": npy_header("|O", SHAPE) + b"\x80\x04N."}),
                                "Python objects"),
        "declares 4 GB uncompressed": (patched_npz(stored, declare(4_000_000_000)), "zip bomb"),
        "bomb: 50 MB of zeros after the array": (npz({"labels.npy": member + bomb_zeros}),
                                                 "zip bomb"),
        "bomb: header claims 50 MB": (npz({"labels.npy": npy_header("|u1", (50_000_000,))
                                           + bomb_zeros}), "shape"),
        "unsupported compression": (patched_npz(good, method(99)), "cannot read"),
        "empty archive": (npz({}), "holds no array"),
        "two arrays, no choice": (npz({"a.npy": member, "b.npy": member}), "microstructure.array"),
        "member float": (npz({"labels.npy": npy(LABELS.astype(np.float32))}), "integer"),
        "member int64 beyond int32": (npz({"labels.npy": npy(LABELS.astype(np.int64) << 33)}),
                                      "int32"),
        "zip header, garbage after": (b"PK\x03\x04" + bytes(200), "not a readable .npz"),
        "declares 50 bytes less": (patched_npz(stored, declare(len(member) - 50)), "damaged"),
    }
    out = [Hostile(f"npz: {name}", with_case(labels_case("labels.npz"), **{"labels.npz": data}),
                   ("labels.npz", word)) for name, (data, word) in cases.items()]
    out.append(Hostile("valid: npz", with_case(labels_case("labels.npz"),
                                                **{"labels.npz": good}), valid=True))
    return out


def image_files() -> list[Hostile]:
    """Damaged and oversized PNG/TIFF label maps."""
    image_case = case_text('source = "image"\npath = "grains.png"')
    tif_case = labels_case("labels.tif")
    nx, ny = SHAPE
    good = png(nx, ny)
    cases = {
        "truncated": (good[:-30], "not a readable"),
        "bad CRC": (good[:40] + bytes([good[40] ^ 0xFF]) + good[41:], "not a readable"),
        "header claims 100000 x 100000": (png(100_000, 100_000, rows=b""), "too large"),
        "header claims 10000 x 10000": (png(10_000, 10_000, rows=b""), "grid.shape"),
        "header claims 0 x 0": (png(0, 0, rows=b""), "not a readable"),
        "empty file": (b"", "not a readable"),
        "random bytes": (os.urandom(2000), "not a readable"),
        "wrong size": (png(nx + 1, ny), "grid.shape"),
        "zTXt bomb": (png(nx, ny, extra=png_chunk(b"zTXt", b"k\x00\x00" + zlib.compress(
            b"a" * 50_000_000))), "not a readable"),
        "IDAT cut": (good[:33 + 8 + 6] + png_chunk(b"IEND", b""), "not a readable"),
        "bad depth": (png(nx, ny, depth=7), "not a readable"),
    }
    out = [Hostile(f"png: {name}", with_case(image_case, **{"grains.png": data}),
                   ("grains.png", word)) for name, (data, word) in cases.items()]
    page = grey_image()
    good_tiff = tiff([page])
    tiff_cases = {
        "truncated": (good_tiff[:len(good_tiff) // 2], "not a readable"),
        "float pages": (tiff([page.astype(np.float32)]), "not supported"),
        "three pages on a 2D grid": (tiff([page] * 3), "single-page"),
        "bogus IFD offset": (good_tiff[:4] + struct.pack("<I", 10**9) + good_tiff[8:],
                             "not a readable"),
        "random bytes": (b"II*\x00" + os.urandom(500), "not a readable"),
    }
    out += [Hostile(f"tiff: {name}", with_case(tif_case, **{"labels.tif": data}),
                    ("labels.tif", word)) for name, (data, word) in tiff_cases.items()]
    out.append(Hostile("valid: png", with_case(image_case, **{"grains.png": good}), valid=True))
    # Pillow follows the IFD chain only to where it loops: one page, read as such
    out.append(Hostile("valid: tiff whose IFD chain loops", with_case(
        tif_case, **{"labels.tif": tiff_loop(good_tiff)}), valid=True))
    return out


def csv_files() -> list[Hostile]:
    """Orientation tables and WKT polygon tables with hostile cells."""
    orient_case = labels_case(extra='\norientations = "orient.csv"')
    huge = "9" * 5000
    nx, ny = (n * 10 for n in SHAPE)
    square = f'"POLYGON ((0 0, {nx} 0, {nx} {ny}, 0 {ny}, 0 0))"'
    orient = {
        "5000-digit id": f"id,cx,cy,cz\n{huge},0,0,1\n",
        "id 2^31": "id,cx,cy,cz\n2147483648,0,0,1\n",
        "5000-digit value": f"id,cx,cy,cz\n1,{huge},0,1\n",
        "value 1e400": "id,cx,cy,cz\n1,1e400,0,1\n",
        "invalid UTF-8": b"id,cx,cy,cz\n1,0,0,1\xff\n",
        "NUL byte": "id,cx,cy,cz\n1,0,0\x00,1\n",
        "200 kB field": "id,cx,cy,cz\n1,\"" + "0" * 200_000 + "\",0,1\n",
        "unterminated quote": "id,cx,cy,cz\n1,\"0,0,1\n",
        "header only": "id,cx,cy,cz\n",
        "empty": "",
        "300 MB": None,
    }
    words = {"5000-digit id": "'id'", "id 2^31": "'id'", "5000-digit value": "'cx'",
             "value 1e400": "finite", "invalid UTF-8": "not UTF-8", "NUL byte": "'cy'",
             "200 kB field": "CSV", "unterminated quote": "line 2", "header only": "no rows",
             "empty": "empty", "300 MB": "larger than"}
    out = []
    for name, text in orient.items():
        def build(folder: Path, text=text) -> None:
            write(folder, "case.toml", orient_case)
            write(folder, "labels.npy", npy(LABELS))
            if text is None:  # sparse: refused from its size, never read
                with open(folder / "orient.csv", "wb") as f:
                    f.truncate(300 * 2**20)
            else:
                write(folder, "orient.csv", text)
        out.append(Hostile(f"orientations: {name}", build, ("orient.csv", words[name])))
    poly_case = case_text('source = "polygons"\npath = "grains.csv"')
    polygons = {
        "5000-digit id": (f"wkt,id\n{square},{huge}\n", "'id'"),
        "id 2^40": (f"wkt,id\n{square},{2**40}\n", "int32"),
        # 5000 levels: a CSV field is at most 128 kB
        "WKT nested 5000 deep": ("wkt,id\n\"" + "GEOMETRYCOLLECTION(" * 5000 + "POINT(0 0)"
                                 + ")" * 5000 + "\",1\n", "levels of parentheses"),
        "WKT not WKT": ("wkt,id\n\"POLYGON ((0 0, 1\",1\n", "not valid WKT"),
        "WKT coordinate 1e400": (f"wkt,id\n\"POLYGON ((0 0, 1e400 0, 1 1, 0 0))\",1\n",
                                 "finite"),
        "WKT 5000-digit coordinate": (f"wkt,id\n\"POLYGON ((0 0, {huge} 0, 1 1, 0 0))\",1\n",
                                      "finite"),
        "WKT a point": ("wkt,id\n\"POINT (1 1)\",1\n", "Polygon"),
        "no wkt column": ("id\n1\n", "'wkt'"),
    }
    out += [Hostile(f"polygon csv: {name}", with_case(poly_case, **{"grains.csv": text}),
                    ("grains.csv", word)) for name, (text, word) in polygons.items()]
    out.append(Hostile("valid: polygon csv", with_case(poly_case, **{
        "grains.csv": f"wkt,id\n{square},1\n"}), valid=True))
    return out


def geojson_files() -> list[Hostile]:
    """GeoJSON that is not JSON, nests without end, or holds numbers Python cannot hold."""
    nx, ny = (n * 10 for n in SHAPE)
    ring = f"[[[0, 0], [{nx}, 0], [{nx}, {ny}], [0, {ny}], [0, 0]]]"

    def collection(props: str = '{"id": 1}', geometry: str | None = None) -> str:
        geometry = geometry or f'{{"type": "Polygon", "coordinates": {ring}}}'
        return ('{"type": "FeatureCollection", "features": [{"type": "Feature", '
                f'"properties": {props}, "geometry": {geometry}}}]}}')

    cases = {
        "arrays nested 100000 deep": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        "objects nested 100000 deep": ('{"a": ' * 100_000 + "1" + "}" * 100_000,
                                       "nested too deeply"),
        "properties nested 40 deep": (collection('{"id": 1, "x": ' + "[" * 40 + "]" * 40 + "}"),
                                      "nested more than"),
        "not JSON": ("{type: FeatureCollection}", "not valid JSON"),
        "truncated": (collection()[:-20], "not valid JSON"),
        "5000-digit id": (collection('{"id": ' + "9" * 5000 + "}"), "not valid JSON"),
        "id 2^40": (collection('{"id": ' + str(2**40) + "}"), "int32"),
        "NaN coordinate": (collection(geometry='{"type": "Polygon", "coordinates": '
                                               '[[[0, 0], [NaN, 0], [1, 1], [0, 0]]]}'),
                           "finite"),
        "coordinate 1e400": (collection(geometry='{"type": "Polygon", "coordinates": '
                                                 '[[[0, 0], [1e400, 0], [1, 1], [0, 0]]]}'),
                             "finite"),
        "geometry a string": (collection(geometry='"POLYGON"'), "Polygon"),
        "coordinates nested wrongly": (collection(geometry='{"type": "Polygon", "coordinates": '
                                                           '[0, 0]}'), "not a valid GeoJSON"),
        "features not a list": ('{"type": "FeatureCollection", "features": 3}', "features"),
        "invalid UTF-8": (b'{"type": "FeatureCollection", "features": []}\xff', "not UTF-8"),
        "top-level array": ("[]", "FeatureCollection"),
        "empty collection": ('{"type": "FeatureCollection", "features": []}', "no polygons"),
    }
    case = case_text('source = "polygons"\npath = "grains.geojson"')
    out = [Hostile(f"geojson: {name}", with_case(case, **{"grains.geojson": text}),
                   ("grains.geojson", word)) for name, (text, word) in cases.items()]
    out.append(Hostile("valid: geojson", with_case(case, **{"grains.geojson": collection()}),
                       valid=True))
    return out


def wkt_keys() -> list[Hostile]:
    """WKT polygons written in the case file (regions, electrodes)."""
    def region(wkt: str) -> str:
        return case_text('source = "uniform"\n\n[[microstructure.regions]]\nphase = "void"\n'
                         f"polygon = '{wkt}'")

    def electrode(wkt: str) -> str:
        return case_text(electrodes=(
            f"[[electrodes]]\nname = \"a\"\nregion = {{ polygon = '{wkt}' }}\npotential_V = 1.0"
            '\n\n[[electrodes]]\nname = "b"\nregion = "right"\npotential_V = 0.0\n'))

    deep = "GEOMETRYCOLLECTION(" * 100_000 + "POINT(0 0)" + ")" * 100_000
    cases = {
        "nested 100000 deep": (deep, "levels of parentheses"),
        "not WKT": ("POLYGON ((0 0, 1", "not valid WKT"),
        "coordinate 1e400": ("POLYGON ((0 0, 1e400 0, 1 1, 0 0))", "finite"),
        "a line": ("LINESTRING (0 0, 1 1)", "Polygon"),
        "empty": ("", "not valid WKT"),
        "self-intersecting": ("POLYGON ((0 0, 50 50, 50 0, 0 50, 0 0))", "invalid polygon"),
    }
    out = []
    for name, (wkt, word) in cases.items():
        out.append(Hostile(f"region polygon: {name}", with_case(region(wkt)),
                           ("case.toml", "microstructure.regions[0].polygon", word)))
        out.append(Hostile(f"electrode polygon: {name}", with_case(electrode(wkt)),
                           ("case.toml", "electrodes.a.region.polygon", word)))
    return out


def huge_sizes() -> list[Hostile]:
    """Grids far beyond the machine: refused from the estimate, before any allocation."""
    shapes = {"100000^2": [100_000, 100_000], "5000^3": [5000, 5000, 5000],
              "8000^2 (64M voxels)": [8000, 8000], "2^62 x 2^62": [2**62, 2**62],
              "1 x 1e12": [1, 10**12], "3D 300^3 direct": [300, 300, 300]}
    out = []
    for name, shape in shapes.items():
        tail = '[solver]\nmethod = "direct"\n' if "direct" in name else ""
        for command in ("run", "check"):
            out.append(Hostile(f"{command} grid {name}", with_case(case_text(shape=shape,
                                                                             tail=tail)),
                               ("case.toml", "GB of memory"), command=command))
    out.append(Hostile("grid 2000^2 with --max-memory 1", with_case(case_text(
        shape=[2000, 2000])), ("case.toml", "--max-memory"), args=("--max-memory", "1")))
    out.append(Hostile("grid 2000^2 with max_memory_GB = 1", with_case(case_text(
        shape=[2000, 2000], tail="[solver]\nmax_memory_GB = 1.0\n")),
        ("case.toml", "max_memory_GB")))
    out.append(Hostile("voronoi n_grains 1e18", with_case(case_text(
        'source = "voronoi"\nn_grains = 1000000000000000000')), ("case.toml", "n_grains")))
    return out


CLASSES: list[tuple[str, Callable[[], list[Hostile]]]] = [
    ("case values", case_values), ("TOML", toml_files), ("special files", special_files),
    (".npy", npy_files), (".npz", npz_files), ("PNG/TIFF", image_files), ("CSV/WKT", csv_files),
    ("GeoJSON", geojson_files), ("WKT keys", wkt_keys), ("huge sizes", huge_sizes),
]


def judge(entry: Hostile, status: int | None, stderr: str, before: set, after: set) -> str:
    """Why the outcome is not handled ("" when it is)."""
    lines = stderr.strip().splitlines()
    if status is None:
        return f"timed out after {TIMEOUT_S:g} s"
    if entry.valid:
        return "" if status == 0 else f"valid input failed ({status}): {lines[-1:]}"
    if status != 2:
        return f"exit status {status}: {lines[-1:]}"
    if len(lines) != 1 or not lines[0].startswith("netsolve: error: "):
        return f"{len(lines)} stderr lines: {lines[:3]}"
    missing = [w for w in entry.words if w not in lines[0]]
    if missing:
        return f"does not name {missing}: {lines[0][:200]}"
    if after != before:
        return f"wrote {sorted(after - before)}"
    return ""

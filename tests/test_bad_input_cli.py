"""Issue 3's bad-input list through the CLI: every case gives one line naming the file (or key)
and what is wrong, exit status 2, and writes nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from netsolve import cli

SHAPE = (8, 6)
H_NM = 10.0
GRAINS = np.where(np.arange(SHAPE[0])[:, None] < SHAPE[0] // 2, 1, 2) * np.ones(SHAPE, int)
ELECTRODES = "".join(f'\n[[electrodes]]\nregion = "{side}"\npotential_V = {volts}\n'
                     for side, volts in (("left", 1.0), ("right", 0.0)))


def case_text(microstructure: str, shape=SHAPE, voxel_size_nm=H_NM, tail="") -> str:
    return (f"[grid]\nshape = {list(shape)}\nvoxel_size_nm = {voxel_size_nm}\n\n"
            f"[microstructure]\n{microstructure}\n\n[materials]\nconductivity_model = "
            f"\"tensor\"\n{ELECTRODES}{tail}")


def labels_case(tmp_path, orientations_csv=None, grains="", labels=GRAINS) -> str:
    np.save(tmp_path / "grains.npy", labels.astype(np.int32))
    micro = 'source = "labels"\npath = "grains.npy"'
    if orientations_csv is not None:
        (tmp_path / "grains.csv").write_text(orientations_csv)
        micro += '\norientations = "grains.csv"'
    return case_text(micro, tail=grains)


def image_colour_missing(tmp_path):
    rgb = np.zeros(SHAPE[::-1] + (3,), np.uint8)
    rgb[:, : SHAPE[0] // 2] = (255, 0, 0)
    rgb[:, SHAPE[0] // 2:] = (0, 0, 255)
    Image.fromarray(rgb).save(tmp_path / "grains.png")
    (tmp_path / "grains.csv").write_text("color,phi1,Phi,phi2\n#ff0000,0,0,0\n")
    return case_text('source = "image"\npath = "grains.png"\norientations = "grains.csv"')


def ebsd_map(tmp_path, name="map.ang"):
    from netsolve.sources.ebsd import write_ang

    euler = np.zeros(SHAPE[::-1] + (3,))
    euler[:, SHAPE[0] // 2:] = np.radians([40.0, 60.0, 10.0])
    write_ang(tmp_path / name, euler, H_NM)
    lines = (tmp_path / name).read_text().splitlines(keepends=True)
    header = [line for line in lines if line.startswith("#")]
    return header, lines[len(header):]


def damaged_ang(tmp_path, damage, voxel_size_nm=H_NM):
    pytest.importorskip("orix")
    header, data = ebsd_map(tmp_path, "good.ang")
    (tmp_path / "good.ang").unlink()
    data = damage(data)
    (tmp_path / "map.ang").write_text("".join(header + data))
    return case_text('source = "ebsd"\npath = "map.ang"', voxel_size_nm=voxel_size_nm)


def first_euler(value):
    def damage(data):
        data[3] = " ".join([value] + data[3].split()[1:]) + "\n"
        return data
    return damage


def damaged_ctf(tmp_path, damage):
    pytest.importorskip("orix")
    nx, ny = SHAPE
    rows = damage([f"1\t{c * 0.01:.4f}\t{r * 0.01:.4f}\t8\t0\t10.0\t20.0\t30.0\t0.5\t150\t200"
                   for r in range(ny) for c in range(nx)])
    head = ["Channel Text File", "Prj\ttest", "JobMode\tGrid", f"XCells\t{nx}", f"YCells\t{ny}",
            "XStep\t0.01", "YStep\t0.01", "Phases\t1",
            "5.61;5.61;33.5\t90;90;120\tNa-beta-alumina\t7\t166",
            "Phase\tX\tY\tBands\tError\tEuler1\tEuler2\tEuler3\tMAD\tBC\tBS"]
    (tmp_path / "map.ctf").write_text("\n".join(head + rows) + "\n")
    return case_text('source = "ebsd"\npath = "map.ctf"')


def polygons(tmp_path, boxes):
    features = [{"type": "Feature", "properties": {"id": k + 1, "c_axis": [0, 0, 1]},
                 "geometry": {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1],
                                                                  [x0, y1], [x0, y0]]]}}
                for k, (x0, y0, x1, y1) in enumerate(boxes)]
    (tmp_path / "grains.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features}))
    return case_text('source = "polygons"\npath = "grains.geojson"')


def inconsistent_stack(tmp_path):
    pages = [Image.fromarray(np.ones(SHAPE[::-1], np.uint8)),
             Image.fromarray(np.ones((SHAPE[1], SHAPE[0] - 1), np.uint8))]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    return case_text('source = "labels"\npath = "stack.tif"', shape=SHAPE + (2,),
                     tail="\n[[grains]]\nid = 1\nc_axis = [0, 0, 1]\n")


W, HT = SHAPE[0] * H_NM, SHAPE[1] * H_NM
BAD_INPUTS = {
    "image colour without orientation": (image_colour_missing, ["grains.png", "#0000ff"]),
    "grain without orientation": (
        lambda p: labels_case(p, grains="\n[[grains]]\nid = 1\nc_axis = [0, 0, 1]\n"),
        ["case.toml: ", "grain ids [2] have no orientation"]),
    "NaN Euler angle in an orientation table": (
        lambda p: labels_case(p, "id,phi1,Phi,phi2\n1,nan,0,0\n2,0,0,0\n"),
        ["grains.csv", "line 2", "phi1", "finite"]),
    "alpha out of range in an orientation table": (
        lambda p: labels_case(p, "id,theta,alpha\n1,0,95\n2,0,0\n"),
        ["grains.csv", "line 2", "alpha", "[0, 90]"]),
    "NaN Euler angle in [[grains]]": (
        lambda p: labels_case(p, grains="\n[[grains]]\nid = 1\neuler_deg = [nan, 0, 0]\n"
                                        "\n[[grains]]\nid = 2\nc_axis = [0, 0, 1]\n"),
        ["case.toml: ", "euler_deg", "finite"]),
    "NaN Euler angle in an .ang map": (
        lambda p: damaged_ang(p, first_euler("nan")), ["map.ang: ", "data row 4", "not a number"]),
    "Euler angle in degrees in an .ang map": (
        lambda p: damaged_ang(p, first_euler("270.0")), ["map.ang: ", "data row 4", "outside"]),
    "truncated .ang": (lambda p: damaged_ang(p, lambda d: d[:-5]),
                       ["map.ang: ", "header announces 48", "truncated"]),
    "wrong column count in an .ang": (
        lambda p: damaged_ang(p, lambda d: [" ".join(r.split()[:5]) + "\n" for r in d]),
        ["map.ang: ", "5 columns", "at least 6"]),
    "truncated .ctf": (lambda p: damaged_ctf(p, lambda rows: rows[:-7]),
                       ["map.ctf: ", "41 data rows", "truncated"]),
    "wrong column count in a .ctf": (
        lambda p: damaged_ctf(p, lambda rows: [r.rsplit("\t", 1)[0] for r in rows]),
        ["map.ctf: ", "data rows have 10 columns, expected 11 (Phase X Y"]),
    "pixel step differs from voxel_size_nm": (
        lambda p: damaged_ang(p, lambda d: d, voxel_size_nm=12.5),
        ["map.ang: ", "x step is 10 nm", "voxel_size_nm is 12.5"]),
    "label array of another shape": (
        lambda p: labels_case(p, labels=GRAINS[:-1],
                              grains="\n[[grains]]\nid = 1\nc_axis = [0, 0, 1]\n"
                                     "\n[[grains]]\nid = 2\nc_axis = [0, 0, 1]\n"),
        ["grains.npy", "[7, 6]", "[8, 6]"]),
    "overlapping polygons": (lambda p: polygons(p, [(0, 0, 50, HT), (30, 0, W, HT)]),
                             ["grains.geojson: polygons overlap", "nm^2", "x = 30..50"]),
    "polygons leaving a hole": (lambda p: polygons(p, [(0, 0, 30, HT), (50, 0, W, HT)]),
                                ["grains.geojson: the polygons leave a hole", "nm^2",
                                 "x = 30..50"]),
    "3D stack with inconsistent slices": (inconsistent_stack,
                                          ["stack.tif: ", "slice 1 (page 2)"]),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_one_line_status_2_and_writes_nothing(tmp_path, capsys, name):
    build, words = BAD_INPUTS[name]
    (tmp_path / "case.toml").write_text(build(tmp_path))
    inputs = sorted(p.name for p in tmp_path.iterdir())
    status = cli.main(["run", str(tmp_path / "case.toml"), "-q", "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("netsolve: error: "), err
    for word in words:
        assert word in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == inputs  # nothing written

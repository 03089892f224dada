"""``source = "image"`` and TIFF stacks for ``source = "labels"``: round trips through the case
pipeline (images written with Pillow) and every input error naming its file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import netsolve
from netsolve import cli
from netsolve.errors import CaseError
from netsolve.microstructure import Phase, build_microstructure

from conftest import H_NM

SHAPE = (5, 4)  # nx, ny: images are 5 pixels wide and 4 high


def to_image(labels: np.ndarray) -> np.ndarray:
    """The documented transform backwards: labels[x, y] -> image[row, col], row 0 at the top."""
    return labels.T[::-1]


def case_dict(micro: dict, shape=SHAPE, grains=None, model="tensor") -> dict:
    data = {
        "grid": {"shape": list(shape), "voxel_size_nm": H_NM},
        "microstructure": micro,
        "materials": {"conductivity_model": model},
        "electrodes": [{"name": "source", "region": "left", "potential_V": 1.0},
                       {"name": "sink", "region": "right", "potential_V": 0.0}],
        "solver": {"method": "direct"},
    }
    if grains is not None:
        data["grains"] = grains
    return data


def build(tmp_path, micro, **kw):
    return build_microstructure(netsolve.case_from_dict(case_dict(micro, **kw), base_dir=tmp_path))


def error(tmp_path, micro, **kw) -> str:
    with pytest.raises(CaseError) as err:
        build(tmp_path, micro, **kw)
    return str(err.value)


def grain_labels(seed=0, shape=SHAPE, n=6) -> np.ndarray:
    """Random labels 1..n, each one present."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(np.arange(size) % n + 1).reshape(shape)


def write_csv(tmp_path, ids_or_colors, key="id", name="orient.csv") -> list[dict]:
    """An orientation CSV (theta/alpha) and the equivalent [[grains]] entries (id = row)."""
    rows, grains = [f"{key},theta,alpha"], []
    for k, key_value in enumerate(ids_or_colors):
        theta, alpha = 7.0 * k + 3.0, (11.0 * k) % 90
        rows.append(f"{key_value},{theta},{alpha}")
        grains.append({"id": key_value if key == "id" else k + 1, "theta_deg": theta,
                       "alpha_deg": alpha})
    (tmp_path / name).write_text("\n".join(rows) + "\n")
    return grains


def assert_same_orientations(a, b):
    for field in ("grain_ids", "c_axis", "euler_rad", "theta_rad", "alpha_rad"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


# --------------------------------------------------------------------------- label images


@pytest.mark.parametrize("name, dtype, offset", [("map8.png", np.uint8, 0),
                                                 ("map16.png", np.uint16, 1000),
                                                 ("map16.tif", np.uint16, 1000),
                                                 ("map32.tif", np.int32, 70000)])
def test_label_image_round_trip_with_orientation_csv(tmp_path, name, dtype, offset):
    labels = grain_labels() + offset
    labels[0, 0] = 0  # background -> void through the colors table
    Image.fromarray(to_image(labels).astype(dtype)).save(tmp_path / name)
    grains = write_csv(tmp_path, range(offset + 1, offset + 7))
    micro = build(tmp_path, {"source": "image", "path": name, "orientations": "orient.csv",
                             "colors": {"0": "void"}})
    expected = labels.copy()
    expected[0, 0] = -1  # void not declared: the first free value below 0
    np.testing.assert_array_equal(micro.labels, expected)
    assert micro.phase[0, 0] == Phase.VOID and (micro.phase.ravel()[1:] == Phase.GRAIN).all()
    np.save(tmp_path / "ref.npy", expected)
    reference = build(tmp_path, {"source": "labels", "path": "ref.npy", "phases": {"void": -1}},
                      grains=grains)
    assert_same_orientations(micro.orientations, reference.orientations)


def test_declared_phase_values_and_negative_tiff_labels(tmp_path):
    labels = grain_labels()
    labels[1, :] = -2   # a declared phase straight from an int32 TIFF
    labels[2, 1] = 9    # grey value 9 mapped to ZrO2, declared as -5
    Image.fromarray(to_image(labels).astype(np.int32)).save(tmp_path / "m.tif")
    micro = build(tmp_path, {"source": "image", "path": "m.tif", "colors": {"9": "zro2"},
                             "phases": {"zro2": -5, "void": -2}}, model="isotropic")
    expected = labels.copy()
    expected[2, 1] = -5
    np.testing.assert_array_equal(micro.labels, expected)
    assert (micro.phase[1] == Phase.VOID).all() and micro.phase[2, 1] == Phase.ZRO2


def test_palette_image_is_read_as_indices(tmp_path):
    labels = grain_labels()
    Image.fromarray(to_image(labels).astype(np.uint8)).convert("P").save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    micro = build(tmp_path, {"source": "image", "path": "p.png"}, model="isotropic")
    np.testing.assert_array_equal(micro.labels, labels)


# --------------------------------------------------------------------------- colour-coded maps

PALETTE = ["#ff0000", "#00ff00", "#0000ff", "#ffff00", "#123456", "#000000"]


def rgb_image(labels: np.ndarray, alpha=False) -> np.ndarray:
    """Colour k-1 of PALETTE for label k; shape (rows, cols, 3 or 4), uint8."""
    rgb = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in PALETTE], np.uint8)
    img = rgb[to_image(labels) - 1]
    if alpha:
        img = np.concatenate([img, np.full(img.shape[:2] + (1,), 128, np.uint8)], axis=-1)
    return img


@pytest.mark.parametrize("alpha", [False, True])
def test_rgb_map_ids_by_colour_orientations_by_colour_black_is_zro2(tmp_path, alpha):
    labels = grain_labels(n=6)  # label 6 = black
    Image.fromarray(rgb_image(labels, alpha)).save(tmp_path / "rgb.png")
    grain_colors = sorted(PALETTE[:5])  # ids 1..5 in increasing order of 0xRRGGBB
    csv_colors = [c.upper() for c in reversed(PALETTE[:5])]  # any row order, any case
    write_csv(tmp_path, csv_colors, key="color")
    micro = build(tmp_path, {"source": "image", "path": "rgb.png", "orientations": "orient.csv",
                             "colors": {"#000000": "zro2"}, "phases": {"zro2": -4}})
    id_of = {PALETTE.index(c) + 1: grain_colors.index(c) + 1 for c in PALETTE[:5]}
    expected = np.vectorize(lambda v: id_of.get(v, -4))(labels)
    np.testing.assert_array_equal(micro.labels, expected)
    np.testing.assert_array_equal(micro.phase == Phase.ZRO2, labels == 6)
    grains = [{"id": grain_colors.index(c.lower()) + 1, "theta_deg": 7.0 * k + 3.0,
               "alpha_deg": (11.0 * k) % 90} for k, c in enumerate(csv_colors)]
    reference = build(tmp_path, {"source": "uniform"}, grains=grains)
    assert_same_orientations(micro.orientations, reference.orientations)


def test_palette_image_with_colour_table_is_read_as_colours(tmp_path):
    labels = grain_labels(n=3)
    Image.fromarray(rgb_image(labels)).convert("P").save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    write_csv(tmp_path, PALETTE[:3], key="color")
    micro = build(tmp_path, {"source": "image", "path": "p.png", "orientations": "orient.csv"})
    order = sorted(PALETTE[:3])
    expected = np.vectorize(lambda v: order.index(PALETTE[v - 1]) + 1)(labels)
    np.testing.assert_array_equal(micro.labels, expected)


def test_grains_entries_override_csv_and_isotropic_needs_no_orientation(tmp_path):
    labels = grain_labels(n=3)
    Image.fromarray(rgb_image(labels)).save(tmp_path / "rgb.png")
    write_csv(tmp_path, PALETTE[:3], key="color")
    first = sorted(PALETTE[:3]).index(PALETTE[0]) + 1
    micro = build(tmp_path, {"source": "image", "path": "rgb.png", "orientations": "orient.csv"},
                  grains=[{"id": first, "c_axis": [1.0, 0.0, 0.0]}])
    assert micro.orientations.c_axis[first - 1].tolist() == [1.0, 0.0, 0.0]
    iso = build(tmp_path, {"source": "image", "path": "rgb.png"}, model="isotropic")
    assert sorted(np.unique(iso.labels).tolist()) == [1, 2, 3]


def test_rgb_case_solves_like_the_same_npy_case(tmp_path):
    labels = grain_labels(n=3)
    Image.fromarray(rgb_image(labels)).save(tmp_path / "rgb.png")
    grains = write_csv(tmp_path, sorted(PALETTE[:3]), key="color")
    image = case_dict({"source": "image", "path": "rgb.png", "orientations": "orient.csv"})
    order = sorted(PALETTE[:3])
    np.save(tmp_path / "ref.npy", np.vectorize(lambda v: order.index(PALETTE[v - 1]) + 1)(labels))
    npy = case_dict({"source": "labels", "path": "ref.npy"}, grains=grains)
    a, b = (netsolve.solve(netsolve.case_from_dict(d, base_dir=tmp_path)) for d in (image, npy))
    assert a.electrode_currents_A["source"] > 0
    assert a.electrode_currents_A == b.electrode_currents_A


# --------------------------------------------------------------------------- TIFF stacks


def save_stack(path, slices):
    images = [Image.fromarray(s) for s in slices]
    images[0].save(path, save_all=True, append_images=images[1:])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_multipage_tiff_is_a_3d_label_stack(tmp_path, dtype):
    labels = grain_labels(shape=SHAPE + (3,), n=8)
    save_stack(tmp_path / "stack.tif", [to_image(labels[..., k]).astype(dtype) for k in range(3)])
    write_csv(tmp_path, range(1, 9))
    micro = build(tmp_path, {"source": "labels", "path": "stack.tif",
                             "orientations": "orient.csv"}, shape=SHAPE + (3,))
    np.testing.assert_array_equal(micro.labels, labels)
    assert micro.orientations.grain_ids.tolist() == list(range(1, 9))


def test_single_page_tiff_for_2d_labels_and_image_stack_in_3d(tmp_path):
    labels = grain_labels()
    Image.fromarray(to_image(labels).astype(np.uint16)).save(tmp_path / "one.tiff")
    micro = build(tmp_path, {"source": "labels", "path": "one.tiff"}, model="isotropic")
    np.testing.assert_array_equal(micro.labels, labels)
    stack = grain_labels(shape=SHAPE + (2,), n=3)
    save_stack(tmp_path / "rgb.tif", [rgb_image(stack[..., k]) for k in range(2)])
    micro3 = build(tmp_path, {"source": "image", "path": "rgb.tif"}, shape=SHAPE + (2,),
                   model="isotropic")
    order = sorted(PALETTE[:3])
    np.testing.assert_array_equal(
        micro3.labels, np.vectorize(lambda v: order.index(PALETTE[v - 1]) + 1)(stack))


# --------------------------------------------------------------------------- errors


def test_image_colour_without_orientation_names_the_colour(tmp_path):
    Image.fromarray(rgb_image(grain_labels(n=3))).save(tmp_path / "rgb.png")
    write_csv(tmp_path, PALETTE[:2], key="color")
    message = error(tmp_path, {"source": "image", "path": "rgb.png", "orientations": "orient.csv"})
    assert message.startswith("rgb.png: ") and "#0000ff (id 1)" in message
    assert "#ff0000" not in message


def test_csv_colour_absent_from_image_or_mapped_to_a_phase(tmp_path):
    Image.fromarray(rgb_image(grain_labels(n=2))).save(tmp_path / "rgb.png")
    write_csv(tmp_path, PALETTE[:3], key="color")
    message = error(tmp_path, {"source": "image", "path": "rgb.png", "orientations": "orient.csv"})
    assert message.startswith("orient.csv: line 4, column 'color': colour #0000ff does not "
                              "occur in rgb.png")
    write_csv(tmp_path, PALETTE[:2], key="color")
    message = error(tmp_path, {"source": "image", "path": "rgb.png", "orientations": "orient.csv",
                               "colors": {"#00FF00": "void"}})
    assert message.startswith("orient.csv: line 3, column 'color': colour #00ff00 is mapped to "
                              "phase 'void'")


@pytest.mark.parametrize("micro, shape, parts", [
    ({"source": "image", "path": "m.png"}, (4, 5), ["m.png: ", "5 x 4 pixels", "[5, 4]",
                                                   "grid.shape is [4, 5]"]),
    ({"source": "image", "path": "m.png"}, (5, 4, 2), ["m.png: ", "[5, 4, 1]", "[5, 4, 2]"]),
    ({"source": "labels", "path": "s.tif"}, SHAPE, ["s.tif: ", "x 2 slices", "[5, 4, 2]",
                                                    "single-page"]),
])
def test_shape_mismatch(tmp_path, micro, shape, parts):
    Image.fromarray(to_image(grain_labels()).astype(np.uint8)).save(tmp_path / "m.png")
    save_stack(tmp_path / "s.tif", [to_image(grain_labels()).astype(np.uint8)] * 2)
    message = error(tmp_path, micro, shape=shape, model="isotropic")
    for part in parts:
        assert part in message


@pytest.mark.parametrize("second, part", [
    (np.ones((4, 6), np.uint8), "slice 1 (page 2) is 6 x 4 pixels, mode L, but slice 0 is "
                                "5 x 4 pixels, mode L"),
    (np.ones((4, 5), np.uint16), "slice 1 (page 2) is 5 x 4 pixels, mode I;16"),
])
def test_inconsistent_tiff_slices(tmp_path, second, part):
    save_stack(tmp_path / "bad.tif", [np.ones((4, 5), np.uint8), second, second])
    message = error(tmp_path, {"source": "labels", "path": "bad.tif"}, shape=SHAPE + (3,),
                    model="isotropic")
    assert message.startswith("bad.tif: ") and part in message


def test_bad_image_files(tmp_path):
    Image.fromarray(np.ones((4, 5), np.float32)).save(tmp_path / "f.tif")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(rgb_image(grain_labels(n=2))).save(tmp_path / "rgb.png")
    Image.fromarray(to_image(grain_labels()).astype(np.uint8)).save(tmp_path / "grey.png")
    (tmp_path / "rgb.csv").write_text("color,cx,cy,cz\n#ff0000,0,0,1\n")
    cases = [
        ({"source": "image", "path": "gone.png"}, "gone.png: image file not found"),
        ({"source": "image", "path": "text.png"}, "text.png: not a readable PNG/TIFF image"),
        ({"source": "image", "path": "f.tif"}, "f.tif: slice 0 has image mode 'F'"),
        ({"source": "labels", "path": "f.tif"}, "f.tif: slice 0 has image mode 'F'"),
        ({"source": "image", "path": "grey.png", "colors": {"#000000": "void"}},
         "grey.png is a label image"),
        ({"source": "image", "path": "rgb.png", "colors": {"0": "void"}},
         "rgb.png is a colour-coded (RGB) image"),
        ({"source": "image", "path": "grey.png", "orientations": "rgb.csv"},
         "rgb.csv: a 'color' column needs a colour-coded (RGB) image"),
    ]
    for micro, part in cases:
        message = error(tmp_path, micro, model="isotropic")
        assert message.startswith(part), (micro, message)
    Image.fromarray(to_image(grain_labels()).astype(np.uint8)).save(tmp_path / "grey.tif")
    message = error(tmp_path, {"source": "labels", "path": "grey.tif",
                               "orientations": "rgb.csv"})
    assert message.startswith("rgb.csv: source \"labels\" matches orientations by grain id")
    Image.fromarray(rgb_image(grain_labels(n=2))).save(tmp_path / "rgb.tif")
    message = error(tmp_path, {"source": "labels", "path": "rgb.tif"}, model="isotropic")
    assert message.startswith("rgb.tif: an RGB image is not a label map")


def test_unmapped_background_value(tmp_path):
    labels = grain_labels()
    labels[3, 3] = 0
    Image.fromarray(to_image(labels).astype(np.uint8)).save(tmp_path / "grey.png")
    message = error(tmp_path, {"source": "image", "path": "grey.png"}, model="isotropic")
    assert message.startswith("grey.png: pixel values [0] are neither grain ids")
    assert 'colors = { "0" = "void" }' in message


@pytest.mark.parametrize("micro, part", [
    ({"path": "m.jpg"}, "'microstructure.path' = 'm.jpg': source \"image\" reads PNG or TIFF"),
    ({"path": "m.png", "colors": {"black": "void"}}, "key 'black' must be a colour"),
    ({"path": "m.png", "colors": {"#000000": "voids"}}, "(did you mean 'void'?)"),
    ({"path": "m.png", "colors": {"#000000": "void", "#FFFFFF": "void", "#ffffff": "zro2"}},
     "names '#ffffff' twice"),
    ({"path": "m.png", "colors": {"#000000": "void", "1": "zro2"}}, "mixes colours"),
    ({"path": "m.png", "colours": {}}, "unknown key 'microstructure.colours'"),
    ({"path": "m.png", "orientations": 3}, "'microstructure.orientations' must be a string"),
])
def test_bad_keys(micro, part):
    with pytest.raises(CaseError) as err:
        netsolve.case_from_dict(case_dict({"source": "image", **micro}), origin="c.toml")
    assert str(err.value).startswith("c.toml: ") and part in str(err.value)


def test_cli_bad_image_case_exits_with_status_2(tmp_path, capsys):
    Image.fromarray(rgb_image(grain_labels(n=3))).save(tmp_path / "rgb.png")
    (tmp_path / "case.toml").write_text(f"""
[grid]
shape = [{SHAPE[0]}, {SHAPE[1] + 1}]
voxel_size_nm = 10.0

[microstructure]
source = "image"
path = "rgb.png"

[[electrodes]]
region = "left"
potential_V = 1.0

[[electrodes]]
region = "right"
potential_V = 0.0
""")
    status = cli.main(["check", str(tmp_path / "case.toml")])
    err = capsys.readouterr().err
    assert status == 2
    assert "rgb.png: " in err and "grid.shape is [5, 5]" in err

"""`netsolve inspect MAP` (issue 17 item 5): what an orientation map holds, before a case is
written for it. The terminal report is inspect_map's, the figure shows its segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netsolve import cli

pytest.importorskip("orix")

from netsolve.map_report import NOT_GRAIN_COLOURS, label_colours  # noqa: E402
from netsolve.sources.ebsd import inspect_map, inspect_map_labels, write_ang  # noqa: E402

STEP_NM = 50.0


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def three_grains(tmp_path) -> Path:
    """A 30 x 20 map (image rows first): three columns of grains 40 degrees apart about x, one
    not-indexed pixel in the middle one."""
    euler = np.zeros((20, 30, 3))
    euler[:, 10:20, 1] = np.radians(40.0)
    euler[:, 20:, 1] = np.radians(80.0)
    ci = np.ones((20, 30))
    ci[10, 15] = -1.0
    path = tmp_path / "three.ang"
    write_ang(path, euler, STEP_NM, ci=ci)
    return path


def test_report_lines_hold_the_grid_phases_and_grains_of_the_api(three_grains, capsys):
    status, out, err = run(["inspect", three_grains, "-q"], capsys)
    assert status == 0, err
    report = inspect_map(three_grains)
    assert report["grains"] == 3 and report["grid"]["shape"] == [30, 20]
    assert f"grid 30 x 20 pixels, step {STEP_NM:g} x {STEP_NM:g} nm" in out
    assert "grains: 3 (" in out
    assert f"not indexed: {100 / 600:.1f} % of the pixels" in out
    assert "(trigonal: uniaxial, the c axis is the conduction planes' normal)" in out
    status, out, err = run(["inspect", three_grains, "--json", "-q"], capsys)
    assert status == 0 and json.loads(out) == json.loads(json.dumps(report))


def test_figure_colours_each_grain_and_refuses_a_foreign_file(three_grains, tmp_path, capsys):
    report, labels = inspect_map_labels(three_grains)
    rgb = label_colours(labels)
    colours = {tuple(rgb[labels == g][0]) for g in range(1, report["grains"] + 1)}
    assert len(colours) == report["grains"]  # one colour per grain
    for g in range(1, report["grains"] + 1):  # and one grain per colour
        assert (rgb[labels == g] == rgb[labels == g][0]).all()
    assert np.array_equal(label_colours(np.array([[-1, -2]]))[0],
                          [NOT_GRAIN_COLOURS[-1], NOT_GRAIN_COLOURS[-2]])
    figure = tmp_path / "grains.png"
    figure.write_text("my notes")
    status, out, err = run(["inspect", three_grains, "--figure", figure, "-q"], capsys)
    assert status == 2 and err.strip().endswith("exists; pass --overwrite to replace it")
    assert figure.read_text() == "my notes" and "Traceback" not in err
    status, out, err = run(["inspect", three_grains, "--figure", figure, "--overwrite", "-q"],
                           capsys)
    assert status == 0, err
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"wrote {figure}" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grains.png", "three.ang"]


@pytest.mark.parametrize("argv, message", [
    (["--phase-map", "grain"], "--phase-map: expected NAME=ROLE"),
    (["--threshold-deg", "0"], "--threshold-deg: expected a number of degrees in (0, 180)"),
    (["--figure", "grains.txt"], "expected a .png, .svg or .pdf file"),
])
def test_bad_options_are_one_line(three_grains, argv, message, capsys):
    status, out, err = run(["inspect", three_grains, *argv, "-q"], capsys)
    assert status == 2 and message in err and len(err.strip().splitlines()) == 1

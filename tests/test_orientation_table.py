"""Orientation tables (CSV): every form, every error with file, line and column."""

from __future__ import annotations

import numpy as np
import pytest

from netsolve.case import GrainOrientation
from netsolve.errors import CaseError
from netsolve.orientation import orientations_from_case
from netsolve.sources.orientation_table import read_orientation_csv


def write(tmp_path, text, name="orient.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_all_three_forms_match_grains_entries(tmp_path):
    path = write(tmp_path, "ID, phi1 ,Phi,phi2,theta,alpha,cx,cy,cz\n"
                           "3,83.58,67.53,137.06,,,,,\n"
                           "\n"
                           "1,,,,30,60,,,\n"
                           "2,,,,,,0,0,-2\n")
    table = read_orientation_csv(path)
    assert table.key == "id" and [r.key for r in table.rows] == [3, 1, 2]
    assert [r.line for r in table.rows] == [2, 4, 5]
    expected = orientations_from_case((
        GrainOrientation(3, euler_deg=(83.58, 67.53, 137.06)),
        GrainOrientation(1, theta_alpha_deg=(30.0, 60.0)),
        GrainOrientation(2, c_axis=(0.0, 0.0, -2.0))), "x")
    got = table.orientations()
    for field in ("grain_ids", "c_axis", "euler_rad", "theta_rad", "alpha_rad"):
        np.testing.assert_array_equal(getattr(got, field), getattr(expected, field))


def test_colour_keys_are_lower_case(tmp_path):
    table = read_orientation_csv(write(tmp_path, "color,cx,cy,cz\n#FF00aa,1,0,0\n"))
    assert table.key == "color" and table.rows[0].key == "#ff00aa"
    got = table.orientations({"#ff00aa": 7})
    assert got.grain_ids.tolist() == [7] and got.c_axis.tolist() == [[1.0, 0.0, 0.0]]


BAD = [
    ("", ["empty"]),
    ("id,phi1,Phi,phi2\n", ["no rows"]),
    ("id,thetaa,alpha\n1,2,3\n", ["line 1", "'thetaa'", "did you mean 'theta'"]),
    ("phi1,Phi,phi2\n1,2,3\n", ["line 1", "key column"]),
    ("id,color,cx,cy,cz\n1,#000000,0,0,1\n", ["line 1", "key column"]),
    ("id,id,cx,cy,cz\n1,1,0,0,1\n", ["line 1", "'id'", "twice"]),
    ("id,phi1,Phi\n1,2,3\n", ["line 1", "'phi2'", "missing"]),
    ("id\n1\n", ["line 1", "no orientation columns"]),
    ("id,phi1,Phi,phi2\n1,2,abc,4\n", ["line 2", "'Phi'", "must be a number", "'abc'"]),
    ("id,phi1,Phi,phi2\n1,2,,4\n", ["line 2", "'Phi'", "must be a number"]),
    ("id,phi1,Phi,phi2\n1,2,3,nan\n", ["line 2", "'phi2'", "finite"]),
    ("id,theta,alpha\n1,inf,3\n", ["line 2", "'theta'", "finite"]),
    ("id,theta,alpha\n1,1_0,3\n", ["line 2", "'theta'", "must be a number"]),
    ("id,cx,cy,cz\n1,0,0,1\n\n1,1,0,0\n", ["line 4", "'id'", "twice", "line 2"]),
    ("color,cx,cy,cz\n#00ff00,0,0,1\n#00FF00,1,0,0\n", ["line 3", "'color'", "twice"]),
    ("id,theta,alpha,cx,cy,cz\n1,10,20,0,0,1\n", ["line 2", "exactly one orientation",
                                                  "theta, alpha, cx, cy, cz"]),
    ("id,theta,alpha,cx,cy,cz\n1,,,,,\n", ["line 2", "exactly one orientation", "none"]),
    ("id,theta,alpha\n1,10,95\n", ["line 2", "'alpha'", "[0, 90]"]),
    ("id,theta,alpha\n1,10,-1\n", ["line 2", "'alpha'", "[0, 90]"]),
    ("id,cx,cy,cz\n1,0,0,0\n", ["line 2", "cx,cy,cz", "zero vector"]),
    ("id,cx,cy,cz\n0,0,0,1\n", ["line 2", "'id'", "in [1, 2147483647]"]),
    ("id,cx,cy,cz\n1.5,0,0,1\n", ["line 2", "'id'", "integer"]),
    ("color,cx,cy,cz\nred,0,0,1\n", ["line 2", "'color'", "#rrggbb"]),
    ("id,cx,cy,cz\n1,0,0\n", ["line 2", "3 values", "4 columns"]),
]


@pytest.mark.parametrize("text, parts", BAD)
def test_bad_tables_name_file_line_and_column(tmp_path, text, parts):
    with pytest.raises(CaseError) as err:
        read_orientation_csv(write(tmp_path, text))
    message = str(err.value)
    assert message.startswith("orient.csv: ")
    for part in parts:
        assert part in message


def test_missing_file(tmp_path):
    with pytest.raises(CaseError, match=r"^nothere\.csv: orientation table not found"):
        read_orientation_csv(tmp_path / "nothere.csv")

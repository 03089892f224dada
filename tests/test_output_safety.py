"""Output safety: never delete or overwrite a file netsolve did not write; replace a result
whole; one line and nothing left on a write error; stage lines and the headline on a pipe."""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bicrystal_toml

import netsolve.atomic
import netsolve.export
import netsolve.progress
from netsolve import cli
from netsolve.atomic import HOST
from netsolve.manifest import MANIFEST


@pytest.fixture
def work(tmp_path):
    (tmp_path / "old.toml").write_text(bicrystal_toml(1.0))
    (tmp_path / "new.toml").write_text(bicrystal_toml(2.0))
    return tmp_path


def run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def solved(work, capsys, name="res", case="old.toml", *options) -> Path:
    out = work / name
    status, _, err = run(["run", work / case, "-o", out, "-q", *options], capsys)
    assert status == 0, err
    return out


def source_potential(result: Path) -> float:
    return json.loads((result / "summary.json").read_text())["electrode_potentials_V"]["source"]


def manifest(folder: Path) -> list[str]:
    return json.loads((folder / MANIFEST).read_text())["files"]


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


CORE = ["case.toml", "fields.npz", "gb_table.csv", "grain_table.csv", "summary.json"]


def test_user_files_survive_a_rerun_and_only_netsolves_files_are_replaced(work, capsys):
    out = solved(work, capsys)
    assert manifest(out) == CORE
    assert run(["export", out, "--format", "vtu", "-q"], capsys)[0] == 0
    assert manifest(out) == sorted(CORE + ["fields.vtu"])
    (out / "notes.txt").write_text("my notes")
    (out / "mine").mkdir()
    (out / "mine" / "hand.vtu").write_text("exported by hand")
    os.symlink("notes.txt", out / "link")
    solved(work, capsys, "res", "new.toml", "--overwrite")
    assert source_potential(out) == 2.0
    assert (out / "notes.txt").read_text() == "my notes"
    assert (out / "mine" / "hand.vtu").read_text() == "exported by hand"
    assert os.readlink(out / "link") == "notes.txt"
    # the old result's own export is gone with it: it belonged to the old solve
    assert not (out / "fields.vtu").exists()
    assert manifest(out) == CORE
    assert hidden(work) == [] and hidden(out) == []


def test_refusals_name_the_output_and_exit_2(work, capsys, monkeypatch):
    out = solved(work, capsys)
    folder = work / "thesis"
    folder.mkdir()
    (folder / "thesis.tex").write_text("keep me")
    expected = {
        ("run", out): f"output directory {out} holds a netsolve result; pass --overwrite to "
                      f"replace it (files netsolve did not write there are kept)",
        ("run", folder): f"output directory {folder} is not empty and not a netsolve result; "
                         f"choose another -o, or pass --overwrite to add the result to it (its "
                         f"files are kept)",
        ("compare", folder): f"output directory {folder} is not empty and not a netsolve "
                             f"result; choose another -o, or pass --overwrite to add the result "
                             f"to it (its files are kept)",
    }
    for (command, target), message in expected.items():
        status, stdout, err = run([command, work / "new.toml", "-o", target, "-q"], capsys)
        assert (status, stdout, err) == (2, "", f"netsolve: error: {message}\n")
    assert source_potential(out) == 1.0
    assert sorted(p.name for p in folder.iterdir()) == ["thesis.tex"]
    monkeypatch.chdir(out)  # the folder would be swapped away under the shell
    status, _, err = run(["run", work / "new.toml", "-o", ".", "-q", "--overwrite"], capsys)
    assert (status, err) == (2, f"netsolve: error: output directory {out} is (or contains) the "
                                f"current directory; netsolve replaces the folder as a whole: "
                                f"run it from another folder\n")
    monkeypatch.chdir(work)
    # with --overwrite the result joins the user's file, which the manifest does not claim
    solved(work, capsys, "thesis", "new.toml", "--overwrite")
    assert (folder / "thesis.tex").read_text() == "keep me"
    assert manifest(folder) == CORE and "thesis.tex" not in manifest(folder)


def test_a_users_file_with_a_netsolve_name_is_never_replaced(work, capsys):
    folder = work / "mine"
    folder.mkdir()
    (folder / "gb_table.csv").write_text("my own table")
    status, _, err = run(["run", work / "old.toml", "-o", folder, "-q", "--overwrite"], capsys)
    assert status == 2 and err == (
        f"netsolve: error: {folder / 'gb_table.csv'} was not written by netsolve and the new "
        f"result has a file of that name; rename or move it (nothing was written, the previous "
        f"result is unchanged)\n")
    assert sorted(p.name for p in folder.iterdir()) == ["gb_table.csv"]
    assert (folder / "gb_table.csv").read_text() == "my own table"
    assert hidden(work) == []


@pytest.mark.parametrize("command, head", [("classify", "grain_a,"), ("graph", "<?xml")])
def test_single_file_outputs_refuse_an_existing_file(work, capsys, command, head):
    target = work / "notes.txt"
    target.write_text("a note")
    status, _, err = run([command, work / "old.toml", "-o", target, "-q"], capsys)
    assert (status, err) == (2, f"netsolve: error: {target} exists; pass --overwrite to "
                                f"replace it\n")
    assert target.read_text() == "a note"
    assert run([command, work / "old.toml", "-o", target, "-q", "--overwrite"], capsys)[0] == 0
    assert target.read_text().startswith(head)
    empty = work / "empty.out"
    empty.touch()  # nothing to lose
    assert run([command, work / "old.toml", "-o", empty, "-q"], capsys)[0] == 0
    assert empty.read_text().startswith(head)
    assert hidden(work) == []


def test_export_and_plot_replace_only_netsolves_files(work, capsys):
    out = solved(work, capsys)
    (out / "fields.vtu").write_text("exported by hand")
    status, _, err = run(["export", out, "--format", "vtu", "-q"], capsys)
    assert (status, err) == (2, f"netsolve: error: {out / 'fields.vtu'} exists and was not "
                                f"written by netsolve; pass --overwrite to replace it\n")
    assert (out / "fields.vtu").read_text() == "exported by hand"
    # netsolve's own files are written again without --overwrite
    assert run(["export", out, "--format", "csv", "-q"], capsys)[0] == 0
    assert run(["export", out, "--format", "vtu", "-q", "--overwrite"], capsys)[0] == 0
    assert (out / "fields.vtu").read_bytes().startswith(b"<?xml")
    assert "fields.vtu" in manifest(out)
    figures = work / "figures"
    figures.mkdir()
    (figures / "grain_map.png").write_text("my drawing")
    status, _, err = run(["plot", out, "--what", "grains", "-o", figures, "-q"], capsys)
    assert (status, err) == (2, f"netsolve: error: {figures / 'grain_map.png'} exists and was "
                                f"not written by netsolve; pass --overwrite to replace it\n")
    assert sorted(p.name for p in figures.iterdir()) == ["grain_map.png"]
    assert hidden(out) == [] and hidden(work) == []


@pytest.mark.parametrize("command, output", [("run", "link"), ("run", "link/res"),
                                             ("classify", "link")])
def test_output_through_a_dangling_symlink(work, capsys, command, output):
    os.symlink(work / "gone", work / "link")
    before = sorted(p.name for p in work.iterdir())
    status, _, err = run([command, work / "old.toml", "-o", work / output, "-q"], capsys)
    assert (status, err) == (2, f"netsolve: error: output {work / output}: {work / 'link'} is a "
                                f"symlink to {work / 'gone'}, which does not exist\n")
    assert sorted(p.name for p in work.iterdir()) == before


def test_a_symlink_to_a_result_replaces_the_real_folder(work, capsys):
    out = solved(work, capsys)
    os.symlink(out, work / "link")
    solved(work, capsys, "link", "new.toml", "--overwrite")
    assert os.readlink(work / "link") == str(out) and source_potential(out) == 2.0
    assert hidden(work) == []


@pytest.mark.parametrize("code, where, message", [
    (errno.ENOSPC, "write_fields_npz", "No space left on device (writing fields.npz)"),
    (errno.EROFS, "_make_temp_dir", "Read-only file system (writing res)"),
    (errno.EACCES, "_make_temp_dir", "Permission denied (writing res)"),
])
def test_write_errors_are_one_line_and_leave_nothing(work, capsys, monkeypatch, code, where,
                                                     message):
    old = solved(work, capsys)

    def fail(*args, **_kwargs):
        raise OSError(code, os.strerror(code), str(work / "x" / ("fields.npz" if where ==
                                                                 "write_fields_npz" else "res")))

    module = netsolve.export.result_dir if where == "write_fields_npz" else netsolve.atomic
    monkeypatch.setattr(module, where, fail)
    status, _, err = run(["run", work / "new.toml", "-o", old, "-q", "--overwrite"], capsys)
    assert (status, err) == (2, f"netsolve: error: cannot write {old}: {message}; nothing was "
                                f"written, the previous one is unchanged\n")
    assert source_potential(old) == 1.0 and manifest(old) == CORE
    # a new output below folders that do not exist yet: they go again
    status, _, err = run(["run", work / "new.toml", "-o", work / "a" / "b" / "res", "-q"], capsys)
    assert (status, err) == (2, f"netsolve: error: cannot write {work / 'a' / 'b' / 'res'}: "
                                f"{message}; nothing was written\n")
    assert sorted(p.name for p in work.iterdir()) == ["new.toml", "old.toml", "res"]


def test_leftovers_of_dead_processes_are_repaired_and_removed(work, capsys):
    dead = dead_pid()
    result = solved(work, capsys)
    stale = {  # name -> what the next writer into `work` does with it
        f".res.tmp-{HOST}-{dead}-0123abcd": "removed",  # a half-written result
        f".res.old-{HOST}-{dead}-0123abce": "removed",  # res exists: a parked old copy
        f".gone.old-{HOST}-{dead}-0123abcf": "restored",  # died between the two renames
        f".res.tmp-{HOST}-{os.getpid()}-0123abd0": "kept",  # a live process is writing
        f".res.tmp-otherhost-{dead}-0123abd1": "kept",  # another machine's PID
    }
    for name in stale:
        (work / name).mkdir()
        (work / name / "summary.json").write_text("{}")
    (result / f".export.tmp-{HOST}-{dead}-0123abd2").mkdir()  # an export killed in there
    solved(work, capsys, "other")
    assert hidden(work) == sorted(n for n, fate in stale.items() if fate == "kept")
    assert (work / "gone" / "summary.json").read_text() == "{}"
    assert run(["export", result, "--format", "csv", "-q"], capsys)[0] == 0
    assert hidden(result) == []


def test_the_two_rename_fallback_replaces_a_result(work, capsys, monkeypatch):
    out = solved(work, capsys)
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(netsolve.atomic, "EXCHANGE", None)  # no renameat2 on this system
    solved(work, capsys, "res", "new.toml", "--overwrite")
    assert source_potential(out) == 2.0 and (out / "notes.txt").read_text() == "mine"
    assert hidden(work) == []


STAGE = re.compile(r"^netsolve: \[ *(\d+\.\d) s\] (.*)$")


def test_stage_lines_on_a_pipe_and_the_answers_before_the_files(work, capsys, monkeypatch):
    monkeypatch.setattr(netsolve.progress, "DELAY_S", 0.0)  # show them at once
    real_write = netsolve.export.write_result
    before_writing = []

    def write_result(*args, **kwargs):
        before_writing.append(capsys.readouterr())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(netsolve.export, "write_result", write_result)
    out = work / "res"
    status, stdout, err = run(["run", work / "old.toml", "-o", out], capsys)
    assert status == 0 and stdout == f"wrote {out}\n"
    [(summary, err_before)] = before_writing
    err = err_before + err
    assert summary.startswith("old.toml: I = ") and "R_eff = " in summary
    assert "balance: current" in summary and "GBs: 1 between grains, 0 blocking" in summary
    lines = [STAGE.match(line) for line in err.splitlines()]
    assert all(lines), err
    assert [m[2] for m in lines] == [
        f"load case {work / 'old.toml'}", "loading the numerical libraries", "microstructure",
        "grain conductivities", "operator (tpfa)", "solve: 1200 nodes (auto)", "fields",
        "applied field (the field netsolve classify uses)", "grain-boundary analysis",
        "grain and GB tables", f"writing {out}: summary.json, fields.npz",
        "writing grain_table.csv, gb_table.csv"]
    elapsed = [float(m[1]) for m in lines]
    assert elapsed == sorted(elapsed)
    # -q: nothing at all on success
    assert run(["run", work / "new.toml", "-o", work / "quiet", "-q"], capsys) == (0, "", "")

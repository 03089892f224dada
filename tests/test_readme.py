"""The README's promises: its Python example lists the blocking GBs `netsolve run` lists (whole
GBs, not their segment rows; issue 16 counted 4 against 2), and `make demo` writes where the
README says."""

from __future__ import annotations

import io
import os
import re
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_example_lists_the_blocking_gbs_of_the_cli():
    block = re.search(r"From Python:\s*```python\n(.*?)```", README, re.S).group(1)
    stdout = io.StringIO()
    namespace: dict = {}
    cwd = os.getcwd()
    os.chdir(ROOT)  # the example's paths are relative to the clone
    try:
        with redirect_stdout(stdout):
            exec(compile(block, "README.md", "exec"), namespace)  # the repo's own README
    finally:
        os.chdir(cwd)
    printed = stdout.getvalue().splitlines()
    # The second print is the blocking subtypes; the CLI's list is summary.json's.
    listed = re.findall(r"'([^']*)'", printed[1])
    cli = namespace["result"].summary()["grain_boundaries"]["blocking"]
    assert len(cli) == 2  # the README's comment says so
    assert sorted(listed) == sorted(b["subtype"] for b in cli)
    assert printed[2].startswith("G12/G14: ") and "why: " in printed[3]


def test_make_demo_writes_where_the_readme_says():
    makefile = (ROOT / "Makefile").read_text()
    case = re.search(r"^DEMO_CASE \?= cases/(\w+)\.toml$", makefile, re.M).group(1)
    assert re.search(r"-o out/\$\(basename \$\(notdir \$\(DEMO_CASE\)\)\)", makefile)
    assert f"writes out/{case}/" in README
    assert f"`make demo`, into `out/{case}/`" in README


def test_a_script_next_to_the_clone_imports_the_installed_package(tmp_path):
    """src/ layout (issue 16): Python started in the clone's root (a script saved there, or
    `python -c`) finds no `netsolve` folder on its path and imports the installed package."""
    import subprocess
    import sys

    script = "import netsolve, pathlib; print(pathlib.Path(netsolve.__file__).resolve())"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.strip()
    assert not (ROOT / "netsolve").exists()
    assert Path(out) == (ROOT / "src" / "netsolve" / "__init__.py").resolve()

"""The course as a student installs it: its notebooks in the package, copied into a folder, set up in Colab.

The wheel itself, installed into a clean virtual environment and into a Colab-like one, is tested in
tests/test_install.py (it builds and installs, so it runs in its own stage of the test command).
"""
import json
import subprocess
import sys
import time
from pathlib import Path


from ddpm_edu import __version__, cli, course

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _first_code_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


def test_every_notebook_starts_with_the_same_set_up_cell():
    first = {p.name: _first_code_cell(p) for p in NOTEBOOKS}
    assert len(set(first.values())) == 1, {k: v.splitlines()[0] for k, v in first.items()}
    cell = next(iter(first.values()))
    assert 'os.environ.get("DDPM_EDU_PIP_SPEC", "ddpm-edu")' in cell and "%pip install" in cell
    assert "--constraint" in cell and "torch==" in cell                     # the torch that is there stays
    assert 'find_spec("ddpm_edu") is None' in cell


def test_the_set_up_cell_does_nothing_visible_where_the_package_is_installed(tmp_path):
    """Run in a kernel where ddpm_edu imports: no output at all (and it is quick: the time is printed)."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_first_code_cell(NOTEBOOKS[0]))]
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        start = time.perf_counter()
        client.execute_cell(nb.cells[0], 0)
        seconds = time.perf_counter() - start
    assert nb.cells[0].outputs == []
    print(f"the set-up cell, package installed: {seconds * 1000:.0f} ms in the kernel")


def test_the_notebooks_import_only_the_package_and_its_dependencies_and_write_nothing():
    import re
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    allowed = {re.match(r"[A-Za-z0-9_.\-]+", d).group(0).replace("-", "_") for d in deps}
    allowed |= {"ddpm_edu", "math", "os", "importlib", "tempfile", "time", "scikit_learn"}     # the standard library's few
    allowed = {"sklearn" if a == "scikit_learn" else a for a in allowed}
    for p in NOTEBOOKS:
        src = "\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"] if c["cell_type"] == "code")
        imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", src, re.M))
        assert imported <= allowed, f"{p.name} imports {sorted(imported - allowed)}"
        assert not re.search(r"savefig|open\(|np\.save|torch\.save|to_csv|mkdir", src), f"{p.name} writes a file"


def test_the_notebooks_are_package_data_and_the_version_is_written_once():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["dynamic"] == ["version"] and "version" not in project["project"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ddpm_edu.__version__"}
    assert project["tool"]["setuptools"]["package-dir"]["ddpm_edu.notebooks"] == "notebooks"
    assert [p.name for p in course.notebooks()] == [p.name for p in sorted(NOTEBOOKS, key=lambda p: (not p.name[:2].isdigit(), p.name))]
    out = subprocess.run([sys.executable, "-m", "ddpm_edu", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"ddpm-edu {__version__}"
    deps = project["project"]["dependencies"]
    assert any(d.startswith("torch>=") for d in deps) and not any("==" in d for d in deps)     # bounds, no pins
    assert not any(d.startswith(("jupyterlab", "voila")) for d in deps)
    assert {d.split(">=")[0] for d in project["project"]["optional-dependencies"]["lab"]} == {"jupyterlab", "voila"}


def test_copying_twice_keeps_a_changed_notebook_and_force_replaces_it_after_a_backup(tmp_path, capsys):
    folder = tmp_path / "course"
    assert cli.main(["notebooks", str(folder)]) == 0
    out = capsys.readouterr().out
    assert f"the course's notebooks are in {folder.resolve()}" in out and "ddpm-edu lab" in out
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    assert names == sorted(p.name for p in NOTEBOOKS)
    mine = folder / "04_loss_by_timestep.ipynb"
    mine.write_text(mine.read_text().replace("# 04 ·", "# 04 · my notes ·"))
    assert cli.main(["notebooks", str(folder)]) == 0                          # again: the change survives
    out = capsys.readouterr().out
    assert "kept your changed notebook: 04_loss_by_timestep.ipynb" in out and "my notes" in mine.read_text()
    assert cli.main(["notebooks", str(folder), "--force"]) == 0               # --force: replaced, after a backup
    out = capsys.readouterr().out
    backups = list(folder.glob("04_loss_by_timestep.backup-*.ipynb"))
    assert len(backups) == 1 and "my notes" in backups[0].read_text() and "my notes" not in mine.read_text()
    assert f"your version is saved as {backups[0].name}" in out


def test_a_notebook_the_course_updated_is_refreshed_if_the_student_never_changed_it(tmp_path):
    folder = tmp_path / "course"
    course.copy_notebooks(folder)
    stale = folder / "01_forward_process_and_schedules.ipynb"
    stale.write_text(stale.read_text() + " ")                 # as if an older release had put this copy there ...
    manifest = folder / course.MANIFEST
    lines = [l for l in manifest.read_text().splitlines() if not l.startswith(stale.name)]
    import hashlib
    manifest.write_text("\n".join(lines + [f"{stale.name} {hashlib.sha256(stale.read_bytes()).hexdigest()}"]) + "\n")
    report = course.copy_notebooks(folder)                    # ... and the student never touched it: refreshed
    assert report.kept == [] and stale.read_bytes() == (ROOT / "notebooks" / stale.name).read_bytes()


def test_bad_folders_are_one_line_and_a_nonzero_exit(tmp_path, capsys):
    afile = tmp_path / "a-file"
    afile.write_text("x")
    assert cli.main(["notebooks", str(afile)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --dir") and "existing file" in err and "\n" not in err


def test_lab_without_jupyterlab_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jupyterlab" else real(name, *a))
    assert cli.main(["lab", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ('error: JupyterLab is not installed here: pip install "ddpm-edu[lab]" (or open the folder in any '
                   'Jupyter you have)')
    assert any((tmp_path / "c").glob("*.ipynb"))              # the course was still copied

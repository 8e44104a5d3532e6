"""The notebook run checks what a reader sees: a bad figure, a 1x PNG or a printed -0.0 fails its cell (conftest.py)."""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]

GOOD = '''%config InlineBackend.figure_formats = ["retina"]
import matplotlib.pyplot as plt
fig, ax = plt.subplots(layout="constrained")
ax.plot([1, 2, 3], [3, 1, 2], label="a"); ax.set_xlabel("t"); ax.set_ylabel("loss"); ax.legend(loc="upper center")
ax.set_xticks([1, 2, 3])
plt.show()'''
HIDDEN = GOOD.replace('ax.plot([1, 2, 3], [3, 1, 2], label="a")',
                      'ax.plot([1, 2, 3], [3, 1, 2], label="a"); ax.plot([1, 2, 3], [3, 1, 2], label="b")')
BLURRY = GOOD.replace('%config InlineBackend.figure_formats = ["retina"]', '%config InlineBackend.figure_formats = ["png"]')
HIDDEN_NO_SHOW = HIDDEN.replace("plt.show()", "")        # displayed when the cell ends, not by plt.show()
MINUS_ZERO = 'print(f"gap {round(-0.0001, 3):+.3f} bits/dim, then {-0.05:.2f} and {1e-5:.0e}")'


def _run(tmp_path, source, name):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    # the repository's conftest.py (the checks) loaded as a plugin, as it is for notebooks/
    # and no MPLBACKEND (the unit tests run under Agg): the notebook run uses the inline backend, as in make test
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                           "--nbval-lax", "--nbval-current-env", str(path), "--executed-dir", str(tmp_path / "executed")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    return proc


@pytest.mark.parametrize("source, name, ok, message", [
    (GOOD, "good", True, ""),
    (HIDDEN, "hidden", False, "is hidden under another curve"),
    (BLURRY, "blurry", False, "render figures at 2x"),
    (HIDDEN_NO_SHOW, "hidden_no_show", False, "is hidden under another curve"),
    (MINUS_ZERO, "minus_zero", False, "a negative zero is printed: 'gap -0.000 bits/dim"),
])
def test_the_notebook_run_fails_a_figure_a_reader_would_trip_over(tmp_path, source, name, ok, message):
    proc = _run(tmp_path, source, name)
    assert (proc.returncode == 0) is ok, proc.stdout[-3000:]
    assert message in proc.stdout
    if ok:
        executed = nbformat.read(tmp_path / "executed" / f"{name}.ipynb", as_version=4)
        outputs = executed.cells[0].outputs
        assert any("image/png" in o.get("data", {}) for o in outputs)       # the executed copy keeps the figure

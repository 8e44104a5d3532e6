"""Repository-wide pytest hooks for the notebook run (nbval):

* every figure a notebook shows is checked before it is displayed (``ddpm_edu.plotting.figure_problems``,
  installed in the kernel by an IPython startup file): a figure with a hidden curve, a legend over
  the data, colliding titles or fractional ticks on a t axis fails its cell;
* every PNG a notebook displays must be rendered at 2x its display size (sharp on HiDPI screens
  and projectors);
* with ``--executed-dir DIR`` the notebooks are written there as executed (outputs included):
  the course site is built from these, so it shows exactly what the test run produced;
* the time each notebook took is printed at the end.
"""
import base64
import json
import os
import re
import struct
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

_NOTEBOOK_SECONDS = defaultdict(float)
_OUTPUTS = defaultdict(dict)          # notebook path -> {code cell number: outputs}
FIGURE_MARK = "DDPM-EDU FIGURE CHECK FAILED"

_KERNEL_STARTUP = '''
# installed by the ddpm-edu test run: check every matplotlib figure before the notebook displays it
def _ddpm_edu_install_figure_check():
    import matplotlib_inline.backend_inline as inline
    from matplotlib.figure import Figure
    from ddpm_edu.plotting import figure_problems

    original_display = inline.display

    def display(obj, *args, **kwargs):
        if isinstance(obj, Figure):
            problems = figure_problems(obj)
            if problems:
                raise AssertionError("__MARK__: " + "; ".join(problems))
        return original_display(obj, *args, **kwargs)

    inline.display = display      # used by plt.show() and by the automatic display at the end of a cell

_ddpm_edu_install_figure_check()
del _ddpm_edu_install_figure_check
'''.replace("__MARK__", FIGURE_MARK)


def pytest_addoption(parser):
    parser.addoption("--executed-dir", default=os.environ.get("DDPM_EDU_EXECUTED_DIR"),
                     help="write each notebook run by nbval, outputs included, into this folder")


def pytest_configure(config):
    if getattr(config.option, "nbval_lax", False) or getattr(config.option, "nbval", False):
        ipython_dir = Path(tempfile.mkdtemp(prefix="ddpm-edu-ipython-"))
        startup = ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-ddpm-edu-figure-check.py").write_text(_KERNEL_STARTUP)
        os.environ["IPYTHONDIR"] = str(ipython_dir)       # the kernels nbval starts inherit it


def _png_width(data_b64: str) -> int:
    raw = base64.b64decode(data_b64[:64])
    return struct.unpack(">I", raw[16:20])[0]


# a printed negative zero: "-0", "-0.", "-0.000", "-0.0e+00" (not -0.05, 1e-05 or a-0.0)
MINUS_ZERO = re.compile(r"(?<![\w.])-0(?:\.0*)?(?:e[+-]?0+)?(?![\d.eE])")


def output_problems(outputs) -> list:
    """Problems in one cell's outputs: a failed figure check, a PNG not rendered at 2x, a printed -0.0."""
    problems = []
    for out in outputs:
        if out.get("output_type") == "stream" and FIGURE_MARK in out.get("text", ""):
            problems.append(out["text"].strip())
        text = out.get("text", "") if out.get("output_type") == "stream" else out.get("data", {}).get("text/plain", "")
        for line in "".join(text).splitlines():
            if MINUS_ZERO.search(line):
                problems.append(f"a negative zero is printed: {line.strip()!r} (round, then add 0.0)")
        data = out.get("data", {})
        if "image/png" in data and "text/html" not in data:
            shown = (out.get("metadata", {}).get("image/png") or {}).get("width")
            pixels = _png_width(data["image/png"])
            if not shown or pixels < 1.9 * shown:
                problems.append(f"a PNG of {pixels} px shown at {shown} px: render figures at 2x "
                                "(%config InlineBackend.figure_formats = ['retina'])")
    return problems


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    outputs = getattr(item, "test_outputs", None)
    if call.when != "call" or outputs is None:
        return
    path = str(item.fspath)
    _OUTPUTS[path][item.cell_num] = [dict(o) for o in outputs]
    problems = output_problems(outputs)
    if problems and report.passed:
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid}: " + "\n".join(problems)


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] += report.duration


def pytest_sessionfinish(session):
    target = session.config.getoption("executed_dir", None)
    if not target or not _OUTPUTS:
        return
    import nbformat

    out_dir = Path(target)
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, cells in _OUTPUTS.items():
        nb = nbformat.read(path, as_version=4)
        k = 0
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            outs = cells.get(k, [])
            cell.outputs = [nbformat.from_dict({key: v for key, v in o.items() if key != "prompt_number"})
                            for o in outs]
            cell.execution_count = k + 1
            for o in cell.outputs:
                if o.get("output_type") == "execute_result":
                    o["execution_count"] = k + 1
            k += 1
        nbformat.write(nb, out_dir / Path(path).name)


def pytest_terminal_summary(terminalreporter):
    measured = [(r.nodeid, k, v) for r in terminalreporter.stats.get("passed", []) for k, v in getattr(r, "user_properties", [])]
    if measured:
        terminalreporter.section("measured in the tests")
        for nodeid, key, value in measured:
            terminalreporter.write_line(f"{key} = {value}   ({nodeid})")
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("notebook execution times")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:7.1f} s  {path}")
    terminalreporter.write_line(f"{sum(_NOTEBOOK_SECONDS.values()):7.1f} s  all notebooks")
    target = terminalreporter.config.getoption("executed_dir", None)
    if target and _OUTPUTS:
        terminalreporter.write_line(f"executed notebooks written to {target}")

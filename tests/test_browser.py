"""Real-browser tests: JupyterLab and Voila in headless Chromium (Debian's package, driven by playwright).

Each test starts its own server on 127.0.0.1 with a token, over a temporary copy of the notebooks and
a fresh workspace, and stops the server and its kernels at the end. They skip, saying why, where
Chromium or playwright is missing; the README's test command installs Chromium where it can.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
from _chromium import CHROMIUM, chromium

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); browser tests skipped", allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"server did not answer {url} within {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server and everything it started (kernels are in its process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def workdir(tmp_path):
    nb = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", nb)
    return tmp_path


def _server(cmd, cwd, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    env.pop("MPLBACKEND", None)                   # kernels draw inline figures, as for a student
    env.setdefault("DDPM_EDU_FAST", "1")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _start_lab(root: Path, notebooks: Path):
    """A JupyterLab server over ``notebooks`` with fresh settings: windowing off (so every cell renders),
    no news or update popups. Returns ``(process, url, token)``."""
    port, token = _free_port(), "ddpm-edu-test-token"
    tracker = root / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True, exist_ok=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = root / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True, exist_ok=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={notebooks}",
           f"--LabApp.workspaces_dir={root / 'workspaces'}", f"--LabApp.user_settings_dir={root / 'settings'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = _server(cmd, root, {"JUPYTER_RUNTIME_DIR": str(root / "runtime")})
    _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
    return proc, f"http://127.0.0.1:{port}", token


@pytest.fixture
def lab(workdir):
    proc, url, token = _start_lab(workdir, workdir / "notebooks")
    try:
        yield url, token
    finally:
        _stop(proc)


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def _explorer(page, must_contain: str, nth: int = 0):
    """The nth live explorer whose readout contains ``must_contain`` (the page computes it: no kernel round trip)."""
    loc = page.locator(".ddpm-edu-explorer-live").filter(has=page.locator(".ddpm-edu-readout", has_text=must_contain)).nth(nth)
    try:
        loc.wait_for(timeout=180_000)
    except Exception:
        _fail(page, "explorer", f"no live explorer with a readout containing {must_contain!r}")
    # a locator that stays on this explorer when its readout changes
    index = page.evaluate("(e) => [...document.querySelectorAll('.ddpm-edu-explorer-live')].indexOf(e)", loc.element_handle())
    return page.locator(".ddpm-edu-explorer-live").nth(index)


PICTURE = """(root) => { let h = 0; for (const c of root.querySelectorAll('canvas')) { const s = c.toDataURL();
    for (let i = 0; i < s.length; i += 7) h = (h * 31 + s.charCodeAt(i)) | 0; } return h; }"""


def _fail(page, what: str, message: str):
    """Fail with ``message``, every JupyterLab dialog on the page (title and text) and a screenshot's path."""
    dialogs = _dialogs(page)
    shot = _screenshot(page, what)
    raise AssertionError(f"{message}; dialogs on the page: {dialogs or 'none'}; screenshot: {shot}") from None


# dialogs that may appear in a fresh JupyterLab and are safe to accept with their default button
# dialogs a fresh JupyterLab may show that say nothing about the notebook; any other (e.g. "Kernel Restarting",
# "Restart Kernel?") fails the test with its title and text
HARMLESS_DIALOGS = ("Select Kernel", "Build Recommended", "Would you like to get notified", "News")


def _screenshot(page, what: str) -> Path:
    shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"ddpm-edu-browser-{what}-{int(time.time())}.png"
    page.screenshot(path=str(shot), full_page=True)
    return shot


def _dialogs(page) -> list:
    """``[(title, text)]`` of every JupyterLab dialog on the page."""
    out = []
    for d in page.locator(".jp-Dialog").all():
        title = d.locator(".jp-Dialog-header").inner_text(timeout=2000) if d.locator(".jp-Dialog-header").count() else ""
        body = d.locator(".jp-Dialog-body").inner_text(timeout=2000) if d.locator(".jp-Dialog-body").count() else ""
        out.append((title.strip(), " ".join(body.split())[:300]))
    return out


def _clear_dialogs(page) -> list:
    """Dismiss harmless dialogs (accept their default); fail, naming it, on any other."""
    seen = _dialogs(page)
    for title, text in seen:
        if not any(h.lower() in title.lower() for h in HARMLESS_DIALOGS):
            shot = _screenshot(page, "dialog")
            raise AssertionError(f"a JupyterLab dialog blocks the test: {title!r}: {text!r}; screenshot: {shot}")
        page.locator(".jp-Dialog .jp-mod-accept").first.click()
        page.locator(".jp-Dialog").first.wait_for(state="detached", timeout=10_000)
    return seen


def _run_all(page) -> None:
    """Run > Run All Cells, then wait until a cell has started (a prompt shows [*] or [n]).

    A click that lands before the kernel session is up can be dropped, so it is retried; a dialog
    in the way (kernel selection, news) is reported by title and text, and dismissed when harmless.
    """
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=120_000)
    started = page.locator(".jp-InputArea-prompt").filter(has_text=re.compile(r"\[(\*|\d+)\]"))
    dialogs = []
    for _ in range(6):
        dialogs += _clear_dialogs(page)
        try:
            page.locator("li.lm-MenuBar-item", has_text="Run").first.click(timeout=15_000)
            page.locator('li[data-command="runmenu:run-all"]').click(timeout=15_000)
            started.first.wait_for(timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - kernel not ready yet, or a dialog in the way: try again
            page.keyboard.press("Escape")
    shot = _screenshot(page, "run-all")
    raise AssertionError(f"Run All Cells never started a cell; dialogs seen: {dialogs or _dialogs(page) or 'none'}; "
                         f"screenshot: {shot}")


def _open_in_lab(browser, lab, notebook):
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{notebook}?token={token}&reset", timeout=120_000)
    return page


def _press_and_check(page, root, slider: str, key: str, expected: str) -> None:
    """Press ``key`` on the slider labelled ``slider``: the readout must then read exactly ``expected`` (the
    package's line for that setting) and the figure must have changed."""
    picture = root.evaluate(PICTURE)
    field = root.get_by_label(slider, exact=True)
    field.focus()
    field.press(key)
    loc = root.locator(".ddpm-edu-readout")
    try:
        page.wait_for_function("([r, want]) => r.querySelector('.ddpm-edu-readout').textContent === want",
                               arg=[root.element_handle(), expected], timeout=30_000)
    except Exception:
        _fail(page, "slider", f"pressing {key} on {slider!r} showed {loc.inner_text()!r}, not {expected!r}")
    assert root.evaluate(PICTURE) != picture, f"pressing {key} on {slider!r} changed the readout but not the figure"


def _kernel_sees(page, code: str, expected: str | None = None) -> None:
    """Append a cell to the open notebook and run it; with ``expected``, wait for it in the cell's output."""
    page.keyboard.press("Escape")
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")                      # a new cell below, in command mode
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    if expected is None:
        return
    try:
        page.locator(".jp-OutputArea-output", has_text=expected).last.wait_for(timeout=60_000)
    except Exception:
        _fail(page, "kernel", f"the kernel never printed {expected!r} for {code!r}")


def test_schedule_explorer_in_jupyterlab(browser, lab):
    from ddpm_edu.widgets import schedule_explorer

    page = _open_in_lab(browser, lab, "01_forward_process_and_schedules.ipynb")
    _run_all(page)
    # the notebook leaves the explorer at T = 1000: move the T slider down by one, in the page
    root = _explorer(page, "T = 1000: alpha-bar_T")
    _press_and_check(page, root, "T", "ArrowLeft", schedule_explorer(T=999).readout_text)
    _kernel_sees(page, "print('T in the kernel:', explorer.T)", "T in the kernel: 999")     # the trait followed
    page.close()


def test_weighting_explorer_in_jupyterlab(browser, lab, record_property):
    from ddpm_edu.widgets import weighting_explorer

    page = _open_in_lab(browser, lab, "03_weightings.ipynb")
    _run_all(page)
    root = _explorer(page, "Min-SNR-5 equals simple")
    box = weighting_explorer()
    box.gamma = 5.5
    _press_and_check(page, root, "Min-SNR gamma", "ArrowRight", box.readout_text)
    _kernel_sees(page, "explorer.T = 500")                                                 # Python to the page
    try:
        page.wait_for_function("(r) => r.querySelector('.ddpm-edu-readout').textContent.includes('T = 500,')",
                               arg=root.element_handle(), timeout=30_000)
    except Exception:
        _fail(page, "trait", "setting explorer.T = 500 in the kernel did not redraw the page")
    # from a key press to the redrawn frame, in the page (printed, not asserted; python -m ddpm_edu bench measures it)
    page.evaluate("() => { window.__ddpmEduTimings = []; }")
    for key in ["ArrowLeft", "ArrowRight"] * 6:
        field = root.get_by_label("Min-SNR gamma", exact=True)
        field.focus()
        field.press(key)
    page.wait_for_function("() => (window.__ddpmEduTimings || []).length >= 12", timeout=30_000)
    times = sorted(t["ms"] for t in page.evaluate("() => window.__ddpmEduTimings"))
    median = times[len(times) // 2]
    record_property("explorer_redraw_ms", round(median, 1))
    print(f"weighting explorer in JupyterLab, T = 500: median {median:.1f} ms from a key press to the redrawn frame "
          f"(min {times[0]:.1f}, max {times[-1]:.1f}, {len(times)} presses)")
    page.close()


def test_voila_explorers_load_five_times_and_respond(browser, workdir):
    from ddpm_edu.widgets import schedule_explorer

    port = _free_port()
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           str(workdir / "notebooks" / "explorers.ipynb")]
    proc = _server(cmd, workdir, {"JUPYTER_RUNTIME_DIR": str(workdir / "runtime")})
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc, timeout=120)
        expected = schedule_explorer(T=999).readout_text
        for attempt in range(5):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            root = _explorer(page, "T = 1000: alpha-bar_T")
            _explorer(page, "Min-SNR-5 equals simple")
            _explorer(page, "lambda of each objective's mass")
            _press_and_check(page, root, "T", "ArrowLeft", expected)
            page.close()
    finally:
        _stop(proc)


# ----------------------------------------------------------------------------- math in every notebook
def _executed_dir() -> Path:
    return Path(os.environ.get("DDPM_EDU_EXECUTED_DIR", ROOT / "build" / "executed"))


@pytest.fixture(scope="module")
def executed_lab(tmp_path_factory):
    source = _executed_dir()
    if not any(source.glob("*.ipynb")):
        pytest.skip(f"no executed notebooks in {source}: the README's test command (make test) executes them first")
    root = tmp_path_factory.mktemp("executed-lab")
    shutil.copytree(source, root / "notebooks")
    proc, url, token = _start_lab(root, root / "notebooks")
    try:
        yield url, token, sorted(p.name for p in (root / "notebooks").glob("*.ipynb"))
    finally:
        _stop(proc)


def _math_counts(page) -> tuple:
    return page.evaluate("""() => [document.querySelectorAll('mjx-container').length,
                                   document.querySelectorAll('mjx-merror, .MathJax_Error, mjx-container [data-mjx-error]').length]""")


def test_every_formula_of_every_executed_notebook_renders_in_jupyterlab(browser, executed_lab):
    url, token, names = executed_lab
    assert len(names) >= 7
    report = []
    for name in names:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{name}?token={token}&reset", timeout=120_000)
        page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=120_000)
        _clear_dialogs(page)
        last, stable_since = None, time.time()
        deadline = time.time() + 120
        while time.time() < deadline:          # MathJax typesets asynchronously: wait until the count settles
            counts = _math_counts(page)
            if counts != last:
                last, stable_since = counts, time.time()
            elif time.time() - stable_since > 3 and counts[0] > 0:
                break
            time.sleep(0.5)
        formulas, errors = last
        if errors:
            shot = _screenshot(page, f"math-{name}")
            texts = page.evaluate("() => [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent).slice(0, 5)")
            raise AssertionError(f"{name}: {errors} MathJax errors, e.g. {texts}; screenshot: {shot}")
        report.append(f"{name}: {formulas} formulas")
        page.close()
    print("; ".join(report))

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
CHROMIUM = os.environ.get("DDPM_EDU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-quic"]

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
    env.setdefault("DDPM_EDU_FAST", "1")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


@pytest.fixture
def lab(workdir):
    port, token = _free_port(), "ddpm-edu-test-token"
    # JupyterLab 4 renders only the cells near the viewport by default; the test reads outputs far
    # down the notebook, so turn windowing off in this run's fresh settings directory
    tracker = workdir / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    news = workdir / "settings" / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={workdir / 'notebooks'}",
           f"--LabApp.workspaces_dir={workdir / 'workspaces'}", f"--LabApp.user_settings_dir={workdir / 'settings'}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    proc = _server(cmd, workdir, {"JUPYTER_RUNTIME_DIR": str(workdir / "runtime")})
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", proc)
        yield f"http://127.0.0.1:{port}", token
    finally:
        _stop(proc)


@pytest.fixture
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield b
        finally:
            b.close()


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def _slider_handle(page, label: str, nth: int = 0):
    slider = page.locator(".widget-slider").filter(has=page.locator("label", has_text=re.compile(f"^{re.escape(label)}$")))
    return slider.nth(nth).locator(".noUi-handle")


def _readout(page, must_contain: str, nth: int = 0):
    loc = page.locator(".widget-html-content").filter(has_text=must_contain).nth(nth)
    try:
        loc.wait_for(timeout=180_000)
    except Exception:
        shot = Path(os.environ.get("TMPDIR", "/tmp")) / f"ddpm-edu-browser-failure-{int(time.time())}.png"
        page.screenshot(path=str(shot), full_page=True)
        raise AssertionError(f"no readout containing {must_contain!r}; screenshot: {shot}") from None
    return loc


def _image_src(page, nth: int = 0) -> str:
    img = page.locator(".widget-image").nth(nth)
    img.wait_for(timeout=60_000)
    return img.get_attribute("src")


def _run_all(page) -> None:
    """Run > Run All Cells, then wait until a cell has started (a prompt shows [*] or [n]).

    A click that lands before the kernel session is up can be dropped, so it is retried; this waits
    on the cells' prompts, never on the kernel's "Idle".
    """
    page.locator(".jp-NotebookPanel").first.wait_for(timeout=120_000)
    started = page.locator(".jp-InputArea-prompt").filter(has_text=re.compile(r"\[(\*|\d+)\]"))
    for _ in range(6):
        page.locator("li.lm-MenuBar-item", has_text="Run").first.click()
        page.locator('li[data-command="runmenu:run-all"]').click()
        try:
            started.first.wait_for(timeout=20_000)
            return
        except Exception:  # noqa: BLE001 - kernel not ready yet: try again
            page.keyboard.press("Escape")
    raise AssertionError("Run All Cells never started a cell")


def _open_in_lab(browser, lab, notebook):
    url, token = lab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{notebook}?token={token}&reset", timeout=120_000)
    return page


def _press_and_check(page, slider: str, key: str, new_text: str, expected: str, check_image: bool = True) -> None:
    """Press ``key`` on the slider's handle; the readout must then read exactly ``expected`` and
    (optionally) the figure's image must have changed."""
    before = _image_src(page) if check_image else None
    handle = _slider_handle(page, slider)
    handle.focus()
    handle.press(key)
    loc = page.locator(".widget-html-content", has_text=new_text)
    loc.wait_for(timeout=30_000)
    assert loc.first.inner_text().strip() == expected
    if check_image:
        page.wait_for_function("([s]) => document.querySelector('.widget-image').getAttribute('src') !== s",
                               arg=[before], timeout=30_000)


def test_schedule_explorer_in_jupyterlab(browser, lab):
    from ddpm_edu.widgets import schedule_explorer

    page = _open_in_lab(browser, lab, "01_forward_process_and_schedules.ipynb")
    _run_all(page)
    # the last cell leaves the explorer at T = 1000: wait for that output, then move the T slider down by one
    _readout(page, "T = 1000: alpha-bar_T")
    _press_and_check(page, "T", "ArrowLeft", "T = 999", _plain(schedule_explorer(T=999).readout.value))
    page.close()


def test_weighting_explorer_in_jupyterlab(browser, lab):
    from ddpm_edu.widgets import weighting_explorer

    page = _open_in_lab(browser, lab, "03_weightings.ipynb")
    _run_all(page)
    _readout(page, "Min-SNR-5 equals simple")
    box = weighting_explorer()
    box.controls["gamma"].value = 5.5
    _press_and_check(page, "Min-SNR gamma", "ArrowRight", "Min-SNR-5.5", _plain(box.readout.value))
    page.close()


def test_voila_explorers_load_five_times_and_respond(browser, workdir):
    from ddpm_edu.widgets import schedule_explorer

    port = _free_port()
    cmd = [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           str(workdir / "notebooks" / "explorers.ipynb")]
    proc = _server(cmd, workdir, {"JUPYTER_RUNTIME_DIR": str(workdir / "runtime")})
    try:
        _wait_http(f"http://127.0.0.1:{port}/", proc, timeout=120)
        expected = _plain(schedule_explorer(T=999).readout.value)
        for attempt in range(5):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
            _readout(page, "T = 1000: alpha-bar_T")
            _readout(page, "Min-SNR-5 equals simple")
            # the schedule explorer's T slider comes first on the page
            _press_and_check(page, "T", "ArrowLeft", "T = 999", expected)
            page.close()
    finally:
        _stop(proc)

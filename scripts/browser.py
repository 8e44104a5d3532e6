"""Headless Chromium for the project's browser work (tests, the benchmark's frame timings, the README's pictures):
Debian's package (never playwright's own download), launched one way, with the flags that keep it off the network,
and a local web server for a folder. The one launcher: tests/_chromium.py, scripts/bench_explorers.py and
scripts/make_figures.py all use it."""
import contextlib
import functools
import http.server
import os
import threading

CHROMIUM = os.environ.get("DDPM_EDU_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]


def missing() -> str | None:
    """Why Chromium cannot be launched here (playwright or the browser is missing), or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs playwright (pip install playwright)"
    if not os.path.exists(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium, or set DDPM_EDU_CHROMIUM)"
    return None


@contextlib.contextmanager
def chromium():
    """A launched headless Chromium, closed after the block."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextlib.contextmanager
def serve(folder):
    """``http://127.0.0.1:PORT`` serving ``folder`` (quietly) for the length of the block."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()

"""The course site, opened page by page in headless Chromium with every non-local request blocked.

Runs when the site has been built (``make site``, or ``make test SITE=1`` as CI does); otherwise it skips
and says how to build it. Checks, on every page: no request to another host, no MathJax error and no
unrendered ``$$``, no broken image, no "Loading widget" box; one page per notebook, in the course's order,
and at least one image on every notebook page that draws figures.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("DDPM_EDU_SITE_DIR", ROOT / "build" / "site"))
CHROMIUM = os.environ.get("DDPM_EDU_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not (SITE / "index.html").exists():
    pytest.skip(f"no site in {SITE}: build it with `make site` (or `make test SITE=1`)", allow_module_level=True)
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb")) + ["explorers"]


def _draws_figures(name: str) -> bool:
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    src = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    return "plt.show()" in src or "explorer" in src


@pytest.fixture(scope="module")
def server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    handler = functools.partial(Quiet, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_every_page_renders_offline_with_its_math_figures_and_contents(server):
    blocked, report = [], []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})

        def route(r):
            host = urlparse(r.request.url).hostname
            if host not in ("127.0.0.1", "localhost") and not r.request.url.startswith("data:"):
                blocked.append(r.request.url)
                return r.abort()
            return r.continue_()
        context.route("**/*", route)
        page = context.new_page()
        # the landing page lists every notebook, in the course's order
        page.goto(f"{server}/index.html")
        links = page.evaluate("() => [...document.querySelectorAll('.toctree-wrapper a.reference')].map(a => a.getAttribute('href'))")
        assert [Path(link).stem for link in links] == NOTEBOOKS, links
        assert "What it teaches" in page.inner_text("body")
        totals = {"pages": 0, "images": 0, "formulas": 0}
        for name in ["index"] + NOTEBOOKS:
            page.goto(f"{server}/{name}.html")
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
            page.evaluate("() => MathJax.startup.promise")
            stats = page.evaluate("""() => ({
                formulas: document.querySelectorAll('mjx-container').length,
                errors: document.querySelectorAll('mjx-merror, .katex-error').length,
                images: [...document.querySelectorAll('article img, main img')].length,
                broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
                text: document.querySelector('main, article, body').innerText,
            })""")
            assert stats["errors"] == 0, f"{name}: {stats['errors']} math errors"
            assert not stats["broken"], f"{name}: broken images {stats['broken']}"
            assert "$$" not in stats["text"], f"{name}: unrendered $$"
            assert "Loading widget" not in stats["text"], f"{name}: a widget placeholder"
            if name != "index" and _draws_figures(name):
                assert stats["images"] >= 1, f"{name}: no image on a page that draws figures"
            if name == "explorers":
                assert "make explore" in stats["text"] and stats["images"] >= 2
            totals["pages"] += 1
            totals["images"] += stats["images"]
            totals["formulas"] += stats["formulas"]
            report.append(f"{name}: {stats['images']} images, {stats['formulas']} formulas")
        browser.close()
    assert blocked == [], f"requests to other hosts: {blocked[:5]}"
    assert totals["pages"] == len(NOTEBOOKS) + 1 and totals["formulas"] > 100
    print(f"site: {totals['pages']} pages, {totals['images']} images, {totals['formulas']} formulas; " + "; ".join(report))

"""Headless Chromium for the browser tests: Debian's package (never playwright's own download), with the flags
that keep it off the network; the tests skip, saying why, where Chromium or playwright is missing."""
import contextlib
import os

CHROMIUM = os.environ.get("DDPM_EDU_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-quic"]


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

"""The instructor's slides (``ddpm-edu slides``), built from the notebooks the test run executed and opened deck by
deck in headless Chromium with every non-local request blocked: no request to another host, no console error, no
MathJax error; the arrow keys move the slides, except inside an explorer, whose every control moves by keyboard and by
mouse (the slide stays), redraws by the next frame and shows the package's readout; the print view (``?print-pdf``)
prints to a PDF with one page a slide, the explorers live there too, and every figure sharp (at least twice its
displayed size in pixels).

Runs in the site stage of ``make test SITE=1`` (it needs the executed notebooks and the site's MathJax)."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXECUTED = Path(os.environ.get("DDPM_EDU_EXECUTED_DIR", ROOT / "build" / "executed"))
from _chromium import CHROMIUM, FLAGS, serve  # noqa: E402

playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not (EXECUTED / "explorers.ipynb").exists():
    pytest.skip(f"no executed notebooks in {EXECUTED}: `make test` writes them before this stage", allow_module_level=True)
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM}", allow_module_level=True)

DECKS = sorted(p.stem for p in (ROOT / "notebooks").glob("0*.ipynb")) + ["explorers"]
EXPLORERS = {"01_forward_process_and_schedules": ["schedule"], "03_weightings": ["weighting"],
             "07_modern_objectives": ["objective"], "explorers": ["schedule", "weighting", "objective"]}


@pytest.fixture(scope="module")
def decks(tmp_path_factory):
    from ddpm_edu.slides import build
    out = tmp_path_factory.mktemp("slides")
    build(out, executed=EXECUTED)
    assert sorted(p.stem for p in out.glob("*.html")) == sorted(DECKS + ["index"])
    with serve(out) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def _open(browser, url, blocked, errors):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.route("**/*", lambda r: (blocked.append(r.request.url) or r.abort())
                  if urlparse(r.request.url).hostname not in ("127.0.0.1", "localhost") and
                  not r.request.url.startswith("data:") else r.continue_())
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"{url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{url}: {e}"))
    page.goto(url)
    page.wait_for_function("() => window.Reveal && Reveal.isReady() && window.MathJax && MathJax.startup "
                           "&& MathJax.startup.promise", timeout=30_000)
    page.evaluate("() => MathJax.startup.promise")
    return context, page


def _where(page):
    return page.evaluate("() => { const i = Reveal.getIndices(); return [i.h, i.v || 0]; }")


@pytest.mark.parametrize("deck", DECKS)
def test_every_deck_is_offline_with_its_math_and_its_figures_sharp_and_prints_one_page_a_slide(decks, browser, deck,
                                                                                                 tmp_path):
    blocked, errors = [], []
    context, page = _open(browser, f"{decks}/{deck}.html", blocked, errors)
    total = page.evaluate("() => Reveal.getTotalSlides()")
    assert total >= 3, total
    assert page.evaluate("() => document.querySelectorAll('mjx-merror').length") == 0
    assert page.evaluate("() => document.querySelectorAll('mjx-container').length") >= (0 if deck == "explorers" else 5)
    assert "$$" not in page.inner_text(".slides")
    live = page.evaluate("() => document.querySelectorAll('.ddpm-edu-explorer-live').length")
    assert live == len(EXPLORERS.get(deck, [])), live
    # the arrow keys move the slides
    page.locator("body").click(position={"x": 5, "y": 5})
    for _ in range(2):
        page.keyboard.press("ArrowRight")                  # every slide in turn, sub-slides included, as a clicker
    assert page.evaluate("() => Reveal.getSlidePastCount()") == 2
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert _where(page) == [0, 0]
    context.close()
    # the handout: the print view, one page a slide, the explorers live, the figures sharp
    context, page = _open(browser, f"{decks}/{deck}.html?print-pdf", blocked, errors)
    page.wait_for_function("() => document.querySelectorAll('.pdf-page').length > 0", timeout=30_000)
    pages = page.evaluate("() => document.querySelectorAll('.pdf-page').length")
    assert pages == total, (pages, total)
    assert page.evaluate("() => document.querySelectorAll('.ddpm-edu-explorer-live').length") == live
    blurry = page.evaluate("""() => [...document.querySelectorAll('.slides img')].filter(i => i.clientWidth > 0)
        .filter(i => !i.complete || i.naturalWidth < 1.9 * i.clientWidth).map(i => [i.naturalWidth, i.clientWidth])""")
    assert not blurry, f"figures shown larger than half their pixels (or not loaded): {blurry[:5]}"
    pdf = tmp_path / f"{deck}.pdf"
    page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
    printed = len(re.findall(rb"/Type\s*/Page(?!s)", pdf.read_bytes()))
    context.close()
    assert printed == total, f"{deck}: the PDF has {printed} pages for {total} slides"
    assert blocked == [], f"requests to other hosts: {blocked[:5]}"
    assert errors == [], f"console errors: {errors[:5]}"
    print(f"{deck}: {total} slides, {printed} PDF pages, {pdf.stat().st_size / 1e6:.1f} MB")


@pytest.mark.parametrize("deck", list(EXPLORERS))
def test_every_explorer_in_the_slides_moves_by_keyboard_and_mouse_without_moving_the_slide(decks, browser, deck):
    from test_site import _act, _controls, _explorer_class, _state, PICTURE

    blocked, errors = [], []
    context, page = _open(browser, f"{decks}/{deck}.html", blocked, errors)
    moved = 0
    for i, view in enumerate(EXPLORERS[deck]):
        root = page.locator(".ddpm-edu-explorer-live").nth(i)
        h, v = root.evaluate("(r) => { const s = r.closest('section'); const i = Reveal.getIndices(s); "
                             "return [i.h, i.v || 0]; }")
        page.evaluate(f"() => Reveal.slide({h}, {v})")
        page.wait_for_function(f"() => Reveal.getIndices().h === {h}")
        readout = root.locator(".ddpm-edu-readout")
        # what the readout says at the first frame after a control moves
        root.evaluate("""(r) => r.addEventListener('input', () => requestAnimationFrame(() => {
            r.dataset.frameText = r.querySelector('.ddpm-edu-readout').textContent; }), true)""")
        for control in _controls(view):
            for how in ("keyboard", "mouse"):
                if view == "schedule" and control["name"] in ("beta_start", "beta_end", "s"):
                    want = "cosine" if control["name"] == "s" else "linear"
                    if _state(root)["kind"] != want:
                        root.get_by_label("schedule", exact=True).select_option(want)
                picture = root.evaluate(PICTURE)
                root.evaluate("(r) => { delete r.dataset.frameText; }")
                before = _act(page, root, control, how)
                after = _state(root)
                assert after[control["name"]] != before[control["name"]], (deck, control, how)
                assert _where(page) == [h, v], f"{deck}: {control['name']} ({how}) moved the slide"
                assert root.evaluate(PICTURE) != picture, f"{deck}: moving {control['name']} ({how}) left the figure"
                want = _explorer_class(view)(**after).readout_text
                assert readout.inner_text() == want, (deck, control["name"], how)
                if how == "keyboard" and control["kind"] == "range":
                    page.wait_for_function("(r) => r.dataset.frameText !== undefined", arg=root.element_handle())
                    assert root.evaluate("(r) => r.dataset.frameText") == readout.text_content(), \
                        f"{deck}: {control['name']}: not redrawn by the next frame"
                moved += 1
    context.close()
    assert moved > 0
    assert blocked == [] and errors == [], (blocked[:5], errors[:5])
    print(f"{deck}: {moved} moves of the explorers in the slides")

"""The course site, opened page by page in headless Chromium with every non-local request blocked.

Runs when the site has been built (``make site``, or ``make test SITE=1`` as CI does); otherwise it skips
and says how to build it. Checks, on every page: no request to another host, no console error, no MathJax
error and no unrendered ``$$``, no broken image, no "Loading widget" box; one page per notebook, in the
course's order, and at least one image on every notebook page that draws figures. On every explorer page,
every control of every explorer is moved by keyboard and by mouse: the figure must change, and the readout
must be the package's for the setting the page shows.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(os.environ.get("DDPM_EDU_SITE_DIR", ROOT / "build" / "site"))
from _chromium import CHROMIUM, FLAGS, serve

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
    with serve(SITE) as url:
        yield url


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
        console_errors = []
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: console_errors.append(str(e)))
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
                live = page.evaluate("() => document.querySelectorAll('.ddpm-edu-explorer-live').length")
                assert live == 3, f"explorers: {live} live explorers, not 3"
            totals["pages"] += 1
            totals["images"] += stats["images"]
            totals["formulas"] += stats["formulas"]
            report.append(f"{name}: {stats['images']} images, {stats['formulas']} formulas")
        browser.close()
    assert blocked == [], f"requests to other hosts: {blocked[:5]}"
    assert console_errors == [], f"console errors: {console_errors[:5]}"
    assert totals["pages"] == len(NOTEBOOKS) + 1 and totals["formulas"] > 100
    print(f"site: {totals['pages']} pages, {totals['images']} images, {totals['formulas']} formulas; " + "; ".join(report))


# ----------------------------------------------------------------------------- the explorers, live on the site
EXPLORER_PAGES = {"01_forward_process_and_schedules": ["schedule"], "03_weightings": ["weighting"],
                  "07_modern_objectives": ["objective"], "explorers": ["schedule", "weighting", "objective"]}
PICTURE = """(root) => { let h = 0; for (const c of root.querySelectorAll('canvas')) { const s = c.toDataURL();
    for (let i = 0; i < s.length; i += 7) h = (h * 31 + s.charCodeAt(i)) | 0; } return h; }"""


def _explorer_class(view):
    from ddpm_edu import widgets as W
    return {"schedule": W.ScheduleExplorer, "weighting": W.WeightingExplorer, "objective": W.ObjectiveExplorer}[view]


def _state(root):
    return json.loads(root.evaluate("(r) => r.dataset.state"))


def _act(page, root, control, how):
    """Move one control (a dict: name, label, kind) by keyboard or mouse; return the state before."""
    before = root.evaluate("(r) => r.dataset.state")
    if control["kind"] == "radio":
        group = root.locator("fieldset", has=page.locator("legend", has_text=control["label"]))
        radios = group.locator("input[type=radio]")
        checked = [i for i in range(radios.count()) if radios.nth(i).is_checked()][0]
        if how == "keyboard":
            radios.nth(checked).focus()
            page.keyboard.press("ArrowRight")
        else:
            other = (checked + 1) % radios.count()
            group.locator(f"label[for='{radios.nth(other).get_attribute('id')}']").click()
    else:
        field = root.get_by_label(control["label"], exact=True)
        if control["kind"] == "select":
            options = field.evaluate("(s) => [...s.options].map(o => o.value)")
            at = options.index(field.input_value())
            if how == "keyboard":
                field.focus()
                page.keyboard.press("ArrowDown" if at < len(options) - 1 else "ArrowUp")
            else:                                # the option list is the browser's own: choose as a user would
                field.select_option(options[(at + 1) % len(options)])
        else:
            lo, hi, value = (float(field.get_attribute(a)) if a != "value" else float(field.input_value())
                             for a in ("min", "max", "value"))
            if how == "keyboard":
                field.focus()
                page.keyboard.press("ArrowRight" if value < hi else "ArrowLeft")
            else:
                box = field.bounding_box()
                frac = 0.2 if (value - lo) / (hi - lo) > 0.5 else 0.8
                page.mouse.click(box["x"] + box["width"] * frac, box["y"] + box["height"] / 2)
    page.wait_for_function("([r, s]) => r.dataset.state !== s", arg=[root.element_handle(), before], timeout=10_000)
    return json.loads(before)


def _controls(view):
    cls = _explorer_class(view)
    out = []
    for spec in cls.CONTROLS:
        kind = "range" if spec.type in ("range", "logrange") else spec.type
        out.append({"name": spec.name, "label": spec.label, "kind": kind})
    return out


def test_every_explorer_on_the_site_is_live_and_moves_with_every_control(server):
    blocked, errors, report = [], [], []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context(viewport={"width": 1300, "height": 900})
        context.route("**/*", lambda r: (blocked.append(r.request.url) or r.abort())
                      if urlparse(r.request.url).hostname not in ("127.0.0.1", "localhost") else r.continue_())
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for name, views in EXPLORER_PAGES.items():
            page.goto(f"{server}/{name}.html")
            page.wait_for_function(f"() => document.querySelectorAll('.ddpm-edu-explorer-live').length === {len(views)}",
                                   timeout=20_000)
            for i, view in enumerate(views):
                root = page.locator(".ddpm-edu-explorer-live").nth(i)
                root.scroll_into_view_if_needed()
                readout = root.locator(".ddpm-edu-readout")
                assert readout.get_attribute("aria-live") == "polite" and readout.get_attribute("role") == "status"
                assert readout.inner_text() == _explorer_class(view)(**_state(root)).readout_text
                # every control is labelled, visibly, and Tab reaches them in order
                ids = root.evaluate("""(r) => [...r.querySelectorAll('input, select')].filter(e => !e.disabled &&
                    (e.type !== 'radio' || e.checked)).map(e => e.id)""")
                for ctl in root.evaluate("(r) => [...r.querySelectorAll('input, select')].map(e => e.id)"):
                    label = root.locator(f"label[for='{ctl}']")
                    assert label.count() == 1 and label.is_visible(), f"{name}: control {ctl} has no visible label"
                root.locator(f"#{ids[0]}").focus()
                seen = [ids[0]]
                for _ in ids[1:]:
                    page.keyboard.press("Tab")
                    seen.append(page.evaluate("() => document.activeElement.id"))
                assert seen == ids, f"{name} ({view}): Tab visits {seen}, the controls are {ids}"
                moved = 0
                for control in _controls(view):
                    for how in ("keyboard", "mouse"):
                        if view == "schedule" and control["name"] in ("beta_start", "beta_end", "s"):
                            want = "cosine" if control["name"] == "s" else "linear"
                            if _state(root)["kind"] != want:
                                root.get_by_label("schedule", exact=True).select_option(want)
                        picture = root.evaluate(PICTURE)
                        before = _act(page, root, control, how)
                        after = _state(root)
                        assert after[control["name"]] != before[control["name"]], (name, control, how)
                        assert root.evaluate(PICTURE) != picture, f"{name}: moving {control['name']} ({how}) left the figure"
                        want = _explorer_class(view)(**after).readout_text
                        assert readout.inner_text() == want, f"{name}: {control['name']} ({how}): {readout.inner_text()!r} != {want!r}"
                        moved += 1
                report.append(f"{name}/{view}: {moved} moves")
        browser.close()
    assert blocked == [], f"requests to other hosts: {blocked[:5]}"
    assert errors == [], f"console errors: {errors[:5]}"
    print("explorers on the site: " + "; ".join(report))


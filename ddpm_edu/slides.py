"""``ddpm-edu slides [DIR]``: one reveal.js deck per notebook, from the executed classroom notebooks, offline.

    DIR/01_forward_process_and_schedules.html ... DIR/explorers.html, DIR/index.html (the list)
    DIR/_static/  reveal.js (vendored, pinned: ddpm_edu/static/vendor/reveal.js), MathJax (the site's local copy,
                  from sphinx-mathjax-offline), the explorers' module and stylesheet (the site's)

One idea a slide: a heading (#, ##) starts a slide, ### a sub-slide, and a cell that would overflow the slide starts a
sub-slide of its own (:func:`slide_types`, from the executed outputs: figures, printed lines, prose). The code is
left out (it is in the notebook); the outputs stay. An explorer is its live page version, mounted by the module the
site uses, with no kernel; inside it the arrow keys move its controls, elsewhere the slides. ``?print-pdf`` is the
deck's print view (one slide a page), for a handout printed to PDF from the browser.

Needs nbconvert (with JupyterLab) and the site's MathJax: ``pip install "ddpm-edu[lab,site]"``.
"""
from __future__ import annotations

import base64
import importlib.metadata
import json
import math
import os
import re
import shutil
import struct
from pathlib import Path

STATIC = Path(__file__).parent / "static"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDTH, HEIGHT = 1280, 720           # 16:9, a projector's shape
ROOM = 660                          # px of a slide's height that its content may fill
FIGURE = 470                        # px: the most a figure is shown tall (ddpm-edu-slides.css)
CHARS = 118                         # characters of prose on one line of a slide
LINE = 26                           # px of one line of prose


def page_notebook(nb: dict, name: str = "notebook") -> dict:
    """What a page or a slide shows: progress-bar redraws collapsed to their final line, widget views replaced by
    their HTML output (a picture of the explorer and its state, from which the page's module mounts it live)."""
    nb = json.loads(json.dumps(nb))
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                out["text"] = "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                if "text/html" not in data:
                    raise ValueError(f"{name}: a widget output without its static picture (text/html)")
                data.pop(WIDGET_VIEW)
                data.pop("text/plain", None)
    return nb


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value or "")


def _png_height(out: dict) -> float:
    """The displayed height of a PNG output in CSS px, fitted to the slide's width."""
    meta = out.get("metadata", {}).get("image/png", {})
    w, h = meta.get("width"), meta.get("height")
    if not (w and h):
        raw = base64.b64decode(_text(out["data"]["image/png"])[:100])
        w, h = struct.unpack(">II", raw[16:24])
    return min(FIGURE, h * min(1.0, (WIDTH - 80) / w))


def cell_height(cell: dict) -> float:
    """About how many px of a slide the cell takes (the code itself is not shown)."""
    if cell["cell_type"] == "markdown":
        lines = sum(max(1, math.ceil(len(line) / CHARS)) for line in _text(cell["source"]).split("\n") if line.strip())
        return LINE * lines + 18
    height = 0.0
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if out.get("output_type") == "stream":
            height += 22 * len(_text(out["text"]).rstrip("\n").split("\n")) + 10
        elif "image/png" in data:
            figures = sum("image/png" in o.get("data", {}) for o in cell["outputs"])
            height += min(_png_height(out), FIGURE if figures == 1 else {2: 260, 3: 170}[min(figures, 3)]) + 10
        elif "text/html" in data and "ddpm-edu-explorer" in _text(data["text/html"]):
            height += ROOM                                # an explorer: a slide of its own
        elif "text/markdown" in data or "text/latex" in data:
            height += 36 * len(_text(data.get("text/markdown") or data.get("text/latex")).split("\n")) + 10
        elif data:
            height += 22 * len(_text(data.get("text/plain", "")).split("\n")) + 10
    return height


def _blocks(text: str) -> list:
    """Markdown split at its blank lines into paragraphs, lists and displayed math, never inside a code fence or a
    $$ block: the units a slide can be cut between."""
    blocks, current, fence, dollars = [], [], False, False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = not fence
        if not fence and stripped.count("$$") % 2:
            dollars = not dollars
        if not stripped and not fence and not dollars:
            if current:
                blocks.append("\n".join(current))
            current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return [piece for block in blocks for piece in _list_items(block)]


def _list_items(block: str) -> list:
    """A bulleted list too long for half a slide, cut between its top-level items."""
    lines = block.split("\n")
    if not re.match(r"[*-] ", lines[0]) or LINE * sum(math.ceil(len(x) / CHARS) for x in lines) <= ROOM / 2:
        return [block]
    items = []
    for line in lines:
        if re.match(r"[*-] ", line) or not items:
            items.append([line])
        else:
            items[-1].append(line)
    return ["\n".join(item) for item in items]


def split_prose(nb: dict) -> dict:
    """The notebook with each markdown cell cut into its blocks (one cell each), so that a long explanation runs
    over several slides instead of off the bottom of one; a code cell with several figures is tagged so that the
    slides' stylesheet shows them smaller (all on one slide)."""
    cells = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            for k, block in enumerate(_blocks(_text(cell["source"]))):
                cells.append({"cell_type": "markdown", "id": f"{cell.get('id', 'md')}-{k}", "metadata": {},
                              "source": block})
            continue
        figures = sum("image/png" in out.get("data", {}) for out in cell.get("outputs", []))
        if figures > 1:
            cell = {**cell, "metadata": {**cell.get("metadata", {}),
                                         "tags": [*cell.get("metadata", {}).get("tags", []), f"slides-{min(figures, 3)}-figures"]}}
        cells.append(cell)
    return {**nb, "cells": cells}


def slide_types(nb: dict) -> list:
    """Each cell's reveal.js slide type: a # or ## heading starts a slide, ### a sub-slide; a cell that would take the
    slide past ROOM starts a sub-slide; a cell with nothing to show is skipped."""
    types, used = [], 0.0
    for cell in nb["cells"]:
        source = _text(cell["source"]).lstrip()
        height = cell_height(cell)
        if cell["cell_type"] == "markdown" and re.match(r"#{1,2} ", source):
            kind, used = "slide", height
        elif cell["cell_type"] == "markdown" and source.startswith("### "):
            kind, used = "subslide", height
        elif cell["cell_type"] == "code" and height == 0:
            kind = "skip"
        elif used and used + height > ROOM:
            before = len(types) - 1                   # the prose just before a figure goes with it, if both fit
            if cell["cell_type"] == "code" and nb["cells"][before]["cell_type"] == "markdown" \
                    and types[before] == "-" and cell_height(nb["cells"][before]) + height <= ROOM:
                types[before] = "subslide"
                kind, used = "-", cell_height(nb["cells"][before]) + height
            else:
                kind, used = "subslide", height
        else:
            kind, used = "-", used + height
        types.append(kind)
    if types and types[0] not in ("slide", "subslide"):
        types[0] = "slide"
    return types


def mathjax_folder() -> Path:
    """The site's local MathJax (sphinx-mathjax-offline, in the site extra)."""
    try:
        dist = importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError('the slides need the site\'s MathJax: pip install "ddpm-edu[site]"') from None
    folder = Path(dist.locate_file("sphinx-mathjax-offline/static/mathjax"))
    if not (folder / "tex-chtml.js").exists():
        raise RuntimeError(f"no tex-chtml.js in {folder}: reinstall sphinx-mathjax-offline")
    return folder


def _static(out: Path) -> None:
    from . import widgets

    static = out / "_static"
    shutil.rmtree(static, ignore_errors=True)
    static.mkdir(parents=True)
    shutil.copytree(STATIC / "vendor" / "reveal.js", static / "reveal.js")
    shutil.copytree(mathjax_folder(), static / "mathjax")
    (static / "ddpm-edu-explorers.js").write_text(widgets.bundle(None))
    (static / "ddpm-edu-explorers.css").write_text(widgets.stylesheet())
    shutil.copy(STATIC / "slides" / "ddpm-edu-slides.css", static / "ddpm-edu-slides.css")


def deck(nb: dict, title: str) -> str:
    """The HTML of one deck from an executed notebook (nbformat 4 JSON)."""
    import nbformat
    from nbconvert import SlidesExporter

    nb = split_prose(page_notebook(nb, title))
    for cell, kind in zip(nb["cells"], slide_types(nb)):
        cell.setdefault("metadata", {})["slideshow"] = {"slide_type": kind}
    nb.setdefault("metadata", {})["title"] = title
    exporter = SlidesExporter(extra_template_basedirs=[str(STATIC / "slides")], template_name="ddpm-edu",
                              reveal_url_prefix="_static/reveal.js", reveal_theme="white", reveal_width=str(WIDTH),
                              reveal_height=str(HEIGHT), exclude_input=True, exclude_input_prompt=True,
                              exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))
    return body


def execute(names: list, target: Path) -> None:
    """Execute the course's notebooks in classroom mode (DDPM_EDU_FAST=0) into ``target``."""
    import nbformat
    from nbclient import NotebookClient

    from .course import notebook_dir

    target.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("DDPM_EDU_FAST")
    os.environ["DDPM_EDU_FAST"] = "0"
    try:
        for name in names:
            print(f"executing {name} (classroom mode) ...", flush=True)
            nb = nbformat.read(notebook_dir() / name, as_version=4)
            NotebookClient(nb, timeout=3600, kernel_name="python3",
                           resources={"metadata": {"path": str(target)}}).execute()
            nbformat.write(nb, target / name)
    finally:
        if old is None:
            os.environ.pop("DDPM_EDU_FAST", None)
        else:
            os.environ["DDPM_EDU_FAST"] = old


def build(out, executed=None) -> list:
    """Write every deck into ``out`` from the executed notebooks in ``executed`` (executing them into
    ``out/_executed`` when None); returns the lines to print."""
    from .course import notebooks

    out = Path(out)
    names = [p.name for p in notebooks()]
    if executed is None:
        executed = out / "_executed"
        execute([n for n in names if not (executed / n).exists()], executed)
    executed = Path(executed)
    missing = [n for n in names if not (executed / n).exists()]
    if missing:
        raise ValueError(f"executed={str(executed)!r} is not allowed: it lacks {', '.join(missing)} (leave it out to "
                         "execute the notebooks here, in classroom mode)")
    out.mkdir(parents=True, exist_ok=True)
    _static(out)
    lines, links = [], []
    for name in names:
        nb = json.loads((executed / name).read_text())
        stem = Path(name).stem
        html = deck(nb, stem.replace("_", " "))
        (out / f"{stem}.html").write_text(html)
        links.append(f'<li><a href="{stem}.html">{stem.replace("_", " ")}</a></li>')
        lines.append(f"wrote {out / stem}.html")
    (out / "index.html").write_text(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ddpm-edu slides</title></head>\n"
        "<body><main><h1>ddpm-edu slides</h1><ul>\n" + "\n".join(links) + "\n</ul>\n<p>Arrow keys move the slides "
        "(inside an explorer, its controls); Esc shows them all; S opens the speaker view; add ?print-pdf to a deck's "
        "address to print it as a handout.</p></main></body></html>\n")
    lines.append(f"open {out / 'index.html'} through a local server: python -m http.server -d {out} 8000")
    return lines

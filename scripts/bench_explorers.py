"""The explorers' redraw time in headless Chromium (``make bench`` runs it after ``ddpm-edu bench``).

For each explorer, milliseconds from a slider's input event to the next frame the browser paints, and to the end
of the redraw itself (numbers, readout and charts drawn: the work that must fit in one frame), with the explorers
at T = 2000: the page computes and draws, no kernel. Each slider (T for the schedule and weighting explorers,
P_mean for the objective explorer) is moved by the arrow keys. Prints one line per explorer (median and 90th
percentile); needs playwright and Debian's Chromium (scripts/browser.py says what is missing).

    python scripts/bench_explorers.py [--presses 30] [--T 2000]
"""
import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from browser import chromium, missing, serve


def explorer_frame_ms(presses: int = 30, T: int = 2000) -> dict:
    """``{explorer: (median ms, 90th percentile ms, presses, median ms drawn, 90th percentile drawn)}``."""
    from ddpm_edu import widgets as W

    explorers = {"schedule": (W.ScheduleExplorer(T=T), "T"), "weighting": (W.WeightingExplorer(T=T), "T"),
                 "objective": (W.ObjectiveExplorer(), "EDM P_mean")}
    out = {}
    with tempfile.TemporaryDirectory(prefix="ddpm-edu-frames-") as tmp:
        (Path(tmp) / "explorers.js").write_text(W.bundle(None))
        (Path(tmp) / "explorers.css").write_text(W.stylesheet())
        body = "".join(w._repr_mimebundle_()["text/html"] for w, _ in explorers.values())
        (Path(tmp) / "index.html").write_text('<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" '
                                              'href="explorers.css"><script type="module" src="explorers.js"></script>'
                                              f'</head><body style="max-width:1000px">{body}</body></html>')
        with serve(tmp) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1100, "height": 900}, device_scale_factor=2)
            page.goto(f"{url}/index.html")
            page.wait_for_function("() => document.querySelectorAll('.ddpm-edu-explorer-live').length === 3")
            for i, (view, (_, label)) in enumerate(explorers.items()):
                out[view] = _press(page, page.locator(".ddpm-edu-explorer-live").nth(i).get_by_label(label, exact=True),
                                   presses)
    return out


def _press(page, field, presses: int) -> tuple:
    """Move one slider ``presses`` times by the arrow keys; the timings the page's module records."""
    field.focus()
    page.evaluate("() => { window.__ddpmEduTimings = []; }")
    for k in range(presses):
        page.keyboard.press("ArrowLeft" if k % 2 == 0 else "ArrowRight")
    page.wait_for_function(f"() => window.__ddpmEduTimings.length >= {presses}")
    timings = page.evaluate("() => window.__ddpmEduTimings")
    pick = lambda key: sorted(t[key] for t in timings)               # noqa: E731
    p90 = lambda v: v[min(len(v) - 1, int(0.9 * len(v)))]           # noqa: E731
    frame, drawn = pick("ms"), pick("drawn")
    return statistics.median(frame), p90(frame), len(frame), statistics.median(drawn), p90(drawn)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--T", type=int, default=2000)
    args = parser.parse_args(argv)
    why = missing()
    if why:
        print(f"explorers in the page: not measured ({why})")
        return 0
    for view, (median, p90, n, work, work90) in explorer_frame_ms(args.presses, args.T).items():
        print(f"{'page':8s} {view + f' explorer, T = {args.T}: key press to redrawn frame, ms':44s} median {median:5.1f}, "
              f"90th percentile {p90:5.1f} ({n} presses; computed and drawn in: median {work:4.1f}, 90th {work90:4.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

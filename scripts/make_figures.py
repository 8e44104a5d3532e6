"""Regenerate the README's pictures from the package, so they stay true: `make figures`.

docs/figures/per_t_floor.png   the per-t loss of a trained eps-model with the exact floor beneath
docs/figures/weightings.png    every weighting on the eps loss, normalised, against log-SNR
docs/figures/explorer.png      the weighting explorer as a browser shows it (Voila + Chromium), or,
                               without a browser, the explorer's own figure
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"


def per_t_floor():
    from ddpm_edu import plotting
    from ddpm_edu.experiment import run

    exp = run(data="gaussian_mixture", target="eps", seed=0, progress=False)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plotting.per_t_curve(ax, exp)
    ax.set_title(f"eps-model on a 2-D Gaussian mixture ({exp.train.steps} steps, {exp.train.seconds:.0f} s on {exp.train.device})")
    fig.savefig(OUT / "per_t_floor.png", dpi=110)
    plt.close(fig)


def weightings():
    from ddpm_edu import NoiseSchedule
    from ddpm_edu.weighting import weighting_curves

    s = NoiseSchedule.linear()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    for label, w in weighting_curves(s, "eps").items():
        ax.plot(s.log_snr[1:], w[1:], label=label)
    ax.set_yscale("log"); ax.invert_xaxis(); ax.set_xlabel("log-SNR (clean on the left)")
    ax.set_ylabel("weight on the eps-MSE / its mean over t"); ax.legend(fontsize=8)
    ax.set_title("loss weightings, linear schedule, T = 1000")
    fig.savefig(OUT / "weightings.png", dpi=110)
    plt.close(fig)


def explorer():
    chromium = "/usr/bin/chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not Path(chromium).exists():
        from ddpm_edu.widgets import weighting_explorer
        (OUT / "explorer.png").write_bytes(weighting_explorer().image.value)
        print("no browser: wrote the explorer's own figure instead of a screenshot")
        return
    port = 8873
    proc = subprocess.Popen([sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                             str(ROOT / "notebooks" / "explorers.ipynb")], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu",
                                  "--disable-background-networking", "--disable-component-update", "--no-first-run"])
            page = b.new_page(viewport={"width": 1100, "height": 1400})
            for _ in range(120):
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
                    break
                except Exception:  # noqa: BLE001 - server still starting
                    time.sleep(1)
            page.locator(".widget-html-content", has_text="Min-SNR-5 equals simple").wait_for(timeout=120_000)
            page.locator(".widget-image").nth(1).scroll_into_view_if_needed()
            box = page.locator(".widget-vbox").nth(1)
            box.screenshot(path=str(OUT / "explorer.png"))
            b.close()
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (weightings, per_t_floor, explorer):
        make()
        print("wrote", make.__name__)

"""Regenerate the README's pictures from the package, so they stay true: `make figures`.

docs/figures/per_t_floor.png   the per-t loss of a trained eps-model with the exact floor beneath
docs/figures/weightings.png    every weighting on the eps loss, normalised, against log-SNR
docs/figures/explorer.png      the weighting explorer as a browser shows it (Voila + Chromium), or,
                               without a browser, the explorer's own figure
docs/figures/digits.png        the classroom digits model's samples beside real held-out digits
docs/figures/objectives.png    the effective weighting p(lambda) w(lambda) of every objective of notebook 07

Every figure is saved at 2x (200 dpi) and must pass the checks the notebooks' figures pass
(ddpm_edu.plotting.figure_problems).
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
DPI = 200                                      # 2x, sharp on a projector and a high-density screen


def save(fig, name: str) -> None:
    from ddpm_edu.plotting import figure_problems

    problems = figure_problems(fig)
    if problems:
        raise SystemExit(f"{name}: " + "; ".join(problems))
    fig.savefig(OUT / name, dpi=DPI)
    plt.close(fig)


def per_t_floor():
    from ddpm_edu import plotting
    from ddpm_edu.experiment import run

    exp = run(data="gaussian_mixture", target="eps", seed=0, progress=False)
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plotting.per_t_curve(ax, exp)
    plotting.place_legend(ax)
    ax.set_title(f"eps-model on a 2-D Gaussian mixture ({exp.train.steps} steps, {exp.train.seconds:.0f} s on {exp.train.device})")
    save(fig, "per_t_floor.png")


def weightings():
    from ddpm_edu import NoiseSchedule, plotting
    from ddpm_edu.weighting import weighting_curves

    s = NoiseSchedule.linear()
    fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    plotting.weighting_lines(ax, s.log_snr[1:], weighting_curves(s, "eps"))
    ax.set_yscale("log"); plotting.log_snr_axis(ax)
    ax.set_ylabel("weight on the eps-MSE / its mean over t"); plotting.place_legend(ax, fontsize=8)
    ax.set_title("loss weightings, linear schedule, T = 1000")
    save(fig, "weightings.png")


def digits():
    from ddpm_edu import plotting
    from ddpm_edu.experiment import run

    exp = run(data="digits", steps=4000, seed=0, progress=False)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2), layout="constrained")
    plotting.samples_beside_real(axes, exp)
    save(fig, "digits.png")


def objectives():
    import numpy as np

    from ddpm_edu import objectives as O, plotting

    lam = np.linspace(*O.LAMBDA_RANGE, 801)
    fig, ax = plt.subplots(figsize=(9, 4.6), layout="constrained")
    styles = ["-", "--", "-.", ":"]
    same = np.abs(O.normalised("v_cosine", lam) - O.normalised("flow_matching", lam)).max() < 1e-9
    for i, name in enumerate(n for n in O.OBJECTIVES if not (same and n == "v_cosine")):
        label = "flow_matching = v_cosine" if same and name == "flow_matching" else name
        ax.plot(lam, O.normalised(name, lam), ls=styles[i % 4] if name != "elbo" else ":",
                color="gray" if name == "elbo" else None, lw=1.5 if name == "elbo" else 2, label=label)
    plotting.log_snr_axis(ax)
    ax.set_ylabel(r"$p(\lambda)\, w(\lambda)$, normalised")
    ax.set_title("where each objective puts its weight (Kingma & Gao 2023)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=9)
    save(fig, "objectives.png")


def explorer():
    from browser import chromium, missing

    if missing():
        from ddpm_edu.widgets import weighting_explorer
        (OUT / "explorer.png").write_bytes(weighting_explorer().png())
        print("no browser: wrote the explorer's own figure instead of a screenshot")
        return
    port = 8873
    proc = subprocess.Popen([sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
                             str(ROOT / "notebooks" / "explorers.ipynb")], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with chromium() as b:
            page = b.new_page(viewport={"width": 1100, "height": 1400}, device_scale_factor=2)   # 2x, sharp
            for _ in range(120):
                try:
                    page.goto(f"http://127.0.0.1:{port}/", timeout=120_000)
                    break
                except Exception:  # noqa: BLE001 - server still starting
                    time.sleep(1)
            box = page.locator(".ddpm-edu-explorer-live", has=page.locator(".ddpm-edu-readout",
                                                                               has_text="Min-SNR-5 equals simple"))
            box.wait_for(timeout=120_000)
            box.scroll_into_view_if_needed()
            page.wait_for_timeout(500)                       # the charts' first frame
            box.screenshot(path=str(OUT / "explorer.png"))
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    for make in (weightings, objectives, per_t_floor, digits, explorer):
        make()
        print("wrote", make.__name__)

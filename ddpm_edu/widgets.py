"""The ipywidgets explorers of notebooks 01 and 03.

Each ``*_explorer()`` returns the widget tree (an ``ipywidgets.VBox``) with handles a test or an
instructor can use:

* ``box.controls``: ``{name: widget}``; set ``.value`` and the figure redraws in place;
* ``box.image``: an ``ipywidgets.Image`` holding the figure as PNG bytes (robust under nbval and
  Voila, unlike figures drawn into an ``Output``);
* ``box.readout``: an ``HTML`` line with the key numbers, or the message for a bad value;
* ``box.data``: the arrays last drawn, ``box.error``: the last message (None when fine);
* ``box.redraw()``: redraw by hand; ``box.last_seconds``: how long the last redraw took.

The figure is created once; a redraw updates its lines (``set_data``), so nothing stacks up.
"""

from __future__ import annotations

import html
import io
import time

import ipywidgets as W
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator

from ._checks import bad
from .schedules import NoiseSchedule
from .weighting import effective_weights, weighting_curves

SCHEDULE_KINDS = ("linear", "cosine", "scaled_linear", "sigmoid")
COLORS = ("C0", "C1", "C2", "C3", "C4", "C5")


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def make_schedule(kind: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02, s: float = 0.008) -> NoiseSchedule:
    """The schedule an explorer's controls describe; T must be >= 2 to draw a curve over t."""
    if T < 2:
        raise bad("T", T, "the explorer draws curves over t = 1..T and needs T >= 2")
    if kind in ("linear", "scaled_linear"):
        return NoiseSchedule.by_name(kind, T=T, beta_start=beta_start, beta_end=beta_end)
    if kind == "cosine":
        return NoiseSchedule.cosine(T=T, s=s)
    return NoiseSchedule.by_name(kind, T=T)


def _box(controls: dict, rows: list, image: W.Image, readout: W.HTML, draw) -> W.VBox:
    """Wire ``draw(values) -> (data, readout_text)`` to the controls (laid out in ``rows`` of names);
    errors become a readable message in the readout instead of a traceback."""
    box = W.VBox([W.HBox([controls[name] for name in row]) for row in rows] + [readout, image])
    box.controls, box.image, box.readout = controls, image, readout
    box.data, box.error, box.last_seconds = {}, None, 0.0

    def redraw(*_):
        start = time.perf_counter()
        values = {name: w.value for name, w in controls.items()}
        try:
            data, text = draw(values)
        except ValueError as err:      # a value the controls can still produce (T = 1, gamma = 0)
            box.error = str(err)
            readout.value = f'<span style="color:#b00020">Cannot draw this: {html.escape(str(err))}</span>'
        except Exception as err:  # noqa: BLE001 - a widget must never die with a traceback
            box.error = f"{type(err).__name__}: {err}"
            readout.value = f'<span style="color:#b00020">Unexpected error: {html.escape(box.error)}</span>'
        else:
            box.error = None
            box.data = data
            readout.value = text
        box.last_seconds = time.perf_counter() - start

    for w in controls.values():
        w.observe(redraw, names="value")
    box.redraw = redraw
    redraw()
    return box


# ----------------------------------------------------------------------------- notebook 01
def schedule_explorer(kind: str = "linear", T: int = 1000) -> W.VBox:
    """Schedule kind, T, beta range (linear kinds) and cosine offset s; draws signal/noise and log-SNR.

    Left: sqrt(alpha-bar_t) (the signal's coefficient) and sqrt(1 - alpha-bar_t) (the noise's).
    Right: log-SNR_t. The readout gives alpha-bar_T and the log-SNR range.
    """
    style = {"description_width": "initial"}
    controls = {
        "kind": W.Dropdown(options=SCHEDULE_KINDS, value=kind, description="schedule"),
        "T": W.IntSlider(value=T, min=1, max=2000, step=1, description="T", style=style),
        "beta_start": W.FloatLogSlider(value=1e-4, base=10, min=-5, max=-1, step=0.05, description="beta_start",
                                       readout_format=".1e", style=style),
        # a browser snaps a log slider to min + k * step: keep the default 0.02 on that grid
        "beta_end": W.FloatLogSlider(value=0.02, base=10, min=np.log10(0.02) - 1.5, max=np.log10(0.02) + 1.3, step=0.05,
                                     description="beta_end", readout_format=".1e", style=style),
        "s": W.FloatSlider(value=0.008, min=0.0, max=0.2, step=0.001, description="cosine s",
                           readout_format=".3f", style=style),
    }
    fig = Figure(figsize=(9, 3.2), dpi=72)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.9, wspace=0.25)
    FigureCanvasAgg(fig)
    ax_sig, ax_snr = fig.subplots(1, 2)
    (l_sig,) = ax_sig.plot([], [], color="C0", label=r"signal $\sqrt{\bar\alpha_t}$")
    (l_noise,) = ax_sig.plot([], [], color="C3", label=r"noise $\sqrt{1-\bar\alpha_t}$")
    ax_sig.set_xlabel("t"); ax_sig.set_ylabel("coefficient in $x_t$"); ax_sig.set_ylim(-0.03, 1.03)
    ax_sig.legend(loc="center right"); ax_sig.set_title("what $x_t$ is made of")
    (l_snr,) = ax_snr.plot([], [], color="C2")
    ax_snr.axhline(0, color="k", lw=0.8, ls=":")
    ax_snr.set_xlabel("t"); ax_snr.set_ylabel("log-SNR$_t$"); ax_snr.set_title("log signal-to-noise ratio")
    image = W.Image(format="png")
    readout = W.HTML()

    def draw(v):
        linear_kind = v["kind"] in ("linear", "scaled_linear")
        controls["beta_start"].disabled = controls["beta_end"].disabled = not linear_kind
        controls["s"].disabled = v["kind"] != "cosine"
        sched = make_schedule(v["kind"], v["T"], v["beta_start"], v["beta_end"], v["s"])
        t = np.arange(1, sched.T + 1)
        sig = sched.alpha_bars[1:].sqrt().numpy()
        noise = sched.one_minus_alpha_bars[1:].sqrt().numpy()
        log_snr = sched.log_snr[1:].numpy()
        l_sig.set_data(t, sig); l_noise.set_data(t, noise); l_snr.set_data(t, log_snr)
        for ax in (ax_sig, ax_snr):
            ax.set_xlim(0, sched.T + 1)
        ax_snr.set_ylim(log_snr.min() - 0.5, log_snr.max() + 0.5)
        image.value = png_bytes(fig)
        cross = int(t[np.argmax(log_snr < 0)]) if (log_snr < 0).any() else None
        text = (f"<b>{sched.name}</b>, T = {sched.T}: alpha-bar_T = {float(sched.alpha_bars[-1]):.3e}, "
                f"log-SNR from {log_snr[0]:.2f} to {log_snr[-1]:.2f}"
                + (f", signal = noise at t = {cross}" if cross else ", signal never falls below noise"))
        return {"t": t, "signal": sig, "noise": noise, "log_snr": log_snr, "schedule": sched}, text

    return _box(controls, [["kind", "T"], ["beta_start", "beta_end", "s"]], image, readout, draw)


# ----------------------------------------------------------------------------- notebook 03
def weighting_explorer(kind: str = "linear", T: int = 1000, space: str = "eps") -> W.VBox:
    """Every weighting of ``weighting_curves`` on one log axis, in the chosen space and x-axis.

    Left: weights normalised to mean 1 over t, against t or log-SNR. Right: the log-SNR density
    under uniform t (dashed) and each weighting times it: where the objective really spends effort.
    """
    style = {"description_width": "initial"}
    controls = {
        "kind": W.Dropdown(options=SCHEDULE_KINDS, value=kind, description="schedule"),
        "T": W.IntSlider(value=T, min=1, max=2000, step=1, description="T", style=style),
        "space": W.ToggleButtons(options=["eps", "x0", "v"], value=space, description="loss space",
                                 style={"description_width": "initial", "button_width": "56px"}),
        "axis": W.ToggleButtons(options=["t", "log-SNR"], value="t", description="x axis",
                                style={"description_width": "initial", "button_width": "72px"}),
        "gamma": W.FloatSlider(value=5.0, min=0.0, max=20.0, step=0.5, description="Min-SNR gamma", style=style),
        "k": W.FloatSlider(value=1.0, min=0.0, max=5.0, step=0.1, description="P2 k", style=style),
        "p2_gamma": W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="P2 gamma", style=style),
    }
    fig = Figure(figsize=(10, 3.6), dpi=72)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.22)
    FigureCanvasAgg(fig)
    ax_w, ax_eff = fig.subplots(1, 2)
    lines = [ax_w.plot([], [], color=c, lw=1.6)[0] for c in COLORS]
    eff_lines = [ax_eff.plot([], [], color=c, lw=1.4)[0] for c in COLORS]
    (dens_line,) = ax_eff.plot([], [], color="k", ls="--", lw=1.2, label="density of log-SNR, uniform t")
    ax_w.set_yscale("log"); ax_w.set_ylabel("weight / its mean over t")
    ax_w.yaxis.set_minor_locator(NullLocator())   # minor log ticks cost a third of a redraw
    ax_eff.set_xlabel("log-SNR"); ax_eff.set_ylabel("weight x density (normalised)")
    ax_eff.set_title("where each objective spends its effort")
    image = W.Image(format="png")
    readout = W.HTML()

    def draw(v):
        sched = make_schedule(v["kind"], v["T"])
        curves = weighting_curves(sched, v["space"], gamma=v["gamma"], k=v["k"], p2_gamma=v["p2_gamma"])
        t = np.arange(1, sched.T + 1)
        lam_all = sched.log_snr[1:].numpy()
        x = t if v["axis"] == "t" else lam_all
        lam, dens, eff = effective_weights(sched, curves)
        all_w = []
        for line, eff_line, (label, w) in zip(lines, eff_lines, curves.items()):
            w = w[1:].numpy()
            line.set_data(x, w); line.set_label(label)
            eff_line.set_data(lam, eff[label])
            all_w.append(w)
        dens_line.set_data(lam, dens)
        stacked = np.concatenate(all_w)
        ax_w.set_xlim(x.min(), x.max())
        ax_w.set_ylim(stacked.min() / 2, stacked.max() * 2)
        ax_w.set_xlabel("t" if v["axis"] == "t" else "log-SNR")
        ax_w.set_title(f"weights on the {v['space']}-MSE ({sched.name}, T = {sched.T})")
        ax_w.legend(fontsize=8, loc="upper right")
        ax_eff.set_xlim(lam.min(), lam.max())
        ax_eff.set_ylim(0, min(float(np.max([e.max() for e in eff.values()] + [dens.max()])), 5 * dens.max()) * 1.05)
        image.value = png_bytes(fig)
        vlb = curves["VLB, sigma^2 = beta"][1:].numpy()
        text = (f"{sched.name}, T = {sched.T}, {v['space']} space: VLB weight (sigma^2 = beta) at t = 1 is "
                f"{vlb[0] / vlb[-1]:.1f}x its value at t = T; Min-SNR-{v['gamma']:g} equals simple (in eps space) "
                f"for the {int((sched.snr[1:] <= v['gamma']).sum())} steps with SNR <= {v['gamma']:g}")
        return {"x": x, "t": t, "log_snr": lam_all, "curves": {k: c[1:].numpy() for k, c in curves.items()},
                "density": dens, "effective": eff, "schedule": sched}, text

    return _box(controls, [["kind", "T"], ["space", "axis"], ["gamma", "k", "p2_gamma"]], image, readout, draw)

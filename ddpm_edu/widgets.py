"""The ipywidgets explorers of notebooks 01, 03 and 07.

Each ``*_explorer()`` returns an :class:`Explorer` (an ``ipywidgets.VBox``) with handles a test or
an instructor can use:

* ``box.controls``: ``{name: widget}``; set ``.value`` and the figure redraws in place;
* ``box.image``: an ``ipywidgets.Image`` holding the figure as PNG bytes, rendered at twice its
  display size so it stays sharp on a HiDPI screen or a projector;
* ``box.readout``: an ``HTML`` line with the key numbers, or the message for a bad value;
  ``box.readout_text`` is the same line as plain text (for ``print``);
* ``box.data``: the arrays last drawn, ``box.error``: the last message (None when fine);
* ``box.redraw()``: redraw by hand; ``box.last_seconds``: how long the last redraw took.

Speed: the figure is created once. A redraw updates the curves' data and draws only the curves
onto a cached picture of everything else (axes, ticks, labels, legend: matplotlib "blitting").
That picture is redrawn only when the frame changes (an axis limit, a label, the schedule kind);
limits are rounded to a coarse grid so that small moves of a slider keep the frame.

Outside a live kernel (GitHub, nbconvert, the course site) an explorer shows a static PNG of its
view at display time and one line on how to run it live (``_repr_mimebundle_``).
"""

from __future__ import annotations

import base64
import html
import math
import re
import struct
import time
import zlib

import ipywidgets as W
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullLocator

from ._checks import Desc, bad, check_choice, check_int, check_real
from .plotting import LOG_SNR_LABEL, weighting_style
from .schedules import NoiseSchedule
from .weighting import effective_weights, weighting_curves

try:        # zlib-ng writes the same deflate format as zlib, about 5x faster at level 1 (png_bytes)
    from zlib_ng import zlib_ng as _deflate
except ImportError:                     # pragma: no cover - a platform without its wheel: zlib still works
    _deflate = zlib

SCHEDULE_KINDS = ("linear", "cosine", "scaled_linear", "sigmoid")
T_MAX = 2000                      # the T sliders' range is 2..T_MAX
CSS_DPI = 100                     # figure inches -> CSS pixels
SCALE = 2                         # pixels per CSS pixel in the PNG (2x: sharp on HiDPI screens and projectors)
LIVE_NOTE = "A static picture of this explorer: run the notebook (make lab) or make explore to move its controls."


def fmt_number(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, in scientific notation outside 0.01..10^4.

    ``fmt_number(49.03)`` is "49.0", ``fmt_number(2.2e8)`` is "2.20e+08", ``fmt_number(0.0004)``
    is "4.00e-04": never "0.0" for a small number or a dozen digits for a large one.
    """
    x = check_real("x", x) if not (isinstance(x, float) and math.isinf(x)) else x
    digits = check_int("digits", digits, 1, 17)
    if not math.isfinite(x):
        return "inf" if x > 0 else ("-inf" if x < 0 else "nan")
    if x == 0:
        return "0"
    if 1e-2 <= abs(x) < 1e4:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
        return f"{x:.{decimals}f}"
    return f"{x:.{digits - 1}e}"


def nice_ceil(x: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (times a power of ten) that is >= x > 0."""
    x = float(x)
    if x <= 0:
        return 0.0
    exp = 10.0 ** math.floor(math.log10(x))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * exp >= x * (1 - 1e-12):
            return m * exp
    return 10 * exp


def log_limits(values) -> tuple:
    """Log-axis limits on whole decades around the finite positive ``values`` (a stable frame)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size == 0:
        return (0.1, 10.0)
    lo, hi = math.floor(math.log10(v.min())), math.ceil(math.log10(v.max()))
    if hi - lo < 1:
        hi = lo + 1
    return (10.0 ** lo, 10.0 ** hi)


def step_limits(lo: float, hi: float, step: float) -> tuple:
    """(lo, hi) widened to multiples of ``step``."""
    a, b = step * math.floor(lo / step), step * math.ceil(hi / step)
    return (a, b if b > a else a + step)


def png_bytes(pixels) -> bytes:
    """An (H, W, 3) RGB or (H, W, 4) RGBA uint8 array as a PNG file: 8 bits per channel, no interlace,
    every row with filter type 0 (None), one IDAT chunk deflated at level 1 (PNG specification, W3C
    2003, sections 5, 9 and 11.2).

    Why not Pillow's encoder: it picks a filter per row, and on the weighting explorer's 1800 x 740
    image that took 47-51 ms of a 60 ms redraw on a 2-core CPU machine. Taking matplotlib's RGBA
    buffer as it is, with filter None and zlib-ng, takes about 6 ms. Dropping the alpha channel
    would cost more than deflating it (a strided copy: 15-17 ms, in numpy or through Pillow). The
    file is larger (223 KB against Pillow's 156 KB), well under a millisecond on a local connection.
    Any PNG reader decodes it (the tests decode it with Pillow, pixel for pixel)."""
    if (not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3
            or pixels.shape[2] not in (3, 4) or 0 in pixels.shape):
        raise bad("pixels", Desc(f"{type(pixels).__name__} {getattr(pixels, 'dtype', '')} of shape {getattr(pixels, 'shape', ())}"),
                  "pixels must be a non-empty uint8 array of shape (H, W, 3) (RGB) or (H, W, 4) (RGBA)")
    h, w, c = pixels.shape
    rows = np.empty((h, 1 + c * w), np.uint8)
    rows[:, 0] = 0                                              # filter type None
    rows[:, 1:] = pixels.reshape(h, c * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    color_type = 2 if c == 3 else 6                             # truecolour, truecolour with alpha
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0))
            + chunk(b"IDAT", _deflate.compress(rows, 1)) + chunk(b"IEND", b""))


class BlitFigure:
    """A matplotlib figure that redraws only its ``animated`` artists while its frame is unchanged.

    ``figsize`` in inches; the PNG is ``figsize * CSS_DPI * SCALE`` pixels and is meant to be shown
    at ``css_width`` CSS pixels (half its pixel width: sharp at devicePixelRatio 2).
    """

    def __init__(self, figsize):
        self.fig = Figure(figsize=figsize, dpi=CSS_DPI * SCALE)
        self.canvas = FigureCanvasAgg(self.fig)
        self.css_width = int(round(figsize[0] * CSS_DPI))
        self.css_height = int(round(figsize[1] * CSS_DPI))
        self.animated = []
        self._backgrounds = {}          # frame key -> its pixels, so that a frame seen before is not drawn again
        self.full_redraws = 0

    MAX_FRAMES = 8

    def animate(self, artist):
        """Mark ``artist`` as drawn on every redraw (a curve), not part of the cached frame."""
        artist.set_animated(True)
        self.animated.append(artist)
        return artist

    def frame_key(self):
        """What the cached background depends on: limits, scales, labels, titles, legends."""
        key = []
        for ax in self.fig.axes:
            legend = ax.get_legend()
            key.append((ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(),
                        ax.get_ylabel(), ax.get_title(),
                        tuple(t.get_text() for t in legend.get_texts()) if legend else ()))
        for legend in self.fig.legends:
            key.append(tuple(t.get_text() for t in legend.get_texts()))
        return tuple(key)

    def png(self) -> bytes:
        """Draw (the frame only if it changed, then the animated artists) and encode as PNG."""
        key = self.frame_key()
        if key not in self._backgrounds:
            self.canvas.draw()                    # draws the frame: matplotlib skips animated artists
            if len(self._backgrounds) >= self.MAX_FRAMES:          # keep the most recent frames only
                self._backgrounds.pop(next(iter(self._backgrounds)))
            self._backgrounds[key] = self.canvas.copy_from_bbox(self.fig.bbox)
            self.full_redraws += 1
        else:
            self._backgrounds[key] = self._backgrounds.pop(key)   # most recently used last
            self.canvas.restore_region(self._backgrounds[key])
        for artist in self.animated:
            if artist.get_visible():
                self.fig.draw_artist(artist)
        return png_bytes(np.asarray(self.canvas.buffer_rgba()))


class Explorer(W.VBox):
    """An explorer: controls, a readout line and a figure. See the module docstring for its handles."""

    controls: dict
    image: W.Image
    readout: W.HTML

    @property
    def readout_text(self) -> str:
        """The readout as plain text (tags removed, entities unescaped)."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.readout.value))

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where a widget manager runs, a static PNG (2x) with a note elsewhere."""
        data = super()._repr_mimebundle_(**kwargs) or {}
        if self.image.value:
            src = base64.b64encode(self.image.value).decode("ascii")
            data["text/html"] = (
                f'<div class="ddpm-edu-explorer-static"><p>{html.escape(self.readout_text)}</p>'
                f'<img src="data:image/png;base64,{src}" width="{self.image.width}" '
                f'alt="explorer figure (static)" style="max-width:100%;height:auto">'
                f'<p><em>{html.escape(LIVE_NOTE)}</em></p></div>')
        return data


def make_schedule(kind: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02, s: float = 0.008) -> NoiseSchedule:
    """The schedule an explorer's controls describe; T must be >= 2 to draw a curve over t."""
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = check_int("T", T, 2)
    if kind in ("linear", "scaled_linear"):
        return NoiseSchedule.by_name(kind, T=T, beta_start=beta_start, beta_end=beta_end)
    if kind == "cosine":
        return NoiseSchedule.cosine(T=T, s=s)
    return NoiseSchedule.by_name(kind, T=T)


def _check_T(T) -> int:
    T = check_int("T", T, 2)
    if T > T_MAX:
        raise bad("T", T, f"the explorer's T slider runs from 2 to {T_MAX}")
    return T


def _explorer(controls: dict, rows: list, figure: BlitFigure, draw) -> Explorer:
    """Wire ``draw(values) -> (data, readout_html)`` to the controls (laid out in ``rows`` of names);
    errors become a readable message in the readout instead of a traceback."""
    image = W.Image(format="png", width=str(figure.css_width))
    image.layout.max_width = "100%"
    image.layout.height = "auto"
    readout = W.HTML()
    box = Explorer([W.HBox([controls[name] for name in row]) for row in rows] + [readout, image])
    box.controls, box.image, box.readout, box.figure = controls, image, readout, figure
    box.data, box.error, box.last_seconds = {}, None, 0.0

    def redraw(*_):
        start = time.perf_counter()
        values = {name: w.value for name, w in controls.items()}
        try:
            data, text = draw(values)
            png = figure.png()
        except ValueError as err:      # a value the controls can still produce (gamma = 0, ...)
            box.error = str(err)
            readout.value = f'<span style="color:#b00020">Cannot draw this: {html.escape(str(err))}</span>'
        except Exception as err:  # noqa: BLE001 - a widget must never die with a traceback
            box.error = f"{type(err).__name__}: {err}"
            readout.value = f'<span style="color:#b00020">Unexpected error: {html.escape(box.error)}</span>'
        else:
            box.error = None
            box.data = data
            readout.value = text
            image.value = png
        box.last_seconds = time.perf_counter() - start

    for w in controls.values():
        w.observe(redraw, names="value")
    box.redraw = redraw
    redraw()
    return box


# ----------------------------------------------------------------------------- notebook 01
def schedule_explorer(kind: str = "linear", T: int = 1000) -> Explorer:
    """Schedule kind, T, beta range (linear kinds) and cosine offset s; draws signal/noise and log-SNR.

    Left: sqrt(alpha-bar_t) (the signal's coefficient) and sqrt(1 - alpha-bar_t) (the noise's).
    Right: log-SNR_t. The readout gives alpha-bar_T, the log-SNR range and where signal = noise.
    """
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = _check_T(T)
    style = {"description_width": "initial"}
    controls = {
        "kind": W.Dropdown(options=SCHEDULE_KINDS, value=kind, description="schedule"),
        "T": W.IntSlider(value=T, min=2, max=T_MAX, step=1, description="T", style=style),
        "beta_start": W.FloatLogSlider(value=1e-4, base=10, min=-5, max=-1, step=0.05, description="beta_start",
                                       readout_format=".1e", style=style),
        # a browser snaps a log slider to min + k * step: keep the default 0.02 on that grid
        "beta_end": W.FloatLogSlider(value=0.02, base=10, min=np.log10(0.02) - 1.5, max=np.log10(0.02) + 1.3, step=0.05,
                                     description="beta_end", readout_format=".1e", style=style),
        "s": W.FloatSlider(value=0.008, min=0.0, max=0.2, step=0.001, description="cosine s",
                           readout_format=".3f", style=style),
    }
    fig = BlitFigure((9.0, 3.3))
    fig.fig.subplots_adjust(left=0.075, right=0.975, bottom=0.27, top=0.91, wspace=0.22)
    ax_sig, ax_snr = fig.fig.subplots(1, 2)
    l_sig = fig.animate(ax_sig.plot([], [], color="C0", lw=1.8, label=r"signal $\sqrt{\bar\alpha_t}$")[0])
    l_noise = fig.animate(ax_sig.plot([], [], color="C3", lw=1.8, ls="--", label=r"noise $\sqrt{1-\bar\alpha_t}$")[0])
    l_snr = fig.animate(ax_snr.plot([], [], color="C2", lw=1.8, label=r"log-SNR$_t$")[0])
    ax_sig.set_xlabel("t"); ax_sig.set_ylabel("coefficient in $x_t$"); ax_sig.set_ylim(-0.03, 1.03)
    ax_sig.set_title("what $x_t$ is made of")
    ax_snr.axhline(0, color="k", lw=0.8, ls=":")
    ax_snr.set_xlabel("t"); ax_snr.set_ylabel(r"log-SNR$_t$"); ax_snr.set_title("log signal-to-noise ratio")
    for ax in (ax_sig, ax_snr):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))       # t is an integer, even for T = 2
    fig.fig.legend(handles=[l_sig, l_noise, l_snr], loc="lower center", ncols=3, frameon=False)

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
            ax.set_xlim(0, 1.02 * nice_ceil(sched.T))     # the last step (a spike, for cosine) off the frame
        ax_snr.set_ylim(*step_limits(log_snr.min(), log_snr.max(), 2.0))
        cross = int(t[np.argmax(log_snr < 0)]) if (log_snr < 0).any() else None
        text = (f"<b>{sched.name}</b>, T = {sched.T}: alpha-bar_T = {float(sched.alpha_bars[-1]):.3e}, "
                f"log-SNR from {log_snr[0]:.2f} to {log_snr[-1]:.2f}"
                + (f", signal = noise at t = {cross}" if cross else ", signal never falls below noise"))
        return {"t": t, "signal": sig, "noise": noise, "log_snr": log_snr, "schedule": sched}, text

    return _explorer(controls, [["kind", "T"], ["beta_start", "beta_end", "s"]], fig, draw)


# ----------------------------------------------------------------------------- notebook 03
# static legend labels (parameters go in the readout, so moving a slider keeps the cached frame)
WEIGHTING_LABELS = ("VLB, $\\sigma_t^2 = \\beta_t$", "VLB, $\\sigma_t^2 = \\tilde\\beta_t$", "simple",
                    "Min-SNR-$\\gamma$", "P2 ($k$, $\\gamma_{P2}$)", "SNR")
WEIGHTING_KINDS = ("VLB, sigma^2 = beta", "VLB, sigma^2 = beta-tilde", "simple", "Min-SNR", "P2", "SNR")


def weighting_explorer(kind: str = "linear", T: int = 1000, space: str = "eps") -> Explorer:
    """Every weighting of ``weighting_curves`` on one log axis, in the chosen space and x-axis.

    Left: weights normalised to mean 1 over t (each curve divided by its own mean), against t or
    log-SNR. Right: the log-SNR density under uniform t (dashed) and each weighting times it: where
    the objective really spends effort. The legend sits under the panels, never over a curve.
    """
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = _check_T(T)
    check_choice("space", space, ("eps", "x0", "v"))
    style = {"description_width": "initial"}
    controls = {
        "kind": W.Dropdown(options=SCHEDULE_KINDS, value=kind, description="schedule"),
        "T": W.IntSlider(value=T, min=2, max=T_MAX, step=1, description="T", style=style),
        "space": W.ToggleButtons(options=["eps", "x0", "v"], value=space, description="loss space",
                                 style={"description_width": "initial", "button_width": "56px"}),
        "axis": W.ToggleButtons(options=["t", "log-SNR"], value="t", description="x axis",
                                style={"description_width": "initial", "button_width": "72px"}),
        "gamma": W.FloatSlider(value=5.0, min=0.0, max=20.0, step=0.5, description="Min-SNR gamma", style=style),
        "k": W.FloatSlider(value=1.0, min=0.0, max=5.0, step=0.1, description="P2 k", style=style),
        "p2_gamma": W.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.1, description="P2 gamma", style=style),
    }
    fig = BlitFigure((9.0, 3.7))
    fig.fig.subplots_adjust(left=0.075, right=0.975, bottom=0.33, top=0.91, wspace=0.24)
    ax_w, ax_eff = fig.fig.subplots(1, 2)
    lines = [fig.animate(ax_w.plot([], [], label=lab, **weighting_style(kind))[0])
             for kind, lab in zip(WEIGHTING_KINDS, WEIGHTING_LABELS)]
    eff_lines = [fig.animate(ax_eff.plot([], [], **weighting_style(kind))[0]) for kind in WEIGHTING_KINDS]
    dens_line = fig.animate(ax_eff.plot([], [], color="k", ls="--", lw=1.2, label="density of log-SNR, uniform t")[0])
    ax_w.set_yscale("log"); ax_w.set_ylabel("weight / its own mean over t")
    ax_w.yaxis.set_minor_locator(NullLocator())   # minor log ticks cost a third of a full redraw
    ax_eff.set_xlabel(LOG_SNR_LABEL); ax_eff.set_ylabel("weight x density (normalised)")
    ax_eff.set_title("where each objective spends its effort")
    fig.fig.legend(handles=lines + [dens_line], loc="lower center", ncols=4, frameon=False, fontsize=9)

    def draw(v):
        sched = make_schedule(v["kind"], v["T"])
        curves = weighting_curves(sched, v["space"], gamma=v["gamma"], k=v["k"], p2_gamma=v["p2_gamma"])
        t = np.arange(1, sched.T + 1)
        lam_all = sched.log_snr[1:].numpy()
        by_t = v["axis"] == "t"
        x = t if by_t else lam_all
        lam, dens, eff = effective_weights(sched, curves)
        all_w = []
        for line, eff_line, (label, w) in zip(lines, eff_lines, curves.items()):
            w = w[1:].numpy()
            line.set_data(x, w)
            eff_line.set_data(lam, eff[label])
            all_w.append(w)
        dens_line.set_data(lam, dens)
        if by_t:
            ax_w.set_xlim(0, 1.02 * nice_ceil(sched.T))
            ax_w.set_xlabel("t")
            ax_w.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            lo, hi = step_limits(lam_all.min(), lam_all.max(), 1.0)
            ax_w.set_xlim(hi, lo)                     # clean on the left, noisy on the right (suite-wide)
            ax_w.set_xlabel(LOG_SNR_LABEL)
            ax_w.xaxis.set_major_locator(MaxNLocator())
        ax_w.set_ylim(*log_limits(np.concatenate(all_w)))
        ax_w.set_title(f"weights on the {v['space']}-MSE ({sched.name} schedule)")
        lo, hi = step_limits(lam.min(), lam.max(), 1.0)
        ax_eff.set_xlim(hi, lo)
        peak = max(float(np.max([e.max() for e in eff.values()])), float(dens.max()))
        ax_eff.set_ylim(0, nice_ceil(min(peak, 5 * float(dens.max())) * 1.05))
        vlb = curves["VLB, sigma^2 = beta"][1:].numpy()
        n_equal = int((sched.snr[1:] <= v["gamma"]).sum())
        text = (f"{sched.name}, T = {sched.T}, {v['space']} space: VLB weight (sigma^2 = beta) lambda_1 / lambda_T = "
                f"{fmt_number(vlb[0] / vlb[-1])}, largest / smallest over t = {fmt_number(vlb.max() / vlb.min())}; "
                f"Min-SNR-{v['gamma']:g} equals simple "
                f"(in eps space) for the {n_equal} steps with SNR &lt;= {v['gamma']:g}; "
                f"P2 k = {v['k']:g}, gamma = {v['p2_gamma']:g}")
        return {"x": x, "t": t, "log_snr": lam_all, "curves": {k: c[1:].numpy() for k, c in curves.items()},
                "density": dens, "effective": eff, "schedule": sched}, text

    return _explorer(controls, [["kind", "T"], ["space", "axis"], ["gamma", "k", "p2_gamma"]], fig, draw)


# ----------------------------------------------------------------------------- notebook 07
EXPLORED = ("edm", "sd3", "min_snr", "sigmoid")


def objective_explorer() -> Explorer:
    """EDM's P_mean/P_std, SD3's m/s, Min-SNR's gamma and the sigmoid's b, against the ELBO's flat weighting.

    One panel: each objective's effective weighting p(lambda) w(lambda), normalised to integrate to 1 over
    lambda in [-10, 10], against lambda (clean on the left); the ELBO (dashed) is flat. The readout gives
    each curve's mode and mean lambda.
    """
    from . import objectives as O
    from .objectives import LAMBDA_RANGE

    style = {"description_width": "initial"}
    controls = {
        "P_mean": W.FloatSlider(value=-1.2, min=-3.0, max=2.0, step=0.1, description="EDM P_mean", style=style),
        "P_std": W.FloatSlider(value=1.2, min=0.2, max=3.0, step=0.1, description="EDM P_std", style=style),
        "m": W.FloatSlider(value=0.0, min=-2.0, max=2.0, step=0.1, description="SD3 m", style=style),
        "s": W.FloatSlider(value=1.0, min=0.2, max=3.0, step=0.1, description="SD3 s", style=style),
        "gamma": W.FloatSlider(value=5.0, min=0.5, max=20.0, step=0.5, description="Min-SNR gamma", style=style),
        "b": W.FloatSlider(value=0.0, min=-5.0, max=5.0, step=0.5, description="sigmoid b", style=style),
    }
    lam = np.linspace(*LAMBDA_RANGE, 801)
    fig = BlitFigure((9.0, 3.9))
    fig.fig.subplots_adjust(left=0.08, right=0.975, bottom=0.26, top=0.91)
    ax = fig.fig.subplots()
    plain = {"edm": "EDM", "sd3": "SD3", "min_snr": "Min-SNR", "sigmoid": "sigmoid"}
    labels = {"edm": "EDM", "sd3": "SD3 (logit-normal t)", "min_snr": "Min-SNR-$\\gamma$", "sigmoid": "sigmoid($b - \\lambda$)"}
    colors = {"edm": "C0", "sd3": "C1", "min_snr": "C3", "sigmoid": "C4"}
    lines = {k: fig.animate(ax.plot([], [], color=colors[k], lw=1.8, label=labels[k])[0]) for k in EXPLORED}
    elbo = O.normalised("elbo", lam)
    ax.plot(lam, elbo, "k--", lw=1.2, label="ELBO (flat)")
    ax.set_xlim(LAMBDA_RANGE[1], LAMBDA_RANGE[0])
    ax.set_xlabel(LOG_SNR_LABEL); ax.set_ylabel(r"$p(\lambda)\, w(\lambda)$, normalised")
    ax.set_title("effective weighting of each objective")
    fig.fig.legend(handles=list(lines.values()) + [ax.lines[-1]], loc="lower center", ncols=5, frameon=False, fontsize=9)

    def draw(v):
        params = {"edm": {"P_mean": v["P_mean"], "P_std": v["P_std"]}, "sd3": {"m": v["m"], "s": v["s"]},
                  "min_snr": {"gamma": v["gamma"]}, "sigmoid": {"b": v["b"]}}
        curves, stats = {}, []
        for name in EXPLORED:
            e = O.normalised(name, lam, **params[name])
            lines[name].set_data(lam, e)
            curves[name] = e
            stats.append(f"{plain[name]}: mode {lam[np.argmax(e)]:.1f}, mean {np.trapezoid(lam * e, lam):.1f}")
        ax.set_ylim(0, nice_ceil(max(float(max(c.max() for c in curves.values())), float(elbo.max())) * 1.05))
        text = "lambda of each objective's mass (clean = high): " + "; ".join(stats)
        return {"lambda": lam, "curves": curves, "elbo": elbo}, html.escape(text)

    return _explorer(controls, [["P_mean", "P_std", "m", "s"], ["gamma", "b"]], fig, draw)

"""The explorers of notebooks 01, 03 and 07: widgets that compute and draw their figure in the page.

``schedule_explorer()``, ``weighting_explorer()`` and ``objective_explorer()`` return anywidgets: an ES
module (``ddpm_edu/static/explorers``, with the vendored uPlot) draws the figure on a canvas scaled by the
screen's pixel ratio and computes every number it draws and prints, the same closed forms as this package
(the tests hold them to 1e-9). A slider move never waits for a kernel, so the same explorer works in
JupyterLab, Notebook 7, Voila, VS Code and Colab, and on the course site with no kernel at all.

The Python side is the contract:

* the controls are synced traits, checked like every argument of the package: ``w.T = 500`` redraws the
  page, moving the T slider sets ``w.T``; a bad value is a ValueError naming it;
* ``w.readout_text``: the readout line for the current traits, computed here, by the package (the page
  prints the same line); ``w.data``: the arrays the explorer draws, computed here; ``w.error``: None, or
  the message the page shows for a setting it cannot draw (e.g. a schedule whose alpha-bar underflows);
* ``w.controls``: ``{name: control}``, each with ``.value`` (read and set), ``.min``, ``.max``, ``.step``
  or ``.options``: the sliders as the page shows them.

Where no widget manager runs (GitHub's preview, a printed page), the output is a sharp (2x) picture of the
current view drawn by matplotlib, with one line on how to run it live; the course site mounts the live
explorer over that picture from the state saved beside it (``ddpm_edu/static/explorers/site.js``).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import math
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import anywidget
import numpy as np
import traitlets

from ._checks import bad, check_choice, check_int, check_real
from .schedules import SCHEDULES, NoiseSchedule
from .weighting import effective_weights, weighting_curves

STATIC = Path(__file__).resolve().parent / "static"
SCHEDULE_KINDS = SCHEDULES
T_MAX = 2000                      # the T sliders' range is 2..T_MAX
CSS_DPI = 100                     # figure inches -> CSS pixels
SCALE = 2                         # pixels per CSS pixel in the static picture (2x: sharp on HiDPI screens and projectors)
VIEWS = ("schedule", "weighting", "objective")
LIVE_NOTE = ("A picture of this explorer: it moves live where its page can run it (JupyterLab, Voila, Colab, "
             "the course site): ddpm-edu lab, or make explore.")


# ----------------------------------------------------------------------------- the page's module
def _read(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")


# The page code is ES modules (static/explorers: mirror/*.js, the package's formulas; page.js, the controls and
# charts; views/*.js, one explorer each; site.js, the course site's host), each importing what it uses. anywidget
# takes one module as text (``_esm``), so the modules an entry point needs are joined here in the order their
# imports give (each after what it imports), their import lines dropped and ``export`` kept only at the end:
# nothing to build, no order to remember, and a name declared twice is refused.
_IMPORT = re.compile(r'^import (?:\{ ([^}]*) \}|(\w+)) from "([^"]+)";\n', re.M)
_EXPORT = re.compile(r"^export (?=function |const |let |class )", re.M)
_TOP = re.compile(r"^(export )?(?:function|const|let|class) ([A-Za-z_$][\w$]*)", re.M)


def _modules(entries) -> list:
    """The modules (paths under static/explorers) that ``entries`` need, each after the modules it imports."""
    order = []

    def visit(rel: str, chain: tuple) -> None:
        if rel in chain:
            raise RuntimeError(f"the explorers' modules import each other in a circle: {' -> '.join(chain + (rel,))}")
        if rel in order:
            return
        for _, _, target in _IMPORT.findall(_read(f"explorers/{rel}")):
            if target != "uplot":                         # the vendored uPlot, wrapped below
                visit(posixpath.normpath(posixpath.join(posixpath.dirname(rel), target)), chain + (rel,))
        order.append(rel)

    for entry in entries:
        visit(entry, ())
    return order


def script(view: str | None = None) -> str:
    """The code of one explorer (``view`` in VIEWS), or of all three with ``view=None``, as a plain script:
    the vendored uPlot (a name of this script only), the modules the explorer(s) import, in import order, and
    ``MATH``, every function the mirror modules export (the tests evaluate it in headless Chromium and call
    ``MATH.name``). :func:`bundle` adds the exports that make it a module."""
    if view is not None:
        check_choice("view", view, VIEWS)
    modules = _modules([f"mirror/{m}" for m in MIRRORS] + [f"views/{v}.js" for v in (VIEWS if view is None else (view,))])
    parts = ["// ddpm-edu explorers; uPlot " + json.loads(_read("vendor/vendor.json"))["version"] +
             " (MIT, see vendor/LICENSE-uPlot.txt) is wrapped so that it is a name of this module only.",
             "const uPlot = (() => {\n" + _read("vendor/uPlot.iife.min.js") + "\nreturn uPlot;\n})();"]
    declared, mirrored = {}, []
    for rel in modules:
        src = _read(f"explorers/{rel}")
        for exported, name in _TOP.findall(src):       # one scope after joining: every top-level name once
            if name in declared:
                raise RuntimeError(f"{name} is declared in explorers/{declared[name]} and explorers/{rel}: rename one")
            declared[name] = rel
            if exported and rel.startswith("mirror/"):
                mirrored.append(name)
        parts.append(f"// ---- explorers/{rel}\n" + _EXPORT.sub("", _IMPORT.sub("", src)))
    parts.append(f"const MATH = {{ {', '.join(mirrored)} }};")
    return "\n".join(parts)


@functools.lru_cache(maxsize=None)
def bundle(view: str | None = None) -> str:
    """The ES module of one explorer (``view`` in VIEWS: anywidget's ``_esm``, exporting ``render``), or with
    ``view=None`` the course site's module, which mounts every explorer of a page (``site.js``)."""
    if view is None:
        tail = _EXPORT.sub("", _IMPORT.sub("", _read("explorers/site.js")))
    else:
        tail = f"export default {{ render: render{view.capitalize()} }};"
    return script(view) + "\n" + tail + "\nexport { MATH };\n"


MIRRORS = ("format.js", "arrays.js", "schedules.js", "weighting.js", "objectives.js")


@functools.lru_cache(maxsize=None)
def stylesheet() -> str:
    """uPlot's stylesheet and the explorers' own."""
    return _read("vendor/uPlot.min.css") + "\n" + _read("explorers/explorers.css")


# ----------------------------------------------------------------------------- numbers, as the page prints them
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


def make_schedule(kind: str, T: int, beta_start: float = 1e-4, beta_end: float = 0.02, s: float = 0.008) -> NoiseSchedule:
    """The schedule an explorer's controls describe; T must be >= 2 to draw a curve over t."""
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = check_int("T", T, 2)
    if kind in ("linear", "scaled_linear"):
        return NoiseSchedule.by_name(kind, T=T, beta_start=beta_start, beta_end=beta_end)
    if kind == "cosine":
        return NoiseSchedule.cosine(T=T, s=s)
    return NoiseSchedule.by_name(kind, T=T)


# ----------------------------------------------------------------------------- controls
@dataclass(frozen=True)
class Spec:
    """One control of an explorer, declared once: the trait (with its default and its check), ``w.controls[name]``
    and the page's control (the spec the widget sends in its synced ``_controls``) are all made from it.

    ``type``: "select" or "radio" (``options``), "range" (``min``..``max`` by ``step``; ``integer`` for T) or
    "logrange" (the slider moves log10 of the value, from ``min`` to ``max``). ``format``: how the page prints a
    slider's value, ``("exp", digits)``, ``("fixed", digits)`` or ``("g",)``. ``message``: what a value out of
    range is told (default: the range).
    """
    name: str
    label: str
    default: object
    type: str
    options: tuple = ()
    min: float | None = None
    max: float | None = None
    step: float | None = None
    integer: bool = False
    format: tuple = ()
    message: str | None = None

    def check(self, value):
        """``value`` if this control can take it, else a ValueError naming the control, the value and the range."""
        if self.type in ("select", "radio"):
            return check_choice(self.name, value, self.options)
        if self.integer:
            value = check_int(self.name, value, int(self.min))
            if value > self.max:
                raise bad(self.name, value, self.message or f"{self.name} runs from {self.min:g} to {self.max:g}")
            return value
        lo, hi = (10 ** self.min * (1 - 1e-9), 10 ** self.max * (1 + 1e-9)) if self.type == "logrange" else (self.min, self.max)
        return check_real(self.name, value, low=lo, high=hi, low_open=False, high_open=False)

    def page(self) -> dict:
        """The control as the page's module reads it (JSON)."""
        out = {"name": self.name, "label": self.label, "type": self.type}
        if self.options:
            out["options"] = list(self.options)
        else:
            out.update(min=self.min, max=self.max, step=self.step, integer=self.integer)
        if self.format:
            out["format"] = list(self.format)
        return out


def _choice(name, label, default, options, type="select"):
    return Spec(name, label, default, type, options=tuple(options))


def _slider(name, label, default, lo, hi, step, fmt=("fixed", 1), log=False, **more):
    return Spec(name, label, default, "logrange" if log else "range", min=lo, max=hi, step=step, format=fmt, **more)


class Control:
    """One control as the page shows it: ``.value`` reads and sets the explorer's trait; ``.label``, ``.min``,
    ``.max``, ``.step`` (slider units: log10 of the value for a log slider, whose ``.base`` is 10) or ``.options``."""

    def __init__(self, widget, spec: Spec):
        self._widget, self.name, self.spec, self.label = widget, spec.name, spec, spec.label
        if spec.options:
            self.options = spec.options
        else:
            self.min, self.max, self.step = spec.min, spec.max, spec.step
            if spec.type == "logrange":
                self.base = 10

    @property
    def value(self):
        return getattr(self._widget, self.name)

    @value.setter
    def value(self, v):
        setattr(self._widget, self.name, v)

    def __repr__(self):
        return f"Control({self.name!r}, value={self.value!r})"


class _Declared(type(anywidget.AnyWidget)):
    """Turns an explorer's ``CONTROLS`` (its :class:`Spec` s) into synced traits, each checked by its spec, and a
    synced ``_controls`` list the page builds its controls from, before traitlets sets the class up."""

    def __new__(mcls, name, bases, ns, **kwargs):
        for spec in ns.get("CONTROLS", ()):
            ns[spec.name] = traitlets.Any(spec.default).tag(sync=True)
            ns[f"_check_{spec.name}"] = traitlets.validate(spec.name)(
                lambda self, proposal, spec=spec: spec.check(proposal["value"]))
        if "CONTROLS" in ns:
            ns["_controls"] = traitlets.List([spec.page() for spec in ns["CONTROLS"]]).tag(sync=True)
        return super().__new__(mcls, name, bases, ns, **kwargs)


class _Explorer(anywidget.AnyWidget, metaclass=_Declared):
    """What the three explorers share: the stylesheet, checked traits, the package's readout and data."""
    _css = traitlets.Unicode(stylesheet()).tag(sync=True)
    VIEW = ""
    CONTROLS: tuple = ()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.controls = {spec.name: Control(self, spec) for spec in self.CONTROLS}

    def state(self) -> dict:
        """The explorer's parameters, as the page gets them."""
        return {spec.name: getattr(self, spec.name) for spec in self.CONTROLS}

    def _compute(self):
        raise NotImplementedError

    def _result(self):
        key = tuple(self.state().items())
        if getattr(self, "_cache_key", None) != key:
            try:
                self._cache = (self._compute(), None)
            except ValueError as err:                  # a setting the page shows as a message, not a picture
                self._cache = (None, str(err))
            self._cache_key = key
        return self._cache

    @property
    def data(self) -> dict:
        """The arrays this explorer draws for the current traits (computed by the package)."""
        out, err = self._result()
        if err is not None:
            raise ValueError(err)
        return out[0]

    @property
    def readout_text(self) -> str:
        """The readout line for the current traits, as the page prints it (plain text)."""
        out, err = self._result()
        return f"Cannot draw this: {err}" if err is not None else out[1]

    @property
    def error(self):
        """None, or the message the page shows for a setting it cannot draw."""
        return self._result()[1]

    # ------------------------------------------------------------------ outside a live widget manager
    def static_figure(self):
        """The current view as a matplotlib figure (the picture shown where the page's module cannot run)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=self.FIGSIZE, dpi=CSS_DPI * SCALE, layout="constrained")
        FigureCanvasAgg(fig)
        self._draw_static(fig)
        return fig

    def png(self) -> bytes:
        fig = self.static_figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=CSS_DPI * SCALE, facecolor="white")
        return buf.getvalue()

    def _repr_mimebundle_(self, **kwargs):
        """The live widget where a widget manager runs; elsewhere a static 2x picture with one line on running it,
        and the explorer's state, from which the course site mounts it live."""
        data = super()._repr_mimebundle_(**kwargs) or {}
        if isinstance(data, tuple):
            data = data[0]
        src = base64.b64encode(self.png()).decode("ascii")
        width = int(round(self.FIGSIZE[0] * CSS_DPI))
        state = html.escape(json.dumps(self.state()), quote=True)
        controls = html.escape(json.dumps(self._controls), quote=True)
        data["text/html"] = (
            f'<div class="ddpm-edu-explorer" data-view="{self.VIEW}" data-state="{state}" data-controls="{controls}">'
            f'<p class="ddpm-edu-static-readout">{html.escape(self.readout_text)}</p>'
            f'<img src="data:image/png;base64,{src}" width="{width}" alt="the {self.VIEW} explorer (a picture)" '
            f'style="max-width:100%;height:auto"><p><em>{html.escape(LIVE_NOTE)}</em></p></div>')
        return data


def _check_T(T) -> int:
    return _T_SPEC.check(T)            # defined with the schedule explorer below


# ----------------------------------------------------------------------------- notebook 01
_T_SPEC = Spec("T", "T", 1000, "range", min=2, max=T_MAX, step=1, integer=True,
               message=f"the explorer's T slider runs from 2 to {T_MAX}")


class ScheduleExplorer(_Explorer):
    """Schedule kind, T, beta range (linear kinds) and cosine offset s; draws signal/noise and log-SNR.

    Left: sqrt(alpha-bar_t) (the signal's coefficient) and sqrt(1 - alpha-bar_t) (the noise's).
    Right: log-SNR_t. The readout gives alpha-bar_T, the log-SNR range and where signal = noise.
    """
    _esm = traitlets.Unicode(bundle("schedule")).tag(sync=True)
    VIEW, FIGSIZE = "schedule", (9.0, 3.4)
    CONTROLS = (_choice("kind", "schedule", "linear", SCHEDULE_KINDS), _T_SPEC,
                _slider("beta_start", "beta_start", 1e-4, -5.0, -1.0, 0.05, ("exp", 1), log=True),
                # a browser snaps a slider to min + k * step: keep the default 0.02 on that grid
                _slider("beta_end", "beta_end", 0.02, math.log10(0.02) - 1.5, math.log10(0.02) + 1.3, 0.05, ("exp", 1),
                        log=True),
                _slider("s", "cosine s", 0.008, 0.0, 0.2, 0.001, ("fixed", 3)))

    def _compute(self):
        sched = make_schedule(self.kind, self.T, self.beta_start, self.beta_end, self.s)
        t = np.arange(1, sched.T + 1)
        sig = sched.alpha_bars[1:].sqrt().numpy()
        noise = sched.one_minus_alpha_bars[1:].sqrt().numpy()
        log_snr = sched.log_snr[1:].numpy()
        cross = int(t[np.argmax(log_snr < 0)]) if (log_snr < 0).any() else None
        text = (f"{sched.name}, T = {sched.T}: alpha-bar_T = {float(sched.alpha_bars[-1]):.3e}, "
                f"log-SNR from {log_snr[0]:.2f} to {log_snr[-1]:.2f}"
                + (f", signal = noise at t = {cross}" if cross else ", signal never falls below noise"))
        return {"t": t, "signal": sig, "noise": noise, "log_snr": log_snr, "schedule": sched}, text

    def _draw_static(self, fig):
        from .plotting import t_ticks
        ax_sig, ax_snr = fig.subplots(1, 2)
        if self.error is not None:
            fig.suptitle(self.readout_text[:90])
            return
        d = self.data
        l_sig = ax_sig.plot(d["t"], d["signal"], color="C0", lw=1.8, label=r"signal $\sqrt{\bar\alpha_t}$")[0]
        l_noise = ax_sig.plot(d["t"], d["noise"], color="C3", lw=1.8, ls="--", label=r"noise $\sqrt{1-\bar\alpha_t}$")[0]
        l_snr = ax_snr.plot(d["t"], d["log_snr"], color="C2", lw=1.8, label=r"log-SNR$_t$")[0]
        ax_sig.set_xlabel("t"); ax_sig.set_ylabel("coefficient in $x_t$"); ax_sig.set_ylim(-0.03, 1.03)
        ax_sig.set_title("what $x_t$ is made of")
        ax_snr.axhline(0, color="k", lw=0.8, ls=":")
        ax_snr.set_xlabel("t"); ax_snr.set_ylabel(r"log-SNR$_t$"); ax_snr.set_title("log signal-to-noise ratio")
        for ax in (ax_sig, ax_snr):
            t_ticks(ax, int(d["t"][-1]))                               # integer ticks that end at T, even for T = 2
        fig.legend(handles=[l_sig, l_noise, l_snr], loc="outside lower center", ncols=3, frameon=False)


def schedule_explorer(kind: str = "linear", T: int = 1000) -> ScheduleExplorer:
    """The schedule explorer (notebook 01): schedule kind, T, beta range and cosine offset; see :class:`ScheduleExplorer`."""
    check_choice("kind", kind, SCHEDULE_KINDS)
    return ScheduleExplorer(kind=kind, T=_check_T(T))


# ----------------------------------------------------------------------------- notebook 03
WEIGHTING_KINDS = ("VLB, sigma^2 = beta", "VLB, sigma^2 = beta-tilde", "simple", "Min-SNR", "P2", "SNR")


class WeightingExplorer(_Explorer):
    """Every weighting of ``weighting_curves`` on one log axis, in the chosen space and x-axis.

    Left: weights normalised to mean 1 over t (each curve divided by its own mean), against t or
    log-SNR. Right: the log-SNR density under uniform t (dashed) and each weighting times it: where
    the objective really spends effort. The legends sit under the panels, never over a curve. Each
    slider's range starts at its smallest valid value (gamma, k and the P2 exponent must be > 0).
    """
    _esm = traitlets.Unicode(bundle("weighting")).tag(sync=True)
    VIEW, FIGSIZE = "weighting", (9.0, 3.8)
    CONTROLS = (_choice("kind", "schedule", "linear", SCHEDULE_KINDS), _T_SPEC,
                _choice("space", "loss space", "eps", ("eps", "x0", "v"), type="radio"),
                _choice("axis", "x axis", "t", ("t", "log-SNR"), type="radio"),
                _slider("gamma", "Min-SNR gamma", 5.0, 0.5, 20.0, 0.5, ("g",)),
                _slider("k", "P2 k", 1.0, 0.1, 5.0, 0.1, ("g",)),
                _slider("p2_gamma", "P2 gamma", 1.0, 0.1, 2.0, 0.1, ("g",)))

    def _compute(self):
        sched = make_schedule(self.kind, self.T)
        curves = weighting_curves(sched, self.space, gamma=self.gamma, k=self.k, p2_gamma=self.p2_gamma)
        t = np.arange(1, sched.T + 1)
        lam_all = sched.log_snr[1:].numpy()
        lam, dens, eff = effective_weights(sched, curves)
        vlb = curves["VLB, sigma^2 = beta"][1:].numpy()
        n_equal = int((sched.snr[1:] <= self.gamma).sum())
        text = (f"{sched.name}, T = {sched.T}, {self.space} space: VLB weight (sigma^2 = beta) lambda_1 / lambda_T = "
                f"{fmt_number(vlb[0] / vlb[-1])}, largest / smallest over t = {fmt_number(vlb.max() / vlb.min())}; "
                f"Min-SNR-{self.gamma:g} equals simple (in eps space) for the {n_equal} steps with SNR <= "
                f"{self.gamma:g}; P2 k = {self.k:g}, gamma = {self.p2_gamma:g}")
        return {"x": t if self.axis == "t" else lam_all, "t": t, "log_snr": lam_all,
                "curves": {k: c[1:].numpy() for k, c in curves.items()}, "density": dens, "effective": eff,
                "schedule": sched}, text

    def _draw_static(self, fig):
        from matplotlib.ticker import NullLocator
        from .plotting import LOG_SNR_LABEL, WEIGHTING_TEX, t_ticks, weighting_style
        ax_w, ax_eff = fig.subplots(1, 2)
        if self.error is not None:
            fig.suptitle(self.readout_text[:90])
            return
        d = self.data
        lines = []
        for label, w in d["curves"].items():
            style = weighting_style(label)
            lines.append(ax_w.plot(d["x"], w, label=WEIGHTING_TEX.get(label, label), **style)[0])
            ax_eff.plot(d["log_snr"][: len(d["density"])], d["effective"][label], **style)
        dens = ax_eff.plot(d["log_snr"][: len(d["density"])], d["density"], color="k", ls="--", lw=1.2,
                           label="density of log-SNR, uniform t")[0]
        ax_w.set_yscale("log"); ax_w.set_ylabel("weight / its own mean over t")
        ax_w.yaxis.set_minor_locator(NullLocator())
        if self.axis == "t":
            ax_w.set_xlabel("t"); t_ticks(ax_w, int(d["t"][-1]))
        else:
            lo, hi = sorted(ax_w.get_xlim()); ax_w.set_xlim(hi, lo); ax_w.set_xlabel(LOG_SNR_LABEL)
        ax_w.set_title(f"weights on the {self.space}-MSE ({d['schedule'].name} schedule)")
        lo, hi = sorted(ax_eff.get_xlim()); ax_eff.set_xlim(hi, lo)
        ax_eff.set_xlabel(LOG_SNR_LABEL); ax_eff.set_ylabel("weight x density (normalised)")
        peak = max(float(max(e.max() for e in d["effective"].values())), float(d["density"].max()))
        ax_eff.set_ylim(0, nice_ceil(min(peak, 5 * float(d["density"].max())) * 1.05))
        ax_eff.set_title("where each objective spends its effort")
        fig.legend(handles=lines + [dens], loc="outside lower center", ncols=4, frameon=False, fontsize=9)


def weighting_explorer(kind: str = "linear", T: int = 1000, space: str = "eps") -> WeightingExplorer:
    """The weighting explorer (notebook 03): schedule, T, loss space, x axis and the weightings' parameters;
    see :class:`WeightingExplorer`."""
    check_choice("kind", kind, SCHEDULE_KINDS)
    T = _check_T(T)
    check_choice("space", space, ("eps", "x0", "v"))
    return WeightingExplorer(kind=kind, T=T, space=space)


# ----------------------------------------------------------------------------- notebook 07
EXPLORED = ("edm", "sd3", "min_snr", "sigmoid")


class ObjectiveExplorer(_Explorer):
    """EDM's P_mean/P_std, SD3's m/s, Min-SNR's gamma and the sigmoid's b, against the ELBO's flat weighting.

    One panel: each objective's effective weighting p(lambda) w(lambda), normalised to integrate to 1 over
    lambda in [-10, 10], against lambda (clean on the left); the ELBO (dashed) is flat. The readout gives
    each curve's mode and mean lambda.
    """
    _esm = traitlets.Unicode(bundle("objective")).tag(sync=True)
    VIEW, FIGSIZE = "objective", (9.0, 4.0)
    CONTROLS = (_slider("P_mean", "EDM P_mean", -1.2, -3.0, 2.0, 0.1), _slider("P_std", "EDM P_std", 1.2, 0.2, 3.0, 0.1),
                _slider("m", "SD3 m", 0.0, -2.0, 2.0, 0.1), _slider("s", "SD3 s", 1.0, 0.2, 3.0, 0.1),
                _slider("gamma", "Min-SNR gamma", 5.0, 0.5, 20.0, 0.5), _slider("b", "sigmoid b", 0.0, -5.0, 5.0, 0.5))

    def _compute(self):
        from . import objectives as O
        lam = np.linspace(*O.LAMBDA_RANGE, 801)
        params = {"edm": {"P_mean": self.P_mean, "P_std": self.P_std}, "sd3": {"m": self.m, "s": self.s},
                  "min_snr": {"gamma": self.gamma}, "sigmoid": {"b": self.b}}
        plain = {"edm": "EDM", "sd3": "SD3", "min_snr": "Min-SNR", "sigmoid": "sigmoid"}
        curves, stats = {}, []
        for name in EXPLORED:
            e = O.normalised(name, lam, **params[name])
            curves[name] = e
            stats.append(f"{plain[name]}: mode {lam[np.argmax(e)]:.1f}, mean {np.trapezoid(lam * e, lam):.1f}")
        text = "lambda of each objective's mass (clean = high): " + "; ".join(stats)
        return {"lambda": lam, "curves": curves, "elbo": O.normalised("elbo", lam)}, text

    def _draw_static(self, fig):
        from .objectives import LAMBDA_RANGE
        from .plotting import LOG_SNR_LABEL
        ax = fig.subplots()
        d = self.data
        labels = {"edm": "EDM", "sd3": "SD3 (logit-normal t)", "min_snr": "Min-SNR-$\\gamma$", "sigmoid": "sigmoid($b - \\lambda$)"}
        colors = {"edm": "C0", "sd3": "C1", "min_snr": "C3", "sigmoid": "C4"}
        lines = [ax.plot(d["lambda"], d["curves"][k], color=colors[k], lw=1.8, label=labels[k])[0] for k in EXPLORED]
        lines.append(ax.plot(d["lambda"], d["elbo"], "k--", lw=1.2, label="ELBO (flat)")[0])
        ax.set_xlim(LAMBDA_RANGE[1], LAMBDA_RANGE[0])
        ax.set_ylim(0, nice_ceil(max(float(max(c.max() for c in d["curves"].values())), float(d["elbo"].max())) * 1.05))
        ax.set_xlabel(LOG_SNR_LABEL); ax.set_ylabel(r"$p(\lambda)\, w(\lambda)$, normalised")
        ax.set_title("effective weighting of each objective")
        fig.legend(handles=lines, loc="outside lower center", ncols=5, frameon=False, fontsize=9)


def objective_explorer() -> ObjectiveExplorer:
    """The objective explorer (notebook 07); see :class:`ObjectiveExplorer`."""
    return ObjectiveExplorer()

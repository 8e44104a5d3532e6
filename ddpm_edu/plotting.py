"""The figures notebooks 04-07 and the CLI share, and the checks every figure of the suite passes.

Each drawing function draws into a given ``Axes`` and labels it. Conventions (DESIGN.md, "Figures"):

* one log-SNR direction for the whole suite: **clean on the left, noisy on the right** (the same
  direction as t), with both ends named in the label (:func:`log_snr_axis`);
* integer quantities (t, steps) get integer ticks;
* legends never cover data, and curves that coincide stay visible (styles or a note).

:func:`figure_problems` checks those rules (and labelled axes, non-colliding titles, no empty
panel) on a drawn figure; the tests run it on every figure the notebooks and the CLI draw.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.ticker import MaxNLocator

from ._checks import Desc, bad, check_choice, check_int

LOG_SNR_LABEL = r"log-SNR $\lambda$   (clean $\leftarrow$ | $\rightarrow$ noisy)"


def log_snr_axis(ax, axis: str = "x"):
    """Label a log-SNR axis and point it the suite's way: high log-SNR (clean) first, low (noisy) last."""
    if axis == "x":
        ax.set_xlabel(LOG_SNR_LABEL)
        lo, hi = sorted(ax.get_xlim())
        ax.set_xlim(hi, lo)
    else:
        ax.set_ylabel(LOG_SNR_LABEL)
    return ax


def t_ticks(ax, T: int, axis: str = "x"):
    """Ticks on a t axis that end at T: 1, round values between, and T (T = 1000: 1, 200, 400, ..., 1000),
    never matplotlib's 0, 150, ..., 900 that stop short of the last step."""
    T = check_int("T", T, 1)
    step = next(m * 10 ** e for e in range(0, 7) for m in ((1, 2, 5) if e == 0 else (1, 2, 2.5, 5))
                if T / (m * 10 ** e) <= 6)
    ticks = [1] + [int(v) for v in np.arange(step, T, step) if T - v >= step / 2] + [T]
    (ax.set_xticks if axis == "x" else ax.set_yticks)(sorted(set(ticks)))
    return ax


def integer_axis(ax, axis: str = "x"):
    """Integer ticks only (t and step counts are integers)."""
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_locator(MaxNLocator(integer=True))
    return ax


# one look per weighting across the suite: colour by position, and a line style that keeps curves
# that coincide visible ("simple" and "SNR" are the same curve in eps space: a wide pale band under dots)
WEIGHTING_STYLES = (
    ("VLB, sigma^2 = beta-tilde", {"color": "C1", "ls": (0, (5, 2)), "lw": 1.6}),
    ("VLB, sigma^2 = beta", {"color": "C0", "ls": "-", "lw": 1.6}),
    ("simple", {"color": "C2", "ls": "-", "lw": 4.0, "alpha": 0.45}),
    ("Min-SNR", {"color": "C3", "ls": "-", "lw": 1.6}),
    ("P2", {"color": "C4", "ls": "-.", "lw": 1.6}),
    ("SNR", {"color": "C5", "ls": ":", "lw": 2.4}),
)
WEIGHTING_TEX = {"VLB, sigma^2 = beta": r"VLB, $\sigma_t^2 = \beta_t$",
                 "VLB, sigma^2 = beta-tilde": r"VLB, $\sigma_t^2 = \tilde\beta_t$"}


def weighting_style(label: str) -> dict:
    """Line style of a weighting curve named ``label`` (as :func:`ddpm_edu.weighting.weighting_curves` names them)."""
    for prefix, style in WEIGHTING_STYLES:
        if label == prefix or label.startswith(prefix + " ") or (prefix in ("Min-SNR", "P2") and label.startswith(prefix)):
            return dict(style)
    return {}


def weighting_lines(ax, x, curves: dict):
    """Plot ``{label: per-t weights (length T + 1)}`` against ``x`` (length T), each in its style."""
    return [ax.plot(x, np.asarray(w)[1:], label=WEIGHTING_TEX.get(label, label), **weighting_style(label))[0]
            for label, w in curves.items()]


def per_t_curve(ax, exp, x: str = "t", space: str | None = None, label: str | None = None, floor: bool = True,
                color=None, marker: str = "."):
    """The final per-t loss with a +-2 stderr band, against t or log-SNR, and the exact floor beneath.

    The band is clipped at a tenth of the curve, so a near-zero lower edge cannot stretch a log axis
    over ten decades.
    """
    check_choice("x", x, ("t", "log-SNR"))
    space = exp.target if space is None else check_choice("space", space, ("eps", "x0", "v"))
    t = exp.per_t.t.numpy()
    xs = t if x == "t" else exp.schedule.log_snr[t].numpy()
    loss = exp.per_t.loss[space].numpy()
    err = exp.per_t.stderr[space].numpy()
    default = f"{exp.target}-model (EMA, {exp.steps_label()}), held-out data"
    (line,) = ax.plot(xs, loss, marker=marker, ms=4, color=color, label=label or default)
    ax.fill_between(xs, np.maximum(loss - 2 * err, loss / 10), loss + 2 * err, color=line.get_color(), alpha=0.25,
                    lw=0)
    ax.set_yscale("log")
    if floor and exp.floor is not None and space == exp.target:
        f = exp.floor["loss"].numpy()
        ax.plot(xs, f, "k--", lw=1.2, label=exp.floor["kind"])
        bottom = float(loss.min()) / 300                # keep the model's curve readable: three decades below it
        if float(f.min()) < bottom:
            ax.set_ylim(bottom=bottom)
            first = xs[np.argmax(f < bottom)]
            ax.annotate("floor continues below the panel", xy=(first, bottom), xytext=(6, 6), textcoords="offset points",
                        ha="left", fontsize=8)
    ax.set_ylabel(f"per-dimension MSE in {space} space")
    if x == "t":
        ax.set_xlabel("t")
        t_ticks(ax, exp.schedule.T)
    else:
        log_snr_axis(ax)
    return ax


def training_loss(ax, exp):
    """The aggregate training loss (mean over each logging window) against steps."""
    ax.plot(exp.train.log_steps, exp.train.log_loss, marker="." if len(exp.train.log_steps) < 20 else None)
    ax.set_xlim(0, 1.03 * max(exp.train.log_steps))
    ax.set_xlabel("training step"); ax.set_ylabel(f"training loss ({exp.weighting}, {exp.target})")
    ax.set_yscale("log"); ax.set_title(f"the aggregate training loss ({exp.steps_label()})")
    integer_axis(ax)
    return ax


def bin_heatmap(ax, exp, relative: bool = True):
    """Per-t-bin running mean of the unweighted MSE during training: t-bins up, logging windows across.

    With ``relative=True`` each bin is divided by its *final* value, so every bin's remaining fall is
    visible on one colour scale (raw values differ by orders of magnitude between bins); the colour
    scale is capped at a factor 10 so the first transient does not swamp the rest (and below the final
    value, at 0): draw its bar with :func:`heatmap_colorbar`, which shows both caps.
    """
    h = exp.train.bin_history.numpy().T
    if relative:
        h = h / h[:, -1:]
    edges = exp.train.bin_edges
    steps = exp.train.log_steps
    left = 0 if len(steps) < 2 else steps[0] - (steps[1] - steps[0])   # each column spans its logging window
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log10(h)
    im = ax.imshow(shown, aspect="auto", origin="lower", cmap="viridis", vmin=0 if relative else None,
                   vmax=1 if relative else None, interpolation="nearest",
                   extent=[left, max(steps[-1], left + 1), edges[0] - 0.5, edges[-1] - 0.5])
    ax.set_xlabel("training step"); ax.set_ylabel("t")
    integer_axis(ax, "x"); integer_axis(ax, "y")
    ax.set_title("log10(loss / its final value), per t-bin" if relative else "log10 loss per t-bin")
    return im


def heatmap_colorbar(fig, im, ax):
    """The colour bar of :func:`bin_heatmap`: its scale is capped at both ends (0 and 1, a factor 10), and the
    bar says so with arrows at both ends (values beyond them get the end colours)."""
    return fig.colorbar(im, ax=ax, extend="both", label="log10(loss / final value), capped at 0 and 1")


def digit_grid(samples: torch.Tensor, rows: int = 10, cols: int = 10) -> np.ndarray:
    """``rows x cols`` digits (n, 1, 8, 8) tiled into one array, with a one-pixel grey frame each."""
    k = rows * cols
    imgs = torch.as_tensor(samples)[:k].reshape(-1, 8, 8).clamp(-1, 1).to(torch.float64)
    if len(imgs) < k:
        imgs = torch.cat([imgs, torch.zeros(k - len(imgs), 8, 8, dtype=imgs.dtype)])
    imgs = torch.nn.functional.pad(imgs, (1, 1, 1, 1), value=0.0)
    return imgs.reshape(rows, cols, 10, 10).permute(0, 2, 1, 3).reshape(rows * 10, cols * 10).numpy()


def sample_grid(ax, samples: torch.Tensor, n: int = 100, title: str = "samples"):
    """Digits as a square grid (up to ``n``, nearest-neighbour pixels), or 2-D points as a scatter
    whose limits come from the points themselves (so no point is drawn outside the panel)."""
    samples = torch.as_tensor(samples)
    n = check_int("n", n, 1)
    if samples.dim() not in (2, 4) or len(samples) < 1 or (samples.dim() == 2 and samples.shape[1] != 2):
        raise bad("samples", Desc(f"tensor of shape {tuple(samples.shape)}"),
                  "samples must be digits (n, 1, 8, 8) or 2-D points (n, 2), with n >= 1")
    if samples.dim() == 4:
        side = int(math.isqrt(min(n, len(samples))))
        ax.imshow(digit_grid(samples, side, side), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.axis("off")
    else:
        pts = samples.numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=3)
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        pad = 0.08 * (hi - lo).max()
        ax.set_xlim(lo[0] - pad, hi[0] + pad); ax.set_ylim(lo[1] - pad, hi[1] + pad)
        ax.set_xlabel("$x_1$"); ax.set_ylabel("$x_2$"); ax.set_aspect("equal", adjustable="box")
    ax.set_title(title)
    return ax


def samples_beside_real(axes, exp, n: int = 100, title: str | None = None):
    """Model samples (left) beside as many real held-out digits (right), at the same size."""
    q = exp.quality
    left = title or f"{exp.target}-model samples ({exp.steps_label()})"
    if q.get("name") == "frechet_digit_distance":
        left += f"\nFrechet digit distance {q['model']:.1f}"
        right = f"real held-out digits\nfloor {q['real']:.1f}, noise {q['noise']:.0f}"
    else:
        right = "real held-out points"
    sample_grid(axes[0], exp.samples, n, left)
    sample_grid(axes[1], exp.held_out, n, right)
    return axes


def quality_vs_steps(ax, rows, floor: float, noise: float):
    """The Frechet digit distance of samples taken along one run, with the real floor and noise levels.

    ``rows``: ``[(step, report, samples)]`` (:func:`ddpm_edu.experiment.quality_along_run`)."""
    steps = np.array([r[0] for r in rows], dtype=float)
    values = np.array([r[1]["model"] for r in rows])
    xs = np.maximum(steps, 1.0)
    ax.plot(xs, values, marker="o", label="samples of the EMA model")
    ax.axhline(noise, color="C3", ls=":", label="pure noise")
    ax.axhline(floor, color="k", ls="--", label="real floor (training vs held-out digits)")
    ax.set_xscale("symlog", linthresh=max(1.0, float(np.min(xs[xs > 1])) if (xs > 1).any() else 1.0))
    ax.set_yscale("log")
    ax.set_xlabel("training step (step 0: the untrained model)")
    ax.set_ylabel("Frechet digit distance (lower is better)")
    ax.set_xticks(xs); ax.set_xticklabels([str(int(s)) for s in steps])
    return ax


def place_legend(ax, **kwargs):
    """A legend where it covers no plotted point: matplotlib's "best" spot inside the axes if that
    is clear of the data, otherwise outside, to the right of the axes."""
    legend = ax.legend(loc="best", **kwargs)
    fig = ax.figure
    fig.canvas.draw()
    points = _visible_points(ax)
    box = legend.get_window_extent(fig.canvas.get_renderer())
    if len(points) and ((points[:, 0] > box.x0) & (points[:, 0] < box.x1) &
                        (points[:, 1] > box.y0) & (points[:, 1] < box.y1)).any():
        legend.remove()
        legend = ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, **kwargs)
    return legend


# ---------------------------------------------------------------------------------- the checks
_INTEGER_LABELS = ("t", "step", "steps", "training step")


def _is_integer_axis(label: str) -> bool:
    label = label.strip().lower()
    return label in _INTEGER_LABELS or label.startswith(("t (", "t  ", "training step", "step")) or " step" in label


def _has_data(ax) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches)


def _visible_points(ax):
    """Display coordinates of every plotted point (lines and scatter) inside the view limits."""
    pts = []
    (x0, x1), (y0, y1) = sorted(ax.get_xlim()), sorted(ax.get_ylim())
    for line in ax.lines:
        if not line.get_visible():
            continue
        if line.get_transform() != ax.transData:      # reference lines (axhline, axvline) are not data
            continue
        xy = np.asarray(line.get_xydata(), dtype=float)
        inside = (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
        inside &= np.isfinite(xy).all(1)
        if inside.any():
            pts.append(ax.transData.transform(xy[inside]))
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), dtype=float)
        if offsets.ndim == 2 and len(offsets) > 1 and coll.get_offset_transform() is ax.transData:
            inside = (offsets[:, 0] >= x0) & (offsets[:, 0] <= x1) & (offsets[:, 1] >= y0) & (offsets[:, 1] <= y1)
            if inside.any():
                pts.append(ax.transData.transform(offsets[inside]))
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _hidden_lines(ax):
    """Labelled lines drawn exactly under a later line of at least the same width (invisible)."""
    lines = [ln for ln in ax.lines if ln.get_visible()]
    order = sorted(range(len(lines)), key=lambda i: (lines[i].get_zorder(), i))
    hidden = []
    for pos, i in enumerate(order):
        a = lines[i]
        if a.get_label().startswith("_") or a.get_marker() not in ("None", None, "", " "):
            continue
        xa, ya = np.asarray(a.get_xdata(), float), np.asarray(a.get_ydata(), float)
        for j in order[pos + 1:]:
            b = lines[j]
            xb, yb = np.asarray(b.get_xdata(), float), np.asarray(b.get_ydata(), float)
            same = xa.shape == xb.shape and np.allclose(xa, xb, equal_nan=True) and np.allclose(ya, yb, rtol=1e-3, equal_nan=True)
            # a later line at least as wide hides it, whatever its dash pattern: dashes over dots (or over
            # a solid line) leave nothing a reader can tell apart; a wider, paler line beneath stays visible
            covering = b.get_linewidth() >= a.get_linewidth() and (b.get_alpha() is None or b.get_alpha() >= 0.9)
            if same and covering:
                hidden.append(a.get_label())
                break
    return hidden


def _last_x(ax):
    """The largest x of the plotted data lines (reference lines aside), or None."""
    xs = [np.nanmax(np.asarray(ln.get_xdata(), float)) for ln in ax.lines
          if ln.get_visible() and ln.get_transform() == ax.transData and len(ln.get_xdata())]
    return float(max(xs)) if xs else None


def _overlap(a, b, pad: float = 0.0) -> bool:
    return a.x0 < b.x1 - pad and b.x0 < a.x1 - pad and a.y0 < b.y1 - pad and b.y0 < a.y1 - pad


def figure_problems(fig) -> list:
    """What a reader would trip over in ``fig`` (an empty list when it is fine). Draws the figure.

    Checks: every axes with data has x and y labels (a shared axis may carry one label for all);
    several labelled curves come with a legend; no legend entry names a line hidden under another;
    no legend covers plotted points; no two
    titles overlap; integer axes (t, steps) have integer ticks; a t axis has a tick at its last step (T, not
    0, 150, ..., 900 for T = 1000); log-SNR x axes run clean to noisy
    (left to right) and say so; no panel whose data all fall outside its limits.
    """
    problems = []
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = []
    if fig._suptitle is not None and fig._suptitle.get_text():
        titles.append(("suptitle", fig._suptitle.get_window_extent(renderer)))
    for k, ax in enumerate(axes):
        name = f"axes {k} ({ax.get_title() or 'untitled'})"
        is_colorbar = hasattr(ax, "_colorbar") or ax.get_label() == "<colorbar>"
        for t in (ax.title, ax._left_title, ax._right_title):
            if t.get_text():
                titles.append((name, t.get_window_extent(renderer)))
        if not ax.axison or is_colorbar or not _has_data(ax):
            continue
        for axis, get_label, shared in (("x", ax.get_xlabel, ax.get_shared_x_axes()),
                                        ("y", ax.get_ylabel, ax.get_shared_y_axes())):
            if not get_label().strip():
                siblings = [s for s in shared.get_siblings(ax) if s is not ax]
                if not any((s.get_xlabel() if axis == "x" else s.get_ylabel()).strip() for s in siblings):
                    problems.append(f"{name}: the {axis} axis has no label")
        for axis, label, locs, lim in (("x", ax.get_xlabel(), ax.get_xticks(), ax.get_xlim()),
                                       ("y", ax.get_ylabel(), ax.get_yticks(), ax.get_ylim())):
            if _is_integer_axis(label):
                lo, hi = sorted(lim)
                shown = [v for v in locs if lo - 1e-9 <= v <= hi + 1e-9]
                if any(abs(v - round(v)) > 1e-9 for v in shown):
                    problems.append(f"{name}: the {axis} axis ({label!r}) counts integers but has ticks {shown}")
        if ax.get_xlabel().strip() == "t" and ax.get_xscale() == "linear":
            last = _last_x(ax)
            if last is not None and not any(abs(v - last) < 1e-9 for v in ax.get_xticks()):
                problems.append(f"{name}: the t axis's ticks stop short of its last step t = {last:g} (plotting.t_ticks)")
        if "log-snr" in ax.get_xlabel().lower():
            lo, hi = ax.get_xlim()
            if lo < hi:
                problems.append(f"{name}: log-SNR must run clean (left) to noisy (right): invert the x axis")
            if "clean" not in ax.get_xlabel() or "noisy" not in ax.get_xlabel():
                problems.append(f"{name}: the log-SNR label must name its clean and noisy ends")
        points = _visible_points(ax)
        if (ax.lines or ax.collections) and not ax.images and len(points) == 0:
            problems.append(f"{name}: none of its data fall inside the axes limits (an empty panel)")
        labelled = [a for a in ax.lines + ax.collections if a.get_visible() and not str(a.get_label()).startswith("_")]
        if len(labelled) >= 2 and ax.get_legend() is None and not fig.legends:
            problems.append(f"{name}: {len(labelled)} labelled curves but no legend says which is which")
        for label in _hidden_lines(ax):
            problems.append(f"{name}: the legend entry {label!r} is hidden under another curve")
        legend = ax.get_legend()
        if legend is not None and legend.get_visible() and len(points):
            box = legend.get_window_extent(renderer)
            covered = ((points[:, 0] > box.x0) & (points[:, 0] < box.x1) & (points[:, 1] > box.y0) & (points[:, 1] < box.y1))
            if covered.any():
                problems.append(f"{name}: its legend covers {int(covered.sum())} plotted points")
    for i in range(len(titles)):
        for j in range(i + 1, len(titles)):
            if _overlap(titles[i][1], titles[j][1], pad=1.0):
                problems.append(f"the titles of {titles[i][0]} and {titles[j][0]} overlap")
    return problems

"""The figure checks catch each defect a reader trips over, and the package's own figures pass them."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ddpm_edu import plotting  # noqa: E402
from ddpm_edu.plotting import figure_problems  # noqa: E402


def _fig(**kw):
    fig, ax = plt.subplots(figsize=(6, 4), **kw)
    return fig, ax


def teardown_function():
    plt.close("all")


def test_a_tidy_figure_has_no_problems():
    fig, ax = _fig(layout="constrained")
    t = np.arange(1, 1001)
    ax.plot(t, np.exp(-t / 300), label="a"); ax.plot(t, np.exp(-t / 100), ls="--", label="b")
    ax.set_xlabel("t"); ax.set_ylabel("loss"); ax.legend(loc="upper right"); ax.set_title("ok")
    plotting.t_ticks(ax, 1000)                       # a t axis ends at T (integer ticks alone stop at 900)
    assert figure_problems(fig) == []


def test_missing_axis_labels_are_reported():
    fig, ax = _fig()
    ax.plot([0, 1, 2], [1, 2, 3])
    problems = figure_problems(fig)
    assert any("x axis has no label" in p for p in problems) and any("y axis has no label" in p for p in problems)


def test_a_curve_hidden_under_another_is_reported_and_a_visible_style_fixes_it():
    fig, ax = _fig()
    x = np.linspace(0, 1, 50)
    ax.plot(x, x, label="simple"); ax.plot(x, x, label="SNR")
    ax.set_xlabel("x"); ax.set_ylabel("y"); ax.legend(loc="lower right")
    assert any("'simple' is hidden" in p for p in figure_problems(fig))
    fig2, ax2 = _fig()
    ax2.plot(x, x, lw=4, alpha=0.5, label="simple"); ax2.plot(x, x, ls=":", label="SNR")
    ax2.set_xlabel("x"); ax2.set_ylabel("y"); ax2.legend(loc="lower right")
    assert figure_problems(fig2) == []


def test_a_patterned_curve_under_a_patterned_curve_of_the_same_width_is_hidden_too():
    # a dotted line under a dashed one of the same width disappears on screen (v_cosine under flow_matching)
    fig, ax = _fig()
    x = np.linspace(0, 1, 50)
    ax.plot(x, x, ls=":", lw=2, label="v_cosine"); ax.plot(x, x, ls="--", lw=2, label="flow_matching")
    ax.set_xlabel("x"); ax.set_ylabel("y"); ax.legend(loc="lower right")
    assert any("'v_cosine' is hidden" in p for p in figure_problems(fig))


def test_labelled_curves_without_a_legend_are_reported():
    fig, ax = _fig()
    x = np.linspace(0, 1, 50)
    ax.plot(x, x, label="model"); ax.plot(x, x ** 2, ls="--", label="exact floor")
    ax.set_xlabel("x"); ax.set_ylabel("y")
    assert any("no legend says which is which" in p for p in figure_problems(fig))
    ax.legend(loc="upper left")
    assert figure_problems(fig) == []


def test_a_legend_over_the_data_is_reported():
    fig, ax = _fig()
    x = np.linspace(0, 1, 200)
    ax.plot(x, np.ones_like(x) * 0.9, label="a long legend label")
    ax.set_ylim(0, 1); ax.set_xlabel("x"); ax.set_ylabel("y"); ax.legend(loc="upper center")
    assert any("legend covers" in p for p in figure_problems(fig))


def test_colliding_titles_are_reported():
    fig, (a, b) = plt.subplots(1, 2, figsize=(5, 3))
    for ax in (a, b):
        ax.plot([0, 1, 2], [0, 1, 2]); ax.set_xlabel("x"); ax.set_ylabel("y")
        ax.set_title("a title much too long for half of a small figure")
    assert any("overlap" in p for p in figure_problems(fig))


def test_fractional_ticks_on_a_t_axis_are_reported():
    fig, ax = _fig()
    ax.plot([1, 2], [0.5, 0.2]); ax.set_xlabel("t"); ax.set_ylabel("alpha-bar")
    assert any("counts integers" in p for p in figure_problems(fig))
    plotting.integer_axis(ax)
    assert figure_problems(fig) == []


def test_the_log_snr_axis_runs_clean_to_noisy_and_names_its_ends():
    fig, ax = _fig()
    lam = np.linspace(-10, 10, 100)
    ax.plot(lam, np.exp(-lam ** 2)); ax.set_xlabel("log-SNR"); ax.set_ylabel("density")
    problems = figure_problems(fig)
    assert any("invert" in p for p in problems) and any("name its clean and noisy ends" in p for p in problems)
    plotting.log_snr_axis(ax)
    assert figure_problems(fig) == []


def test_a_panel_whose_points_all_fall_outside_its_limits_is_reported():
    fig, ax = _fig()
    ax.scatter(np.full(50, 10.0), np.linspace(9, 11, 50)); ax.set_xlim(-4, 4); ax.set_ylim(-4, 4)
    ax.set_xlabel("x1"); ax.set_ylabel("x2")
    assert any("empty panel" in p for p in figure_problems(fig))


def test_the_package_figures_pass_for_a_short_run():
    from ddpm_edu.experiment import run
    settings = {"steps": 30, "compare_steps": 30, "n_eval": 32, "n_samples": 16, "n_floor": 40, "log_every": 10}
    exp = run(data="digits", device="cpu", progress=False, settings=settings)
    fig, axes = plt.subplots(2, 3, figsize=(16, 9), layout="constrained")
    plotting.per_t_curve(axes[0, 0], exp); plotting.place_legend(axes[0, 0], fontsize=7)
    plotting.per_t_curve(axes[0, 1], exp, x="log-SNR", floor=False)
    plotting.training_loss(axes[0, 2], exp)
    im = plotting.bin_heatmap(axes[1, 0], exp); fig.colorbar(im, ax=axes[1, 0], label="log10 ratio")
    plotting.samples_beside_real(axes[1, 1:], exp)
    assert figure_problems(fig) == []


def test_a_run_shorter_than_one_logging_window_draws_without_warnings(recwarn):
    from ddpm_edu.experiment import run
    settings = {"steps": 5, "compare_steps": 5, "n_eval": 16, "n_samples": 8, "n_floor": 20, "log_every": 50}
    exp = run(data="moons", device="cpu", progress=False, settings=settings, with_floor=False)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    plotting.bin_heatmap(a, exp); plotting.training_loss(b, exp)
    fig.canvas.draw()
    assert [str(w.message) for w in recwarn] == []              # no warning at all (once: "singular xlims")
    assert figure_problems(fig) == []


def test_place_legend_moves_a_legend_off_the_data():
    fig, ax = _fig(layout="constrained")
    x = np.linspace(0, 1, 400)
    for k in range(6):                         # curves everywhere: no clear spot inside
        ax.plot(x, (x * 7 + k / 6) % 1, label=f"curve {k}")
    ax.set_xlabel("x"); ax.set_ylabel("y")
    plotting.place_legend(ax)
    assert figure_problems(fig) == []


def test_a_t_axis_must_show_its_last_step():
    """Integer ticks alone give 0, 150, ..., 900 for T = 1000: the check says so; t_ticks ends the axis at T."""
    import matplotlib.pyplot as plt

    for T in (1000, 900, 37):
        t = np.arange(1, T + 1)
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.plot(t, 1.0 / t); ax.set_xlabel("t"); ax.set_ylabel("loss")
        plotting.integer_axis(ax)
        default = [p for p in plotting.figure_problems(fig) if "stop short of its last step" in p]
        assert bool(default) == (T not in ax.get_xticks()), (T, default)
        if T == 1000:
            assert default and "t = 1000" in default[0]
        plotting.t_ticks(ax, T)
        assert plotting.figure_problems(fig) == [], T
        assert ax.get_xticks()[0] == 1 and ax.get_xticks()[-1] == T
        plt.close(fig)

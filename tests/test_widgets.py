"""The explorers' Python side: checked, synced traits; the package's readout and data; the static fallback.

What the page computes is tested against the package in tests/test_explorers_js.py, and the explorers in a
browser (JupyterLab, Voila, the course site) in tests/test_browser.py and tests/test_site.py.
"""
import io
import json
import math
import re

import numpy as np
import pytest

from ddpm_edu import NoiseSchedule
from ddpm_edu import widgets as W
from ddpm_edu.widgets import objective_explorer, schedule_explorer, weighting_explorer

# a new value for every control, chosen so that the drawn data must change
SCHEDULE_MOVES = {"T": 500, "kind": "cosine", "s": 0.05, "beta_start": 1e-3, "beta_end": 0.05}
WEIGHTING_MOVES = {"kind": "cosine", "T": 400, "space": "x0", "axis": "log-SNR", "gamma": 1.0, "k": 2.0, "p2_gamma": 0.5}
OBJECTIVE_MOVES = {"P_mean": 0.5, "P_std": 2.0, "m": 1.0, "s": 2.0, "gamma": 1.0, "b": 2.0}
MAKERS = {"schedule": schedule_explorer, "weighting": weighting_explorer, "objective": objective_explorer}


def _signature(box):
    d = box.data
    if "lambda" in d:
        return np.concatenate([d["curves"][k] for k in sorted(d["curves"])])
    if "curves" in d:
        return np.concatenate([d["x"]] + [c for c in d["curves"].values()])
    return np.concatenate([d["signal"], d["noise"], d["log_snr"]])


@pytest.mark.parametrize("make, name, value", [(schedule_explorer, k, v) for k, v in SCHEDULE_MOVES.items()]
                         + [(weighting_explorer, k, v) for k, v in WEIGHTING_MOVES.items()]
                         + [(objective_explorer, k, v) for k, v in OBJECTIVE_MOVES.items()])
def test_every_control_is_a_synced_trait_that_changes_what_is_drawn(make, name, value):
    box = make(kind="cosine") if (name == "s" and make is schedule_explorer) else make()
    before_data, before_text = _signature(box), box.readout_text
    box.controls[name].value = value                 # the same as setting the trait
    assert getattr(box, name) == value and box.error is None, box.error
    after = _signature(box)
    assert before_data.shape != after.shape or not np.allclose(before_data, after), f"{name}: data did not change"
    assert name in ("axis",) or box.readout_text != before_text or name in ("b", "k", "m", "s", "P_std", "P_mean")
    assert box.trait_metadata(name, "sync") is True  # the page gets it, and the page's moves come back


def test_the_controls_cover_every_parameter_of_the_page():
    assert set(schedule_explorer().controls) == set(SCHEDULE_MOVES)
    assert set(weighting_explorer().controls) == set(WEIGHTING_MOVES)
    assert set(objective_explorer().controls) == set(OBJECTIVE_MOVES)
    js = W.script()
    for view, make in MAKERS.items():
        box = make()
        # the page builds its controls from the widget's synced _controls, declared once (CONTROLS): the JavaScript
        # declares none of its own
        assert box.trait_metadata("_controls", "sync") is True
        assert [c["name"] for c in box._controls] == list(box.controls) == [s.name for s in type(box).CONTROLS]
        for spec, sent in zip(type(box).CONTROLS, box._controls):
            assert sent["label"] == spec.label == box.controls[spec.name].label, (view, spec.name)
            assert box.trait_metadata(spec.name, "sync") is True and getattr(box, spec.name) == spec.default
            assert not re.search(rf'name: "{spec.name}", label: "', js), (view, spec.name)


def test_schedule_explorer_readout_states_the_schedule_numbers():
    box = schedule_explorer()
    assert "alpha-bar_T = 4.036e-05" in box.readout_text and "<b>" not in box.readout_text
    assert np.allclose(box.data["log_snr"], NoiseSchedule.linear().log_snr[1:].numpy())
    box.T = 100
    assert box.readout_text.startswith("linear, T = 100: ") and float(box.data["schedule"].alpha_bars[-1]) > 0.3


def test_weighting_explorer_shows_the_space_translation():
    box = weighting_explorer(space="eps")
    assert "lambda_1 / lambda_T = 49.0," in box.readout_text           # on the eps loss, linear schedule
    eps = box.data["curves"]["Min-SNR-5"].copy()
    box.space = "x0"
    x0 = box.data["curves"]["Min-SNR-5"]
    snr = NoiseSchedule.linear().snr[1:].numpy()
    ratio = x0 / eps / snr                     # the same objective in each space: x0 / eps weight = SNR, up to a constant
    assert np.allclose(ratio, ratio[0])


@pytest.mark.parametrize("make, kwargs, message", [
    (schedule_explorer, {"T": 1}, "^T=1 is not allowed"), (schedule_explorer, {"T": 2.5}, "^T=2.5 \\(a float\\) is not allowed"),
    (schedule_explorer, {"T": 10_000_000}, "^T=10000000 is not allowed: the explorer's T slider runs from 2 to 2000"),
    (schedule_explorer, {"kind": "cosin"}, "^kind='cosin' is not allowed: kind must be one of 'linear'"),
    (weighting_explorer, {"T": 1}, "^T=1 is not allowed"), (weighting_explorer, {"space": "eps2"}, "^space='eps2' is not allowed"),
    (weighting_explorer, {"kind": "cosin"}, "^kind='cosin' is not allowed"),
])
def test_explorers_refuse_arguments_their_sliders_cannot_show(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


@pytest.mark.parametrize("make, name, value, message", [
    (weighting_explorer, "gamma", 0.0, "^gamma=0.0 is not allowed: gamma must lie in \\[0.5, 20.0\\]"),
    (weighting_explorer, "k", -1.0, "^k=-1.0 is not allowed"), (weighting_explorer, "p2_gamma", float("nan"), "^p2_gamma=nan"),
    (weighting_explorer, "axis", "time", "^axis='time' is not allowed"), (schedule_explorer, "T", "big", "^T='big' \\(a str\\)"),
    (schedule_explorer, "beta_start", 0.5, "^beta_start=0.5 is not allowed"), (objective_explorer, "P_std", 0.0, "^P_std=0.0"),
    (objective_explorer, "b", True, "^b=True \\(a bool\\)"),
])
def test_a_bad_value_set_from_python_is_refused_and_the_explorer_keeps_its_setting(make, name, value, message):
    box = make()
    before, text = getattr(box, name), box.readout_text
    with pytest.raises(ValueError, match=message):
        setattr(box, name, value)
    assert getattr(box, name) == before and box.readout_text == text


def test_no_slider_position_is_refused():
    """Every slider's range starts at its smallest valid value and ends at its largest, so the page never has to show
    "Cannot draw this": the corners of the sliders all draw (a schedule whose alpha-bar would underflow needs
    larger betas than the sliders reach)."""
    import itertools
    lo_hi = lambda c: (10 ** c.min, 10 ** c.max) if hasattr(c, "base") else (c.min, c.max)
    box = schedule_explorer()
    for kind, T, bs, be in itertools.product(W.SCHEDULE_KINDS, (2, 2000), lo_hi(box.controls["beta_start"]),
                                             lo_hi(box.controls["beta_end"])):
        probe = W.ScheduleExplorer(kind=kind, T=T, beta_start=bs, beta_end=be * (1 - 1e-12))
        assert probe.error is None, (kind, T, bs, be, probe.error)
    for kind, T, space, gamma, k, p2 in itertools.product(W.SCHEDULE_KINDS, (2, 2000), ("eps", "x0", "v"), (0.5, 20.0),
                                                          (0.1, 5.0), (0.1, 2.0)):
        probe = W.WeightingExplorer(kind=kind, T=T, space=space, gamma=gamma, k=k, p2_gamma=p2)
        assert probe.error is None, (kind, T, space, gamma, k, p2, probe.error)


def test_slider_defaults_lie_on_their_step_grid():
    # a browser snaps a slider's value to min + k * step and syncs it back: a default off the grid
    # would silently change the schedule the moment the page renders
    for make in MAKERS.values():
        for name, c in make().controls.items():
            if not hasattr(c, "step"):
                continue
            pos = math.log10(c.value) if hasattr(c, "base") else c.value
            k = (pos - c.min) / c.step
            assert abs(k - round(k)) < 1e-9 and c.min <= pos <= c.max, name


@pytest.mark.parametrize("make, kwargs, changes", [
    (schedule_explorer, {}, {}), (schedule_explorer, {"T": 2}, {}), (schedule_explorer, {"kind": "cosine"}, {"T": 3}),
    (weighting_explorer, {}, {}), (weighting_explorer, {"T": 2}, {}), (weighting_explorer, {"kind": "cosine"}, {"space": "x0"}),
    (weighting_explorer, {}, {"axis": "log-SNR", "space": "v"}), (objective_explorer, {}, {"P_std": 3.0}),
])
def test_the_static_pictures_pass_the_figure_checks_and_are_sharp(make, kwargs, changes):
    """The same checks as every notebook figure: labelled axes, visible legend entries, integer ticks on t (T = 2);
    and the PNG at twice its display size."""
    from PIL import Image
    from ddpm_edu.plotting import figure_problems
    box = make(**kwargs)
    for name, value in changes.items():
        setattr(box, name, value)
    fig = box.static_figure()
    fig.canvas.draw()
    assert box.error is None and figure_problems(fig) == []
    png = Image.open(io.BytesIO(box.png()))
    assert png.size[0] == 2 * round(box.FIGSIZE[0] * W.CSS_DPI)


def test_the_output_is_the_live_widget_with_a_picture_and_its_state_beside_it():
    box = weighting_explorer()
    box.gamma = 5.5
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle        # live where a widget manager runs
    page = bundle["text/html"]
    assert 'src="data:image/png;base64,' in page and "ddpm-edu lab" in page and 'width="900"' in page
    state = json.loads(re.search(r'data-state="([^"]*)"', page).group(1).replace("&quot;", '"'))
    assert state == box.state() and state["gamma"] == 5.5 and 'data-view="weighting"' in page
    assert "SNR &lt;= 5.5" in page                                       # the readout, as text


def test_each_widget_ships_its_module_and_the_site_one_module_for_all():
    for view, make in MAKERS.items():
        esm = make()._esm
        assert esm == W.bundle(view) and esm.rstrip().endswith("export { MATH };")
        assert f"export default {{ render: render{view.capitalize()} }};" in esm
        assert "http://" not in esm.replace("http://www.w3.org", "") and "https://" not in esm.split("\n", 3)[3]
    site = W.bundle(None)
    assert all(f"function render{v.capitalize()}" in site for v in W.VIEWS) and "mountAll" in site


def test_readouts_use_scientific_notation_where_values_span_decades():
    from ddpm_edu.widgets import fmt_number
    assert fmt_number(49.03) == "49.0" and fmt_number(0.5) == "0.500" and fmt_number(1234.5) == "1234"
    assert fmt_number(219932651.9) == "2.20e+08" and fmt_number(0.0004) == "4.00e-04" and fmt_number(0.0) == "0"
    box = weighting_explorer(kind="cosine")
    assert "lambda_1 / lambda_T = 1.00e-03," in box.readout_text      # the cosine spike at t = T: decades apart

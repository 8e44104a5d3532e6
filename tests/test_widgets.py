"""The explorers: every control redraws the figure in place, and bad values give a message, not a traceback."""
import numpy as np
import pytest

from ddpm_edu import NoiseSchedule
from ddpm_edu.widgets import objective_explorer, schedule_explorer, weighting_explorer

# a new value for every control, chosen so that the drawn data must change
SCHEDULE_MOVES = {"T": 500, "kind": "cosine", "s": 0.05}
SCHEDULE_LINEAR_MOVES = {"beta_start": 1e-3, "beta_end": 0.05}
WEIGHTING_MOVES = {"kind": "cosine", "T": 400, "space": "x0", "axis": "log-SNR", "gamma": 1.0, "k": 2.0, "p2_gamma": 0.5}


def _signature(box):
    d = box.data
    if "curves" in d:
        return np.concatenate([d["x"]] + [c for c in d["curves"].values()])
    return np.concatenate([d["signal"], d["noise"], d["log_snr"]])


def _move(box, name, value):
    before_png, before_data = box.image.value, _signature(box)
    box.controls[name].value = value
    assert box.error is None, box.error
    after = _signature(box)
    assert before_data.shape != after.shape or not np.allclose(before_data, after), f"{name}: data did not change"
    assert box.image.value != before_png, f"{name}: figure did not change"


@pytest.mark.parametrize("name, value", list(SCHEDULE_LINEAR_MOVES.items()))
def test_schedule_explorer_beta_controls_redraw(name, value):
    box = schedule_explorer(kind="linear")
    _move(box, name, value)


@pytest.mark.parametrize("name, value", list(SCHEDULE_MOVES.items()))
def test_schedule_explorer_controls_redraw(name, value):
    box = schedule_explorer(kind="cosine" if name == "s" else "linear")
    _move(box, name, value)


def test_schedule_explorer_controls_cover_every_widget():
    assert set(schedule_explorer().controls) == set(SCHEDULE_MOVES) | set(SCHEDULE_LINEAR_MOVES)
    assert set(weighting_explorer().controls) == set(WEIGHTING_MOVES)


def test_schedule_explorer_readout_states_the_schedule_numbers():
    box = schedule_explorer()
    assert "alpha-bar_T = 4.036e-05" in box.readout.value
    assert np.allclose(box.data["log_snr"], NoiseSchedule.linear().log_snr[1:].numpy())
    box.controls["kind"].value = "cosine"
    assert box.controls["beta_start"].disabled and not box.controls["s"].disabled


@pytest.mark.parametrize("name, value", list(WEIGHTING_MOVES.items()))
def test_weighting_explorer_controls_redraw(name, value):
    _move(weighting_explorer(), name, value)


def test_weighting_explorer_shows_the_space_translation():
    box = weighting_explorer(space="eps")
    assert "lambda_1 / lambda_T = 49.0," in box.readout_text           # on the eps loss, linear schedule
    eps = box.data["curves"]["Min-SNR-5"].copy()
    box.controls["space"].value = "x0"
    x0 = box.data["curves"]["Min-SNR-5"]
    snr = NoiseSchedule.linear().snr[1:].numpy()
    # the same objective, normalised in each space: x0 weight / eps weight = SNR up to the normalisation
    ratio = x0 / eps / snr
    assert np.allclose(ratio, ratio[0])


@pytest.mark.parametrize("make, name, value", [
    (weighting_explorer, "gamma", 0.0),
    (weighting_explorer, "k", 0.0),
    (weighting_explorer, "p2_gamma", 0.0),
])
def test_bad_values_show_a_message_and_keep_the_last_figure(make, name, value):
    box = make()
    png = box.image.value
    box.controls[name].value = value          # must not raise
    assert box.error is not None and box.error.startswith(name + "=")
    assert "Cannot draw this" in box.readout.value
    assert box.image.value == png
    # and the explorer recovers on the next good value
    box.controls[name].value = {"T": 300, "gamma": 2.0, "k": 1.0, "p2_gamma": 1.0}[name]
    assert box.error is None and "Cannot draw" not in box.readout.value


def test_slider_defaults_lie_on_their_step_grid():
    # a browser snaps a slider's value to min + k * step and syncs it back: a default off the grid
    # would silently change the schedule the moment the page renders
    import math
    for box in (schedule_explorer(), weighting_explorer()):
        for name, w in box.controls.items():
            if not hasattr(w, "step") or w.step is None:
                continue
            pos = math.log10(w.value) if hasattr(w, "base") else w.value
            k = (pos - w.min) / w.step
            assert abs(k - round(k)) < 1e-9, name


@pytest.mark.parametrize("make", [schedule_explorer, weighting_explorer])
@pytest.mark.parametrize("kwargs, message", [
    ({"T": 1}, "^T=1 is not allowed"), ({"T": 2.5}, "^T=2.5 \\(a float\\) is not allowed"),
    ({"T": 10_000_000}, "^T=10000000 is not allowed: the explorer's T slider runs from 2 to 2000"),
    ({"kind": "cosin"}, "^kind='cosin' is not allowed: kind must be one of 'linear'"),
])
def test_explorers_refuse_arguments_their_sliders_cannot_show(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


@pytest.mark.parametrize("make", [schedule_explorer, weighting_explorer])
def test_explorer_figures_are_rendered_at_twice_their_display_size(make):
    from PIL import Image
    import io
    box = make()
    png = Image.open(io.BytesIO(box.image.value))
    assert int(box.image.width) >= 800                      # fills a notebook cell
    assert png.size[0] == 2 * int(box.image.width)          # 2 pixels per CSS pixel: sharp on HiDPI and projectors


@pytest.mark.parametrize("make, name, value", [(weighting_explorer, "gamma", 5.5), (weighting_explorer, "T", 999),
                                               (schedule_explorer, "T", 999), (weighting_explorer, "p2_gamma", 0.9)])
def test_a_fast_redraw_draws_the_same_picture_as_a_full_one(make, name, value):
    box = make()
    full_before = box.figure.full_redraws
    box.controls[name].value = value
    assert box.figure.full_redraws == full_before           # only the curves were redrawn (blitting)
    fast_png = box.image.value
    box.figure._backgrounds.clear()                         # force a full redraw of the same state
    box.redraw()
    assert box.figure.full_redraws == full_before + 1 and box.image.value == fast_png


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7, 3), (4, 9, 4), (37, 2, 4)])
def test_png_bytes_decode_to_the_same_pixels(shape):
    from PIL import Image
    import io
    from ddpm_edu.widgets import png_bytes
    pixels = np.random.default_rng(sum(shape)).integers(0, 256, size=shape, dtype=np.uint8)
    image = Image.open(io.BytesIO(png_bytes(pixels)))
    image.load()                                                # decodes every row: CRCs and zlib stream valid
    assert image.mode == ("RGB" if shape[2] == 3 else "RGBA") and image.size == (shape[1], shape[0])
    assert np.array_equal(np.asarray(image), pixels)


def test_an_explorer_image_is_the_figure_it_drew():
    from PIL import Image
    import io
    box = weighting_explorer()
    box.controls["gamma"].value = 6.0
    shown = np.asarray(Image.open(io.BytesIO(box.image.value)))
    assert np.array_equal(shown, np.asarray(box.figure.canvas.buffer_rgba()))
    assert shown[..., 3].min() == 255                          # opaque: the same picture on a dark theme


@pytest.mark.parametrize("bad_pixels", [np.zeros((2, 2, 3), np.float32), np.zeros((2, 2), np.uint8),
                                        np.zeros((2, 2, 2), np.uint8), np.zeros((0, 2, 3), np.uint8), [[1, 2, 3]]])
def test_png_bytes_refuses_what_is_not_an_image(bad_pixels):
    from ddpm_edu.widgets import png_bytes
    with pytest.raises(ValueError, match="^pixels=.*uint8 array of shape"):
        png_bytes(bad_pixels)


@pytest.mark.parametrize("make, kwargs, changes", [
    (schedule_explorer, {}, {}), (schedule_explorer, {"T": 2}, {}), (schedule_explorer, {"kind": "cosine"}, {"T": 3}),
    (weighting_explorer, {}, {}), (weighting_explorer, {"T": 2}, {}), (weighting_explorer, {"kind": "cosine"}, {"space": "x0"}),
    (weighting_explorer, {}, {"axis": "log-SNR", "space": "v"}), (objective_explorer, {}, {"P_std": 3.0}),
])
def test_explorer_figures_pass_the_figure_checks(make, kwargs, changes):
    """The same checks as every notebook figure: labelled axes, visible legend entries, integer ticks on t (T = 2)."""
    from ddpm_edu.plotting import figure_problems
    box = make(**kwargs)
    for name, value in changes.items():
        box.controls[name].value = value
    assert box.error is None and figure_problems(box.figure.fig) == []


def test_a_changed_frame_is_redrawn_in_full_and_a_frame_seen_before_comes_from_the_cache():
    box = weighting_explorer()
    before = box.figure.full_redraws
    first = box.image.value
    box.controls["axis"].value = "log-SNR"
    assert box.figure.full_redraws == before + 1
    log_snr = box.image.value
    box.controls["axis"].value = "t"                         # back: the frame is cached, the picture the same
    assert box.figure.full_redraws == before + 1 and box.image.value == first
    box.controls["axis"].value = "log-SNR"
    assert box.figure.full_redraws == before + 1 and box.image.value == log_snr


def test_readouts_use_scientific_notation_where_values_span_decades():
    from ddpm_edu.widgets import fmt_number
    assert fmt_number(49.03) == "49.0" and fmt_number(0.5) == "0.500" and fmt_number(1234.5) == "1234"
    assert fmt_number(219932651.9) == "2.20e+08" and fmt_number(0.0004) == "4.00e-04" and fmt_number(0.0) == "0"
    box = weighting_explorer(kind="cosine")
    assert "lambda_1 / lambda_T = 1.00e-03," in box.readout_text      # the cosine spike at t = T: decades apart


def test_readout_text_is_plain_and_the_static_fallback_shows_the_picture():
    box = weighting_explorer()
    assert "<b>" not in box.readout_text and "&lt;" not in box.readout_text and "SNR <= 5" in box.readout_text
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle        # live where a widget manager runs
    html = bundle["text/html"]
    assert 'src="data:image/png;base64,' in html and "make explore" in html and 'width="900"' in html

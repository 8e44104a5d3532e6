"""Bad input gets a clear error, never a silent wrong answer: a property-based sweep of the public API.

For every public function, hypothesis replaces one argument of a valid call with a value from a pool of
wrong types, wrong shapes, empty inputs, out-of-range integers, NaN/inf, extreme floats and integer
dtypes, and checks the package's policy (DESIGN.md, "Bad input"):

* the call raises ``ValueError`` (or ``TypeError`` for a wrong type) whose message names the argument;
* or it returns, and then every number it returns is finite (or +inf where the docs say so), never -0.0.

Anything else (an IndexError from deep inside, a NaN returned without a word) fails the test.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ddpm_edu import NoiseSchedule, convert, model_mean, model_mean_from_eps, normalize, q_posterior, q_sample, weight
from ddpm_edu import continuous, data, diffusion, exercises, experiment, objectives, optimal, quality, sampling
from ddpm_edu import schedules, symbolic, threads, training, vlb, weighting, widgets
from ddpm_edu.models import ConvDenoiser, MLPDenoiser, SinusoidalEmbedding, make_model

S20 = NoiseSchedule.linear(T=20, beta_start=1e-3, beta_end=0.3)
X = torch.randn(3, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
E = torch.randn(3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
T3 = torch.tensor([1, 5, 20])
TINY = MLPDenoiser(2, width=8)
MIX = optimal.GaussianMixture(torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64), 0.3)
DIGITS = data.digits()[0][:40]

# ------------------------------------------------------------------------------------------------ value pools
scalars = st.one_of(
    st.none(), st.booleans(), st.text(max_size=4), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e308,
                                                                      -1e308, 1e-320, -0.0, 0.0, -1.0, 2.5, -7]),
    st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.just([1, 2]), st.just({"a": 1}), st.just(1 + 2j), st.just(np.float64(0.5)), st.just(np.int64(3)),
    st.just(torch.tensor(2)), st.just(torch.tensor(0.5)), st.just(object()),
)
tensors = st.sampled_from([
    torch.tensor([]), torch.zeros(0, 2), torch.zeros(3, 2, dtype=torch.int64), torch.ones(3, 2, dtype=torch.int32),
    torch.ones(3, 2, dtype=torch.bool), torch.full((3, 2), float("nan")), torch.full((3, 2), float("inf")),
    torch.full((3, 2), 1e30), torch.zeros(4, 2), torch.zeros(3, 5), torch.zeros(3), torch.zeros(3, 2, 2),
    torch.zeros(3, 2, dtype=torch.complex64), torch.tensor(1.0), np.zeros((3, 2)), [[0.0, 1.0]] * 3,
])
anything = st.one_of(scalars, tensors)


@dataclass
class Case:
    fn: object
    valid: dict
    fuzz: tuple
    allow_inf: bool = False
    label: str = ""
    extra: dict = field(default_factory=dict)
    nan_passthrough: bool = False

    def __repr__(self):
        return self.label or getattr(self.fn, "__qualname__", str(self.fn))


def _numbers(out):
    """Every tensor/array/float inside ``out`` (nested tuples, lists, dicts, dataclasses)."""
    if isinstance(out, torch.Tensor):
        if out.dtype.is_floating_point or out.dtype.is_complex:
            yield out.detach().to("cpu", torch.float64) if not out.dtype.is_complex else out.detach().abs().double()
    elif isinstance(out, np.ndarray):
        if np.issubdtype(out.dtype, np.floating):
            yield torch.as_tensor(out, dtype=torch.float64)
    elif isinstance(out, float):
        yield torch.tensor(out, dtype=torch.float64)
    elif isinstance(out, dict):
        for v in out.values():
            yield from _numbers(v)
    elif isinstance(out, (tuple, list)):
        for v in out:
            yield from _numbers(v)
    elif hasattr(out, "__dataclass_fields__"):
        for k in out.__dataclass_fields__:
            yield from _numbers(getattr(out, k))


def _check(case: Case, arg: str, value):
    kwargs = dict(case.valid)
    kwargs[arg] = value
    try:
        out = case.fn(**kwargs)
    except (ValueError, TypeError) as err:
        msg = str(err)
        names = {arg, arg.split(".")[-1]} | set(case.extra.get(arg, ()))
        assert any(n in msg for n in names), f"{case!r}({arg}={value!r}): the message does not name {arg!r}: {msg}"
        return
    except Exception as err:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"{case!r}({arg}={value!r}) raised {type(err).__name__}: {err}") from None
    fed_nan = isinstance(value, torch.Tensor) and value.dtype.is_floating_point and not torch.isfinite(value).all()
    if case.nan_passthrough and fed_nan:
        return
    for t in _numbers(out):
        assert not torch.isnan(t).any(), f"{case!r}({arg}={value!r}) returned NaN"
        assert not (t == -math.inf).any(), f"{case!r}({arg}={value!r}) returned -inf"
        if not case.allow_inf:
            assert torch.isfinite(t).all(), f"{case!r}({arg}={value!r}) returned inf"
        assert not (torch.signbit(t) & (t == 0)).any(), f"{case!r}({arg}={value!r}) returned -0.0"


def _cases():
    gen = lambda: torch.Generator().manual_seed(0)
    return [
        # schedules
        Case(NoiseSchedule.linear, {"T": 20}, ("T", "beta_start", "beta_end"), allow_inf=True),
        Case(NoiseSchedule.cosine, {"T": 20}, ("T", "s", "max_beta"), allow_inf=True),
        Case(NoiseSchedule.scaled_linear, {"T": 20}, ("T", "beta_start", "beta_end"), allow_inf=True),
        Case(NoiseSchedule.sigmoid, {"T": 20}, ("T", "start", "end", "tau", "max_beta"), allow_inf=True),
        Case(NoiseSchedule.from_betas, {"betas": [0.1, 0.2]}, ("betas", "name"), allow_inf=True),
        Case(NoiseSchedule.by_name, {"name": "linear", "T": 20}, ("name", "T"), allow_inf=True),
        Case(S20.to, {"device": "cpu", "dtype": torch.float32}, ("device", "dtype"), allow_inf=True, label="NoiseSchedule.to"),
        Case(S20.zero_based, {"attribute": "alpha_bars"}, ("attribute",), label="NoiseSchedule.zero_based"),
        # diffusion
        Case(q_sample, {"schedule": S20, "x0": X, "t": T3, "noise": E}, ("schedule", "x0", "t", "noise")),
        Case(q_posterior, {"schedule": S20, "x0": X, "x_t": E, "t": T3}, ("schedule", "x0", "x_t", "t")),
        Case(convert, {"schedule": S20, "prediction": X, "x_t": E, "t": T3, "source": "eps", "target": "x0"},
             ("schedule", "prediction", "x_t", "t", "source", "target")),
        Case(diffusion.target_from, {"x0": X, "noise": E, "schedule": S20, "t": T3, "target": "v"},
             ("x0", "noise", "schedule", "t", "target")),
        Case(model_mean_from_eps, {"schedule": S20, "x_t": X, "t": T3, "eps": E}, ("schedule", "x_t", "t", "eps")),
        Case(model_mean, {"schedule": S20, "prediction": X, "x_t": E, "t": T3, "source": "v", "clip_x0": 1.0},
             ("schedule", "prediction", "x_t", "t", "source", "clip_x0")),
        Case(diffusion.posterior_coefficients, {"schedule": S20}, ("schedule",)),
        # weighting
        Case(weight, {"schedule": S20, "name": "p2", "space": "v"}, ("schedule", "name", "space")),
        Case(lambda **kw: weight(S20, "p2", "eps", **kw), {"k": 1.0, "gamma": 1.0}, ("k", "gamma"), label="weight(p2)"),
        Case(lambda **kw: weight(S20, "min_snr", "x0", **kw), {"gamma": 5.0}, ("gamma",), label="weight(min_snr)"),
        Case(lambda **kw: weight(S20, "vlb", "eps", **kw), {"sigma": "beta", "clip_t1": True}, ("sigma", "clip_t1"),
             label="weight(vlb)"),
        Case(normalize, {"w": weight(S20, "simple")}, ("w",)),
        Case(weighting.translate, {"schedule": S20, "w": weight(S20, "simple"), "source": "eps", "target": "v"},
             ("schedule", "w", "source", "target")),
        Case(weighting.log_snr_density, {"schedule": S20}, ("schedule",)),
        Case(weighting.weighting_curves, {"schedule": S20, "space": "eps"}, ("schedule", "space", "gamma", "k", "p2_gamma")),
        Case(weighting.effective_weights, {"schedule": S20, "curves": weighting.weighting_curves(S20)}, ("schedule", "curves")),
        # vlb
        Case(vlb.normal_kl, {"mean1": X, "logvar1": E, "mean2": E, "logvar2": X}, ("mean1", "logvar1", "mean2", "logvar2")),
        Case(vlb.discretized_gaussian_log_likelihood, {"x": X.clamp(-1, 1), "mean": E, "log_scale": X, "levels": 17},
             ("x", "mean", "log_scale", "levels")),
        Case(vlb.bound_terms, {"model": TINY, "x0": X, "schedule": S20, "target": "eps", "generator": gen(), "levels": None,
                               "chunk": 7}, ("model", "x0", "schedule", "target", "sigma", "generator", "levels", "chunk",
                                             "clip_t1")),
        Case(vlb.estimator_variance, {"per_t": torch.rand(3, 21, dtype=torch.float64)}, ("per_t", "probs")),
        Case(vlb.second_moment_probs, {"per_t": torch.rand(3, 21, dtype=torch.float64)}, ("per_t", "uniform_prob")),
        Case(vlb.stratified_variance, {"per_t": torch.rand(3, 21, dtype=torch.float64), "batch": 4}, ("per_t", "batch")),
        # data and models
        Case(data.toy, {"name": "moons", "n": 10, "seed": 0}, ("name", "n", "seed", "dtype")),
        Case(data.digits, {}, ("dtype",)),
        Case(data.upsample, {"images": DIGITS[:2], "factor": 2}, ("images", "factor")),
        Case(MLPDenoiser, {"data_dim": 2}, ("data_dim", "width", "blocks", "emb_dim")),
        Case(ConvDenoiser, {"channels": 1, "width": 8}, ("channels", "width", "blocks", "emb_dim")),
        Case(make_model, {"kind": "mlp", "data_shape": (2,)}, ("kind", "data_shape")),
        Case(SinusoidalEmbedding, {"dim": 8}, ("dim",)),
        # a network's forward is a hot path: it checks shapes and types (cheap), and lets NaN in give NaN out,
        # as every torch module does; the functions that feed it (training, sampling) refuse NaN first
        Case(TINY.forward, {"x": X.float(), "t": T3}, ("x", "t"), label="MLPDenoiser.forward", nan_passthrough=True),
        # optimal
        Case(optimal.GaussianMixture, {"means": [[0.0, 1.0]], "std": 0.3}, ("means", "std", "weights")),
        Case(MIX.sample, {"n": 5, "generator": gen()}, ("n", "generator"), label="GaussianMixture.sample"),
        Case(MIX.log_prob, {"x": X}, ("x",), label="GaussianMixture.log_prob"),
        Case(MIX.posterior, {"x_t": X, "alpha_bar": 0.5}, ("x_t", "alpha_bar"), label="GaussianMixture.posterior"),
        Case(MIX.optimal_loss, {"schedule": S20, "t_values": [1, 5], "n": 16}, ("schedule", "t_values", "n", "seed", "space"),
             label="GaussianMixture.optimal_loss"),
        Case(optimal.OptimalDenoiser, {"mixture": MIX, "schedule": S20}, ("mixture", "schedule", "target")),
        Case(optimal.GaussianData, {"mean": [0.0, 1.0], "cov": [[1.0, 0.2], [0.2, 1.0]]}, ("mean", "cov")),
        Case(optimal.GaussianData.fit, {"points": X}, ("points",)),
        # training
        Case(training.TrainConfig(steps=2).__class__, {"steps": 2}, ("target", "weighting", "steps", "seconds", "batch_size",
                                                                     "lr", "ema_decay", "t_sampling", "n_bins", "log_every",
                                                                     "seed", "device", "compile", "weighting_params"),
             label="TrainConfig", extra={}),
        Case(training.train, {"model": MLPDenoiser(2, width=8), "data": X.float(), "schedule": S20,
                              "progress": False, "steps": 3, "device": "cpu"}, ("model", "data", "schedule", "steps")),
        Case(training.evaluate_per_t, {"model": TINY, "data": X, "schedule": S20, "target": "eps", "t_values": [1, 20], "n": 3},
             ("model", "data", "schedule", "target", "t_values", "n", "seed", "device")),
        Case(training.pick_device, {"device": "cpu"}, ("device",)),
        Case(training.PerTimestepTracker, {"T": 20, "n_bins": 4}, ("T", "n_bins")),
        Case(training.LossSecondMomentSampler, {"T": 20}, ("T", "history", "uniform_prob")),
        Case(training.stratified_t, {"n": 4, "T": 20, "generator": gen()}, ("n", "T", "generator")),
        Case(training.gradient_noise, {"model": TINY, "data": X.float(), "schedule": S20, "n_batches": 2, "batch_size": 4},
             ("model", "data", "schedule", "target", "weighting", "batch_size", "n_batches", "seed")),
        # sampling
        Case(sampling.ancestral_sample, {"model": TINY, "schedule": S20, "shape": (2,), "n": 3, "generator": gen()},
             ("model", "schedule", "shape", "n", "target", "sigma", "generator", "clip_x0")),
        # quality
        Case(quality.frechet_distance, {"a": np.random.default_rng(0).normal(size=(20, 3)),
                                        "b": np.random.default_rng(1).normal(size=(20, 3))}, ("a", "b")),
        Case(quality.precision_recall, {"real": np.random.default_rng(0).normal(size=(20, 3)),
                                        "fake": np.random.default_rng(1).normal(size=(20, 3))}, ("real", "fake", "k")),
        Case(quality.energy_distance, {"x": X, "y": E}, ("x", "y")),
        Case(quality.copy_share, {"samples": DIGITS[:5], "train": DIGITS[5:], "threshold": 0.1}, ("samples", "train", "threshold")),
        Case(quality.noise_images, {"n": 3}, ("n", "seed")),
        Case(quality.sample_quality, {"data_name": "moons", "samples": X, "held_out": torch.randn(20, 2)},
             ("data_name", "samples", "held_out", "seed")),
        # experiment
        Case(experiment.budget, {"kind": "one"}, ("kind",)),
        Case(experiment.load_data, {"name": "moons", "seed": 0}, ("name", "seed")),
        # objectives and continuous
        Case(objectives.lambda_density, {"name": "edm", "lam": np.linspace(-3, 3, 5)}, ("name", "lam"), extra={"name": ()}),
        Case(objectives.eps_weight, {"name": "p2", "lam": np.linspace(-3, 3, 5)}, ("name", "lam")),
        Case(lambda **kw: objectives.effective_weighting("edm", [0.0, 1.0], **kw), {"P_mean": -1.2, "P_std": 1.2},
             ("P_mean", "P_std", "sigma_data"), label="effective_weighting(edm)"),
        Case(objectives.normalised, {"name": "sd3", "lam": np.linspace(-3, 3, 5)}, ("name", "lam")),
        Case(objectives.sample_lambda, {"name": "sd3", "n": 4, "generator": gen()}, ("name", "n", "generator")),
        Case(continuous.posterior_step, {"lam_t": -1.0, "lam_s": 1.0}, ("lam_t", "lam_s")),
        Case(continuous.ddpm_lambda_grid, {"steps": 250}, ("steps",)),
        Case(continuous.eps_loss_per_lambda, {"model": continuous.ObjectiveModel(TINY, "edm"), "data": X.float(),
                                              "lam_values": [0.0], "n": 3}, ("model", "data", "lam_values", "n", "seed")),
        Case(continuous.ancestral_sample_lambda, {"model": continuous.ObjectiveModel(TINY, "edm"), "lam_grid": [-1.0, 1.0],
                                                  "shape": (2,), "n": 2, "generator": gen()},
             ("model", "lam_grid", "shape", "n", "generator", "clip_x0")),
        # widgets, exercises, symbolic
        Case(widgets.fmt_number, {"x": 1.5}, ("x", "digits"), allow_inf=True),
        Case(widgets.schedule_explorer, {"kind": "linear", "T": 20}, ("kind", "T")),
        Case(widgets.weighting_explorer, {"kind": "linear", "T": 20, "space": "eps"}, ("kind", "T", "space")),
        Case(widgets.WeightingExplorer, {"T": 20, "gamma": 2.0}, ("kind", "T", "space", "axis", "gamma", "k", "p2_gamma"),
             label="WeightingExplorer(**traits)"),
        Case(widgets.ObjectiveExplorer, {"P_std": 2.0}, ("P_mean", "P_std", "m", "s", "gamma", "b"),
             label="ObjectiveExplorer(**traits)"),
        Case(widgets.ScheduleExplorer, {"T": 20}, ("kind", "T", "beta_start", "beta_end", "s"), label="ScheduleExplorer(**traits)"),
        Case(vlb.histogram_bits, {"train": DIGITS[:20], "test": DIGITS[20:30]}, ("train", "test", "levels", "per_pixel")),
        Case(threads.setting, {"value": 2}, ("value",), extra={"value": ("threads",)}),
        Case(sampling.sample_family, {"models": [TINY, TINY], "schedule": S20, "shape": (2,), "n": 3, "targets": ["eps", "v"],
                                      "generators": [gen(), gen()]}, ("models", "schedule", "shape", "n", "targets", "sigma")),
        Case(widgets.make_schedule, {"kind": "linear", "T": 20}, ("kind", "T", "beta_start", "beta_end", "s"), allow_inf=True),
        Case(exercises.check, {"exercise": "02.1", "answer": 0.5}, ("exercise",)),
        Case(exercises.show, {"notebook": "02"}, ("notebook",)),
        Case(symbolic.title_latex, {"title": "a $x$"}, ("title",)),
        Case(symbolic.elbo_decomposition, {"T": 2}, ("T",)),
    ]


CASES = _cases()
PAIRS = [(c, a) for c in CASES for a in c.fuzz]


@pytest.mark.parametrize("case, arg", PAIRS, ids=[f"{c!r}-{a}" for c, a in PAIRS])
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(value=anything)
def test_bad_input_is_a_clear_error_or_a_finite_answer(case, arg, value):
    _check(case, arg, value)


# ------------------------------------------------------------------------------------------------ the examples
def test_integer_tensors_are_converted_not_computed_in_integer_arithmetic():
    x0, noise = torch.tensor([[1, 0]]), torch.tensor([[0, 1]])
    xt = q_sample(S20, x0, 5, noise)
    assert xt.dtype == torch.float64 and torch.allclose(xt, q_sample(S20, x0.double(), 5, noise.double()))
    assert torch.isfinite(convert(S20, torch.tensor([[1, 2]]), torch.tensor([[0, 1]]), 3, "eps", "x0")).all()
    _, var = q_posterior(S20, x0, noise, 5)
    assert float(var) > 0
    with pytest.raises(TypeError, match="^dtype="):
        S20.to(dtype=torch.int64)


def test_a_float_time_step_is_refused_not_truncated():
    with pytest.raises(TypeError, match="^t=2.5"):
        q_sample(S20, X, 2.5, E)
    with pytest.raises(ValueError, match="^t=21"):
        q_sample(S20, X, 21, E)
    with pytest.raises(TypeError, match="^t_values="):
        training.evaluate_per_t(TINY, X, S20, "eps", t_values=[2.5])


def test_training_refuses_non_finite_data_and_infinite_weights_before_it_starts():
    bad_data = X.float().clone()
    bad_data[0, 0] = float("nan")
    with pytest.raises(ValueError, match="^data=tensor with 1 NaN"):
        training.Trainer(MLPDenoiser(2, width=8), bad_data, S20, training.TrainConfig(steps=2, device="cpu"))
    cfg = training.TrainConfig(steps=2, weighting="vlb", weighting_params={"sigma": "beta_tilde", "clip_t1": False},
                               device="cpu")
    with pytest.raises(ValueError, match="^weighting_params=.*inf at t = 1"):
        training.Trainer(MLPDenoiser(2, width=8), X.float(), S20, cfg)
    with pytest.raises(ValueError, match="^data=.*the model takes 2 numbers per example"):
        training.Trainer(MLPDenoiser(2, width=8), torch.zeros(5, 3), S20, training.TrainConfig(steps=2, device="cpu"))


def test_training_stops_at_the_first_non_finite_loss_naming_the_step():
    class Bomb(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))
            self.calls = 0

        def forward(self, x, t):
            self.calls += 1
            return x * self.w * (float("nan") if self.calls >= 4 else 1.0)
    tr = training.Trainer(Bomb(), X.float(), S20, training.TrainConfig(steps=10, log_every=1, device="cpu"))
    with pytest.raises(FloatingPointError, match="at step 4 .*learning rate"):
        tr.run(progress=False)


def test_extreme_but_valid_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="^gamma=.*beyond float64"):
        weight(S20, "p2", "eps", k=1e-300, gamma=1000.0)
    with pytest.raises(ValueError, match="^w=.*all 0"):
        normalize(torch.zeros(21, dtype=torch.float64))
    with pytest.raises(ValueError, match="^betas=.*underflow"):
        NoiseSchedule.from_betas([0.9] * 2000)
    with pytest.raises(ValueError, match="^T=10000000 is not allowed"):
        NoiseSchedule.linear(T=10_000_000)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    S30 = NoiseSchedule.linear(T=30, beta_start=1e-3, beta_end=0.3)
    first = training.Trainer(MLPDenoiser(2, width=8), X.float(), S30, training.TrainConfig(steps=2, device="cpu"))
    first.run(progress=False)
    first.save(str(tmp_path / "c.pt"))
    other = training.Trainer(MLPDenoiser(2, width=8), X.float(), S20, training.TrainConfig(steps=2, device="cpu"))
    with pytest.raises(ValueError, match="^path=.*T = 30 run.*T = 20"):
        other.load(str(tmp_path / "c.pt"))
    with pytest.raises(ValueError, match="^path=.*cannot read"):
        other.load(str(tmp_path / "missing.pt"))


def test_errors_from_deep_inside_are_now_named_at_the_boundary():
    with pytest.raises(ValueError, match="^x=.*built for 2 numbers"):
        TINY(torch.zeros(3, 5), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="^device='gpu0'"):
        training.pick_device("gpu0")
    with pytest.raises(ValueError, match="^kind='cosin'"):
        widgets.schedule_explorer(kind="cosin")
    with pytest.raises(ValueError, match="^chunk=0"):
        vlb.bound_terms(TINY, X, S20, generator=torch.Generator().manual_seed(0), chunk=0, levels=None)


def test_the_raw_errors_a_fuzz_found_are_now_named_errors(tmp_path):
    """Each call below raised a raw IndexError, RuntimeError, KeyError or StatisticsError, or was accepted silently."""
    from ddpm_edu import bench, plotting
    from ddpm_edu.diffusion import extract
    s10 = NoiseSchedule.linear(T=10)
    # bound_terms refused every call on a short schedule: chunk=100 was checked against T before anything else
    assert torch.isfinite(vlb.bound_terms(TINY, X, S20, generator=torch.Generator().manual_seed(0), levels=None).total).all()
    with pytest.raises(ValueError, match=r"^t=tensor\(\[11\].*must lie in 0..10"):
        extract(s10.alpha_bars, torch.tensor([11]), X)
    with pytest.raises(ValueError, match="^t=11 is not allowed"):
        optimal.OptimalDenoiser(MIX, s10)(X, 11)
    with pytest.raises(ValueError, match="^device='bogus'"):
        training.accumulator_dtype("bogus")
    with pytest.raises(ValueError, match="^device='bogus'"):
        sampling.ancestral_sample(TINY, S20, (2,), 2, generator=torch.Generator(), device="bogus")
    with pytest.raises(ValueError, match="^device='bogus'"):
        bench.main(device="bogus")
    with pytest.raises(ValueError, match="^n=0 is not allowed"):
        training.LossSecondMomentSampler(T=10).sample(n=0, generator=torch.Generator())
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="^path=.*cannot read a checkpoint"):
        training.Trainer(MLPDenoiser(2, width=8), X.float(), S20, training.TrainConfig(steps=2, device="cpu")).load(str(text))
    exp = experiment.run(data="moons", steps=4, device="cpu", progress=False, with_floor=False,
                         settings={"steps": 4, "n_eval": 4, "n_samples": 4, "n_floor": 4, "log_every": 2})
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="^space='EPS' is not allowed"):
        plotting.per_t_curve(ax, exp, space="EPS")
    with pytest.raises(ValueError, match="^x='bogus' is not allowed"):
        plotting.per_t_curve(ax, exp, x="bogus")
    with pytest.raises(ValueError, match="^n=0 is not allowed"):
        plotting.sample_grid(ax, exp.samples, n=0)
    with pytest.raises(ValueError, match="^samples=tensor of shape \\(5,\\) is not allowed"):
        plotting.sample_grid(ax, torch.zeros(5))
    plt.close(fig)
    with pytest.raises(ValueError, match="^repeats=0 is not allowed"):
        bench.steps_per_second(lambda: None, torch.device("cpu"), repeats=0)
    with pytest.raises(ValueError, match="^block=-5 is not allowed"):
        bench.steps_per_second(lambda: None, torch.device("cpu"), block=-5)
    with pytest.raises(ValueError, match="^schedule='Cosine' is not allowed: schedule must be one of"):
        experiment.run(data="moons", schedule="Cosine")
    with pytest.raises(ValueError, match="^model='bogus' is not allowed: model must be one of"):
        experiment.run(data="moons", model="bogus")
    with pytest.raises(ValueError, match=r"^t=tensor of shape \(100,\).*\(t = 99 is out\)"):
        q_sample(s10, torch.zeros(100, 2), torch.arange(100), torch.zeros(100, 2))
    with pytest.raises(TypeError, match="^fast='no' \\(a str\\)"):
        experiment.classroom_settings(fast="no")
    with pytest.raises(ValueError, match="^name='bogus' is not allowed"):
        experiment.exact_floor_mixture("bogus", X)


"""The training loop: resume equals an uninterrupted run, the tracker and samplers do what they say."""
import math
import os

import pytest
import torch

from ddpm_edu import NoiseSchedule, data
from ddpm_edu.models import ConvDenoiser, MLPDenoiser, SinusoidalEmbedding, make_model
from ddpm_edu.training import (LossSecondMomentSampler, accumulator_dtype, PerTimestepTracker, TrainConfig, Trainer,
                               evaluate_per_t, pick_device, stratified_t, train)

LIN = NoiseSchedule.linear()
SMALL = dict(batch_size=64, log_every=10, device="cpu", lr=2e-3)


def _toy():
    return data.toy("moons", 512, seed=0)


def test_resume_from_checkpoint_equals_an_uninterrupted_run(tmp_path):
    x = _toy()
    for sampling in ("uniform", "importance"):
        torch.manual_seed(0); straight = Trainer(MLPDenoiser(2, width=32), x, LIN, TrainConfig(steps=60, t_sampling=sampling, **SMALL))
        (full,) = straight.run(progress=False)
        torch.manual_seed(0); first = Trainer(MLPDenoiser(2, width=32), x, LIN, TrainConfig(steps=30, t_sampling=sampling, **SMALL))
        first.run(progress=False)
        path = tmp_path / f"ckpt-{sampling}.pt"
        first.save(str(path))
        assert path.exists() and not any(".tmp" in f for f in os.listdir(tmp_path))   # atomic: no temp file left
        torch.manual_seed(123)   # a different init: everything must come from the checkpoint
        resumed = Trainer(MLPDenoiser(2, width=32), x, LIN, TrainConfig(steps=60, t_sampling=sampling, **SMALL)).load(str(path))
        (again,) = resumed.run(progress=False)
        for p, q in zip(full.model.parameters(), again.model.parameters()):
            assert torch.equal(p, q), sampling
        for p, q in zip(full.ema.parameters(), again.ema.parameters()):
            assert torch.equal(p, q), sampling
        assert full.log_loss == again.log_loss and torch.equal(full.bin_history, again.bin_history)


def test_checkpoint_is_loadable_with_weights_only(tmp_path):
    tr = Trainer(MLPDenoiser(2, width=8), _toy(), LIN, TrainConfig(steps=5, **SMALL))
    tr.run(progress=False)
    tr.save(str(tmp_path / "c.pt"))
    state = torch.load(tmp_path / "c.pt", weights_only=True)
    assert state["step"] == 5


def test_training_lowers_the_loss_in_every_t_bin():
    torch.manual_seed(0)
    res = train(MLPDenoiser(2, width=64), _toy(), LIN, TrainConfig(steps=600, n_bins=5, **SMALL), progress=False)
    first, last = res.bin_history[0], res.bin_history[-5:].nanmean(0)
    assert (last < first).all()
    assert res.steps == 600 and len(res.log_loss) == 60


def test_time_budget_stops_the_run():
    res = train(MLPDenoiser(2, width=8), _toy(), LIN, TrainConfig(steps=None, seconds=0.5, **SMALL), progress=False)
    assert 0.5 <= res.seconds < 5 and res.steps > 0


def test_tracker_bins_and_means():
    tr = PerTimestepTracker(T=10, n_bins=5)
    assert tr.bin_edges == [1, 3, 5, 7, 9, 11]
    tr.update(torch.tensor([1, 2, 2, 10]), torch.tensor([1.0, 3.0, 5.0, 7.0]))
    snap = tr.snapshot()
    assert snap[0] == 3.0 and snap[4] == 7.0 and math.isnan(snap[1])
    assert tr.counts.sum() == 0     # a new window


def test_importance_sampler_is_unbiased_and_follows_the_second_moment():
    T = 50
    s = LossSecondMomentSampler(T, history=4, uniform_prob=0.0)
    losses = torch.linspace(0.1, 5.0, T + 1, dtype=torch.float64)
    for _ in range(4):
        t = torch.arange(1, T + 1)
        s.update(torch.cat([t, t[:3]]), torch.cat([losses[1:], losses[1:4]]))   # duplicates in a batch
    assert s.warmed_up()
    p = s.probs()
    assert torch.allclose(p[1:], losses[1:] / losses[1:].sum())
    g = torch.Generator().manual_seed(0)
    t, w = s.sample(200_000, g)
    # E[w(t) L(t)] under p equals the uniform mean of L
    assert float((w * losses[t]).mean()) == pytest.approx(float(losses[1:].mean()), rel=0.01)


def test_stratified_t_puts_one_step_in_each_stratum():
    t = stratified_t(100, 1000, torch.Generator().manual_seed(0))
    assert sorted(((t - 1) // 10).tolist()) == list(range(100))


def test_per_t_evaluation_uses_common_random_numbers_and_consistent_spaces():
    class Zero(torch.nn.Module):
        def forward(self, x, t):
            return torch.zeros_like(x)
    ev = evaluate_per_t(Zero(), _toy(), LIN, "eps", t_values=[1, 500, 1000], n=256, device="cpu")
    # predicting eps = 0: the eps-loss is the same noise at every t, so exactly equal across t
    assert torch.allclose(ev.loss["eps"], ev.loss["eps"][0].expand(3))
    snr = LIN.snr[[1, 500, 1000]]
    assert torch.allclose(ev.loss["eps"], snr * ev.loss["x0"], rtol=1e-9)
    assert torch.allclose(ev.loss["v"], (1 + snr) * ev.loss["x0"], rtol=1e-9)
    assert (ev.stderr["eps"] > 0).all()


def test_models_keep_the_data_shape_and_embed_t():
    x = torch.randn(4, 1, 8, 8)
    t = torch.tensor([1, 2, 3, 4])
    assert ConvDenoiser()(x, t).shape == x.shape
    assert make_model("mlp", (1, 8, 8), width=16)(x, t).shape == x.shape
    e = SinusoidalEmbedding(8)(torch.tensor([0, 1]))
    assert torch.allclose(e[0], torch.tensor([0.0] * 4 + [1.0] * 4))       # sin 0 = 0, cos 0 = 1
    assert torch.allclose(e[1, 0], torch.sin(torch.tensor(1.0)))


@pytest.mark.parametrize("kwargs, argument", [
    (dict(target="score"), "target"), (dict(weighting="fancy"), "weighting"), (dict(t_sampling="sobol"), "t_sampling"),
    (dict(steps=None, seconds=None), "steps"), (dict(steps=0), "steps"), (dict(lr=-1.0), "lr"),
    (dict(ema_decay=1.5), "ema_decay"), (dict(batch_size=0), "batch_size"),
])
def test_bad_config_is_a_value_error(kwargs, argument):
    with pytest.raises(ValueError) as err:
        TrainConfig(**kwargs).validate()
    assert str(err.value).startswith(argument + "=")


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    assert accumulator_dtype("mps") == torch.float32 and accumulator_dtype("cpu") == torch.float64   # MPS has no float64
    assert pick_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="^device="):
        pick_device("tpu")
    with pytest.raises(ValueError, match="^device="):
        pick_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="^device="):
            pick_device("cuda")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="^device='mps'"):
            pick_device("mps")


def test_compiled_step_trains_like_the_eager_step(tmp_path):
    """config.compile=True runs the forward pass through torch.compile; the run must match the
    eager one to float tolerance, and checkpoints must hold the plain module's keys."""
    x = _toy()
    results = {}
    for flag in (False, True):
        torch.manual_seed(0)
        tr = Trainer(MLPDenoiser(2, width=32), x, LIN, TrainConfig(steps=20, compile=flag, **SMALL))
        (results[flag],) = tr.run(progress=False)
        if flag:
            tr.save(str(tmp_path / "c.pt"))
    for p, q in zip(results[False].model.parameters(), results[True].model.parameters()):
        assert torch.allclose(p, q, atol=1e-4)
    assert results[False].steps == results[True].steps == 20
    keys = torch.load(tmp_path / "c.pt", weights_only=True)["model"].keys()
    assert keys == MLPDenoiser(2, width=32).state_dict().keys()        # no "_orig_mod." prefixes


def test_per_t_evaluation_leaves_the_callers_model_as_it_was():
    model = MLPDenoiser(2, width=8).train()
    evaluate_per_t(model, _toy(), LIN, "eps", t_values=[1, 500], n=16, device="cpu")
    assert model.training and next(model.parameters()).device.type == "cpu"
    model.eval()
    evaluate_per_t(model, _toy(), LIN, "eps", t_values=[1, 500], n=16, device="cpu")
    assert not model.training


def test_resuming_on_another_kind_of_device_is_refused_with_a_reason(tmp_path):
    tr = Trainer(MLPDenoiser(2, width=8), _toy(), LIN, TrainConfig(steps=3, **SMALL))
    tr.run(progress=False)
    state = tr.state_dict()
    state["generator_device"] = "cuda"              # as a CUDA run would have written it
    torch.save(state, tmp_path / "gpu.pt")
    with pytest.raises(ValueError, match="^path=.*drawn on cuda"):
        Trainer(MLPDenoiser(2, width=8), _toy(), LIN, TrainConfig(steps=6, **SMALL)).load(str(tmp_path / "gpu.pt"))


def test_gradient_noise_shrinks_with_the_batch_and_the_vlb_gradient_is_the_noisier():
    from ddpm_edu.training import gradient_noise
    torch.manual_seed(0)
    x = _toy()
    model = MLPDenoiser(2, width=32)
    small = gradient_noise(model, x, LIN, batch_size=32, n_batches=64, seed=1)
    large = gradient_noise(model, x, LIN, batch_size=128, n_batches=64, seed=1)
    assert 2.5 < small["noise"] / large["noise"] < 6.5              # variance of a mean: 1 / batch size (4x here)
    assert gradient_noise(model, x, LIN, seed=3) == gradient_noise(model, x, LIN, seed=3)
    vlb = gradient_noise(model, x, LIN, weighting="vlb", weighting_params={"sigma": "beta"}, n_batches=64, seed=1)
    simple = gradient_noise(model, x, LIN, n_batches=64, seed=1)
    assert vlb["ratio"] > 2 * simple["ratio"]

"""Families: the models a notebook compares, trained and sampled together, each exactly as it would be alone.

In float64 a member of a batched family ends within 1e-9 (relative) of the same model trained alone: the
batched matrix products add in another order, which float64 leaves at ~1e-16 after 50 steps. In float32
the same reordering changes the last bit (~6e-8) of some products, and Adam turns a gradient's relative
error into a step's relative error (its update is m / sqrt(v), about lr * sign(g) where the gradient is
tiny and noisy): measured on a 2-core CPU machine, the largest parameter difference after 50 steps, relative
to the largest parameter, is 2e-7 to 4e-7. The float32 tests allow 1e-5.

SAME_CHAIN: a member's reverse chain draws the same noise and makes the same computations as alone, but
two float32 runs of one matrix product need not agree in the last bit: MKL's kernels may round differently
with the memory alignment of their inputs, which depends on what else was allocated (measured: 8e-8 after
20 levels when another model's chain was stepped in between). The sampling tests allow 1e-5.
"""
import copy
import math
import os
import subprocess
import sys

import pytest
import torch

from ddpm_edu import NoiseSchedule, data
from ddpm_edu import threads
from ddpm_edu.continuous import ancestral_sample_lambda, ddpm_lambda_grid, sample_objectives, train_objective, train_objectives
from ddpm_edu.models import MLPDenoiser, StackedMLP
from ddpm_edu.sampling import ancestral_sample, sample_family
from ddpm_edu.training import TrainConfig, Trainer, train_family

LIN = NoiseSchedule.linear()
X = data.digits()[0][:400]
SMALL = dict(batch_size=32, log_every=10, device="cpu", lr=2e-3, steps=50)
# every target, four weightings, every t-sampling rule, different seeds
MEMBERS = [dict(target="eps"), dict(target="x0", weighting="min_snr", seed=3),
           dict(target="v", weighting="vlb", t_sampling="importance", seed=5),
           dict(target="eps", weighting="p2", t_sampling="stratified", seed=7)]


def _models(k, width=16, seed=0):
    torch.manual_seed(seed)
    return [MLPDenoiser(64, width=width) for _ in range(k)]


def _rel(a: torch.nn.Module, b: torch.nn.Module) -> float:
    """Largest parameter difference, relative to the largest parameter, over every tensor."""
    return max(float((p - q).abs().max() / q.abs().max()) for p, q in zip(a.parameters(), b.parameters()))


def _alone_and_together(dtype):
    configs = [TrainConfig(dtype=dtype, **SMALL, **m) for m in MEMBERS]
    models = _models(len(MEMBERS))
    alone = [Trainer(copy.deepcopy(m), X, LIN, c).run(progress=False)[0] for m, c in zip(models, configs)]
    together = Trainer([copy.deepcopy(m) for m in models], X, LIN, configs).run(progress=False)
    return alone, together


def test_a_family_of_one_trains_like_the_single_model():
    cfg = TrainConfig(**SMALL)
    (m,) = _models(1)
    (single,) = Trainer(copy.deepcopy(m), X, LIN, cfg).run(progress=False)
    (member,) = Trainer([copy.deepcopy(m)], X, LIN, [cfg]).run(progress=False)
    assert _rel(single.model, member.model) < 1e-5 and _rel(single.ema, member.ema) < 1e-5
    assert member.steps == single.steps == 50 and member.bin_history.shape == single.bin_history.shape


def test_in_float64_each_member_of_a_family_ends_as_it_would_alone():
    alone, together = _alone_and_together("float64")
    for a, f, spec in zip(alone, together, MEMBERS):
        assert _rel(a.model, f.model) < 1e-9 and _rel(a.ema, f.ema) < 1e-9, spec
        assert f.config["target"] == a.config["target"] and f.config["seed"] == a.config["seed"]
        assert all(math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a.log_loss, f.log_loss)), spec
        same_bins = torch.isnan(a.bin_history) == torch.isnan(f.bin_history)
        assert same_bins.all() and torch.allclose(a.bin_history.nan_to_num(), f.bin_history.nan_to_num(), rtol=1e-9)


def test_in_float32_each_member_ends_within_the_measured_tolerance():
    alone, together = _alone_and_together("float32")
    worst = max(max(_rel(a.model, f.model), _rel(a.ema, f.ema)) for a, f in zip(alone, together))
    assert worst < 1e-5, worst


def test_members_differ_from_one_another():
    """The members really are different models (different targets, weightings and seeds)."""
    _, together = _alone_and_together("float64")
    assert all(_rel(together[0].model, other.model) > 1e-2 for other in together[1:])


def test_train_family_splits_into_groups_side_by_side_and_changes_nothing_but_the_time(monkeypatch):
    configs = [TrainConfig(dtype="float64", **SMALL, **m) for m in MEMBERS]
    models = _models(len(MEMBERS))
    alone = [Trainer(copy.deepcopy(m), X, LIN, c).run(progress=False)[0] for m, c in zip(models, configs)]
    for workers in ("1", "2", "3"):
        monkeypatch.setenv("DDPM_EDU_THREADS", workers)
        assert len(threads.split(len(MEMBERS))) == int(workers)
        results = train_family([copy.deepcopy(m) for m in models], X, LIN, configs, progress=False)
        for a, r in zip(alone, results):
            assert _rel(a.model, r.model) < 1e-9 and r.config["seed"] == a.config["seed"], workers


def test_a_family_can_train_on_one_data_set_per_member():
    xs = [X[:200], X[200:400]]
    configs = [TrainConfig(dtype="float64", **SMALL), TrainConfig(dtype="float64", **SMALL)]
    models = _models(2)
    alone = [Trainer(copy.deepcopy(m), x, LIN, c).run(progress=False)[0] for m, x, c in zip(models, xs, configs)]
    together = Trainer([copy.deepcopy(m) for m in models], xs, LIN, configs).run(progress=False)
    assert all(_rel(a.model, f.model) < 1e-9 for a, f in zip(alone, together))


def test_a_family_resumes_from_a_checkpoint_exactly(tmp_path):
    def family(steps):
        return Trainer(_models(2, seed=0), X, LIN, [TrainConfig(**dict(SMALL, steps=steps), **m) for m in MEMBERS[1:3]])
    straight = family(40).run(progress=False)
    first = family(20)
    first.run(progress=False)
    first.save(str(tmp_path / "family.pt"))
    resumed = Trainer(_models(2, seed=9), X, LIN, [TrainConfig(**dict(SMALL, steps=40), **m) for m in MEMBERS[1:3]])
    again = resumed.load(str(tmp_path / "family.pt")).run(progress=False)
    for s, r in zip(straight, again):
        assert all(torch.equal(p, q) for p, q in zip(s.model.parameters(), r.model.parameters()))
        assert s.log_loss == r.log_loss and torch.equal(s.bin_history.nan_to_num(), r.bin_history.nan_to_num())
    with pytest.raises(ValueError, match="^path=.*holds 2 models, this trainer 1"):
        Trainer(_models(1)[0], X, LIN, TrainConfig(**SMALL)).load(str(tmp_path / "family.pt"))


def test_a_family_under_a_time_cap_stops_together():
    configs = [TrainConfig(**dict(SMALL, steps=None, seconds=0.3)) for _ in range(2)]
    results = Trainer(_models(2), X, LIN, configs).run(progress=False)
    assert results[0].steps == results[1].steps > 0 and 0.3 <= results[0].seconds < 5


@pytest.mark.parametrize("change, message", [
    (dict(lr=1e-3), "must agree on steps, seconds, batch_size, lr"), (dict(batch_size=16), "must agree"),
])
def test_members_that_cannot_step_together_are_refused(change, message):
    configs = [TrainConfig(**SMALL), TrainConfig(**dict(SMALL, **change))]
    with pytest.raises(ValueError, match=f"^config=.*{message}"):
        Trainer(_models(2), X, LIN, configs)
    with pytest.raises(ValueError, match="^config=.*needs a list of 2 TrainConfigs"):
        Trainer(_models(2), X, LIN, configs[0])


def test_stacked_mlp_runs_each_member_and_gives_it_back():
    models = _models(3, width=24)
    family = StackedMLP(models)
    x, t = torch.randn(3, 5, 1, 8, 8), torch.randint(1, 1001, (3, 5))
    out = family(x, t)
    for k, m in enumerate(models):
        assert torch.allclose(out[k], m(x[k], t[k]), atol=1e-5)
        back = family.member(k)
        assert all(torch.equal(p, q) for p, q in zip(back.parameters(), m.parameters()))
    assert sum(p.numel() for p in family.parameters()) == 3 * sum(p.numel() for p in models[0].parameters())
    with pytest.raises(ValueError, match="^members=.*same data_dim, width"):
        StackedMLP([MLPDenoiser(64, width=8), MLPDenoiser(64, width=16)])
    with pytest.raises(ValueError, match="^x=.*a family of 3 takes x of shape"):
        family(x[:2], t[:2])


def test_sampling_a_family_gives_each_member_its_own_chain_exactly():
    models = _models(3, width=16)
    targets = ["eps", "x0", "v"]
    together = sample_family(models, LIN, (1, 8, 8), 12, targets, clip_x0=1.0,
                             generators=[torch.Generator().manual_seed(k) for k in range(3)])
    for k, (m, target) in enumerate(zip(models, targets)):
        alone = ancestral_sample(m, LIN, (1, 8, 8), 12, target, clip_x0=1.0, generator=torch.Generator().manual_seed(k))
        assert (together[k] - alone).abs().max() < 1e-5, target        # see SAME_CHAIN


def test_objectives_trained_and_sampled_together_are_each_what_they_would_be_alone():
    names = ["ddpm", "edm", "flow_matching", "sd3"]
    nets = _models(4, width=16)
    alone = [train_objective(copy.deepcopy(n), X, name, steps=30, seed=1, batch_size=32) for n, name in zip(nets, names)]
    together = train_objectives([copy.deepcopy(n) for n in nets], X, names, steps=30, seed=1, batch_size=32)
    for a, t in zip(alone, together):
        assert a.name == t.name and _rel(a.model, t.model) < 1e-5, a.name
    grid = ddpm_lambda_grid(20)
    drawn = sample_objectives([r.model for r in alone], grid, (1, 8, 8), 10, [torch.Generator().manual_seed(2) for _ in names])
    for r, x in zip(alone, drawn):
        alone_x = ancestral_sample_lambda(r.model, grid, (1, 8, 8), 10, torch.Generator().manual_seed(2))
        assert (x - alone_x).abs().max() < 1e-5, r.name        # the same chain; see SAME_CHAIN


def test_run_family_gives_what_run_gives_each_member():
    from ddpm_edu.experiment import run, run_family
    tiny = {"steps": 30, "n_eval": 16, "n_samples": 8, "n_floor": 20, "log_every": 10}
    members = {"eps": {}, "v": {"target": "v", "seed": 2}, "vlb": {"weighting": "vlb", "t_sampling": "importance"}}
    together = run_family(members, data="moons", settings=tiny, progress=False, with_floor=False, device="cpu")
    for name, options in members.items():
        alone = run(data="moons", settings=tiny, progress=False, with_floor=False, device="cpu", **options)
        r = together[name]
        assert r.target == alone.target and r.train.config["seed"] == alone.train.config["seed"]
        assert torch.allclose(r.per_t.loss[r.target], alone.per_t.loss[r.target], rtol=1e-4), name
    with pytest.raises(ValueError, match="^members\\['eps'\\]=.*pass width to run_family"):
        run_family({"eps": {"width": 64}}, data="moons", settings=tiny)


# ----------------------------------------------------------------------------- threads
def test_the_thread_setting_comes_from_the_environment_and_refuses_nonsense(monkeypatch):
    monkeypatch.delenv("DDPM_EDU_THREADS", raising=False)
    assert threads.setting() == "auto" and threads.op_threads() == 1
    assert threads.workers(6) == min(6, threads.cores()) and threads.workers(1) == 1
    monkeypatch.setenv("DDPM_EDU_THREADS", "3")
    assert threads.op_threads() == 3 and threads.workers(2) == 2 and threads.workers(8) == 3
    for bad in ("0", "many", "-1", "2.5"):
        monkeypatch.setenv("DDPM_EDU_THREADS", bad)
        with pytest.raises(ValueError, match=f"^DDPM_EDU_THREADS='{re_escape(bad)}' is not allowed: .*'auto' or a number"):
            threads.setting()
    with pytest.raises(ValueError, match="^threads=0 is not allowed"):
        threads.setting(0)


def re_escape(text):
    import re
    return re.escape(text)


def test_training_runs_on_the_chosen_threads_and_restores_the_callers(monkeypatch):
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = MLPDenoiser(64, width=8)

        def forward(self, x, t):
            seen.append(torch.get_num_threads())
            return self.net(x, t)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.delenv("DDPM_EDU_THREADS", raising=False)
        Trainer(Probe(), X, LIN, TrainConfig(**dict(SMALL, steps=3))).run(progress=False)
        assert set(seen) == {1} and torch.get_num_threads() == 2          # one thread inside, the caller's after
        seen.clear()
        monkeypatch.setenv("DDPM_EDU_THREADS", "2")
        Trainer(Probe(), X, LIN, TrainConfig(**dict(SMALL, steps=3))).run(progress=False)
        assert set(seen) == {2}
    finally:
        torch.set_num_threads(before)


def test_importing_the_package_leaves_torch_threads_alone():
    code = "import torch; n = torch.get_num_threads(); import ddpm_edu, ddpm_edu.training, ddpm_edu.experiment; " \
           "print(n == torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ))
    assert out.stdout.strip() == "True", out.stderr

"""One-call experiments: budgets that hold, an opt-in cap that says so, fast mode, same seed -> same figures."""
import pytest
import torch

from ddpm_edu.experiment import budget, claim, classroom_settings, fast_mode, max_seconds, quality_along_run, run, seed

TINY = {"steps": 40, "compare_steps": 40, "n_eval": 32, "n_samples": 8, "n_floor": 50, "log_every": 10}


def test_fast_mode_reads_the_environment(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("DDPM_EDU_FAST", value)
        assert fast_mode() is expected
    monkeypatch.delenv("DDPM_EDU_FAST")
    assert fast_mode() is False


def test_budgets_are_step_counts_without_a_cap_unless_one_is_asked_for(monkeypatch):
    monkeypatch.delenv("DDPM_EDU_MAX_SECONDS", raising=False)
    full, fast = classroom_settings(fast=False), classroom_settings(fast=True)
    assert full["steps"] == 4000 and full["compare_steps"] == 2000 and fast["steps"] < full["steps"]
    assert budget("one", fast=False) == {"steps": 4000, "seconds": None}      # no hidden time cap
    assert budget("each", fast=False) == {"steps": 2000, "seconds": None}
    assert budget("objectives", fast=False) == {"steps": 1500, "seconds": None}
    assert budget("objectives", fast=True)["steps"] < 1500
    monkeypatch.setenv("DDPM_EDU_MAX_SECONDS", "12.5")
    assert max_seconds() == 12.5 and budget("one", fast=False)["seconds"] == 12.5
    monkeypatch.setenv("DDPM_EDU_MAX_SECONDS", "soon")
    with pytest.raises(ValueError, match="^DDPM_EDU_MAX_SECONDS='soon'"):
        max_seconds()
    with pytest.raises(ValueError, match="^kind='all'"):
        budget("all")


def test_the_notebook_seed_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("DDPM_EDU_SEED", raising=False)
    assert seed() == 0
    monkeypatch.setenv("DDPM_EDU_SEED", "2")
    assert seed() == 2
    monkeypatch.setenv("DDPM_EDU_SEED", "-1")
    with pytest.raises(ValueError, match="^DDPM_EDU_SEED='-1'"):
        seed()


def test_a_capped_run_says_so_and_its_claims_are_skipped_not_failed(capsys, monkeypatch):
    monkeypatch.delenv("DDPM_EDU_FAST", raising=False)
    capped = run(data="moons", steps=10**6, seconds=0.3, device="cpu", progress=False, settings=TINY, with_floor=False)
    assert not capped.complete and capped.train.steps < 10**6
    assert capped.steps_label() == f"{capped.train.steps} of 1000000 steps (time cap)"
    assert capped.metrics()["complete"] is False and capped.metrics()["planned_steps"] == 10**6
    claim(False, "a claim that needs the full budget", capped)
    assert "not checked (a run trained" in capsys.readouterr().out
    full = run(data="moons", device="cpu", progress=False, settings=TINY, with_floor=False)
    assert full.complete and full.train.steps == 40 and full.steps_label() == "40 steps"
    claim(True, "holds", full)
    assert capsys.readouterr().out == ""
    with pytest.raises(AssertionError, match="fails"):
        claim(False, "fails", full)
    monkeypatch.setenv("DDPM_EDU_FAST", "1")                 # CI's short runs: claims are not checked
    claim(False, "fails", full)
    assert "not checked in fast mode" in capsys.readouterr().out


def test_a_chain_that_does_not_reach_noise_is_refused():
    with pytest.raises(ValueError, match="^T=1 is not allowed: .*alpha-bar_T = 0.9999"):
        run(data="moons", T=1, device="cpu", progress=False, settings=TINY)


def test_same_seed_same_figures_and_another_seed_differs():
    kw = dict(data="moons", target="eps", device="cpu", progress=False, settings=TINY)
    a, b, c = run(seed=3, **kw), run(seed=3, **kw), run(seed=4, **kw)
    assert torch.equal(a.per_t.loss["eps"], b.per_t.loss["eps"]) and torch.equal(a.samples, b.samples)
    assert a.quality == b.quality and a.metrics()["per_t"] == b.metrics()["per_t"]
    assert not torch.equal(a.per_t.loss["eps"], c.per_t.loss["eps"])


def test_snapshots_along_a_run_are_the_ema_model_at_those_steps():
    exp = run(data="moons", device="cpu", progress=False, settings=TINY, with_floor=False, snapshot_steps=[0, 20, 40])
    assert sorted(exp.snapshots) == [0, 20, 40]
    final = dict(exp.train.ema.named_parameters())
    for name, p in exp.snapshots[40].named_parameters():
        assert torch.equal(p, final[name])
    assert not torch.equal(next(exp.snapshots[0].parameters()), next(exp.snapshots[40].parameters()))
    rows = quality_along_run(exp)
    assert [r[0] for r in rows] == [0, 20, 40] and all(r[1]["name"] == "energy_distance" for r in rows)

"""One-call experiments: budgets, fast mode, and same seed -> same figures."""
import pytest
import torch

from ddpm_edu.experiment import budget, classroom_settings, fast_mode, run


def test_fast_mode_reads_the_environment(monkeypatch):
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False)):
        monkeypatch.setenv("DDPM_EDU_FAST", value)
        assert fast_mode() is expected
    monkeypatch.delenv("DDPM_EDU_FAST")
    assert fast_mode() is False


def test_budgets_are_step_counts_with_a_time_cap_and_fast_mode_shrinks_them():
    full, fast = classroom_settings(fast=False), classroom_settings(fast=True)
    assert full["steps"] > fast["steps"] and full["seconds"] is not None and fast["seconds"] is None
    assert budget("each", fast=False)["steps"] < budget("one", fast=False)["steps"]
    assert budget("one", fast=True) == {"steps": fast["steps"], "seconds": None}
    with pytest.raises(ValueError, match="^kind='all'"):
        budget("all")


def test_same_seed_same_figures_and_another_seed_differs():
    settings = {"steps": 40, "seconds": None, "n_eval": 32, "n_samples": 8, "n_floor": 50, "log_every": 10}
    kw = dict(data="moons", target="eps", device="cpu", progress=False, settings=settings)
    a, b, c = run(seed=3, **kw), run(seed=3, **kw), run(seed=4, **kw)
    assert torch.equal(a.per_t.loss["eps"], b.per_t.loss["eps"]) and torch.equal(a.samples, b.samples)
    assert a.quality == b.quality and a.metrics()["per_t"] == b.metrics()["per_t"]
    assert not torch.equal(a.per_t.loss["eps"], c.per_t.loss["eps"])

"""Fixed-seed runs whose numbers the middle layer must keep: saved once from the code before the redesign of
the training layer (tests/data/reference_runs.pt), recomputed by tests/test_reference_runs.py.

Only public names are called here (the notebooks' and the CLI's entry points), so the same function runs on the
old layout and the new one. Regenerate only on purpose: ``python tests/_reference_runs.py``.
"""
import copy
import os
import pathlib

import torch

PATH = pathlib.Path(__file__).parent / "data" / "reference_runs.pt"


def compute() -> dict:
    from ddpm_edu import NoiseSchedule, data
    from ddpm_edu.continuous import eps_loss_per_lambda, ddpm_lambda_grid, sample_objectives, train_objectives
    from ddpm_edu.experiment import run, run_family
    from ddpm_edu.models import MLPDenoiser
    from ddpm_edu.sampling import ancestral_sample
    from ddpm_edu.training import TrainConfig, Trainer, evaluate_per_t, gradient_noise

    out = {}
    lin = NoiseSchedule.linear()
    x = data.digits()[0][:400]
    # 1. a float64 family: every target, four weightings, every t-sampling rule
    members = [dict(target="eps"), dict(target="x0", weighting="min_snr", seed=3),
               dict(target="v", weighting="vlb", t_sampling="importance", seed=5),
               dict(target="eps", weighting="p2", t_sampling="stratified", seed=7)]
    configs = [TrainConfig(dtype="float64", batch_size=32, log_every=10, device="cpu", lr=2e-3, steps=60, **m)
               for m in members]
    torch.manual_seed(0)
    models = [MLPDenoiser(64, width=16) for _ in members]
    results = Trainer([copy.deepcopy(m) for m in models], x, lin, configs).run(progress=False)
    for k, r in enumerate(results):
        out[f"family{k}.log_loss"] = torch.tensor(r.log_loss, dtype=torch.float64)
        out[f"family{k}.bins"] = r.bin_history.clone()
        out[f"family{k}.params"] = torch.cat([p.detach().reshape(-1).double() for p in r.ema.parameters()])
        ev = evaluate_per_t(r.ema.float(), x, lin, members[k]["target"], n=64, seed=1)
        out[f"family{k}.per_t"] = ev.loss[members[k]["target"]].clone()
        g = torch.Generator().manual_seed(11 + k)
        out[f"family{k}.samples"] = ancestral_sample(r.ema.float(), lin, (1, 8, 8), 8, members[k]["target"], generator=g,
                                                     clip_x0=1.0)
    # 2. one model alone, float32 (the notebooks' dtype)
    torch.manual_seed(1)
    r = Trainer(MLPDenoiser(64, width=16), x, lin, TrainConfig(target="v", weighting="min_snr", steps=40, batch_size=32,
                                                               log_every=10, device="cpu")).run(progress=False)
    r = r[0] if isinstance(r, list) else r           # Trainer.run returns a list since the redesign
    out["single.log_loss"] = torch.tensor(r.log_loss, dtype=torch.float64)
    out["single.bins"] = r.bin_history.clone()
    out["single.gradient_noise"] = torch.tensor([gradient_noise(r.model, x, lin, "v", "min_snr", None, batch_size=32,
                                                                n_batches=4, seed=2)[k] for k in ("signal", "noise")])
    # 3. run() and run_family() as the notebooks call them (a short budget)
    settings = {"steps": 30, "compare_steps": 30, "objective_steps": 30, "n_eval": 32, "n_samples": 16, "n_floor": 20,
                "log_every": 10}
    exp = run(data="digits", target="eps", steps=30, width=16, settings=settings, progress=False, device="cpu")
    out["run.per_t"] = exp.per_t.loss["eps"].clone()
    out["run.floor"] = exp.floor["loss"].clone()
    out["run.samples"] = exp.samples.clone()
    out["run.fdd"] = torch.tensor(float(exp.quality["model"]))
    fam = run_family({"a": {}, "b": {"target": "v", "seed": 1}}, data="gaussian_mixture", steps=30, width=16,
                     settings=settings, progress=False, device="cpu")
    for name, e in fam.items():
        out[f"run_family.{name}.per_t"] = e.per_t.loss[e.target].clone()
        out[f"run_family.{name}.samples"] = e.samples.clone()
    # 4. the objectives of notebook 07 at continuous noise levels
    torch.manual_seed(2)
    nets = [MLPDenoiser(64, width=16) for _ in range(3)]
    names = ["ddpm", "edm", "flow_matching"]
    runs = train_objectives(nets, x, names, steps=30, seed=4, batch_size=32)
    lam = torch.linspace(-8, 8, 9)
    samples = sample_objectives([rr.model for rr in runs], ddpm_lambda_grid(50), (1, 8, 8), 6,
                                [torch.Generator().manual_seed(20 + k) for k in range(3)])
    for k, rr in enumerate(runs):
        out[f"objective{k}.log_loss"] = torch.tensor(rr.log_loss, dtype=torch.float64)
        out[f"objective{k}.eps_loss"] = eps_loss_per_lambda(rr.model, x, lam, n=32, seed=3)[0].clone()
        out[f"objective{k}.samples"] = samples[k].clone()
    return out


if __name__ == "__main__":
    os.environ.setdefault("DDPM_EDU_FAST", "1")
    PATH.parent.mkdir(exist_ok=True)
    torch.save(compute(), PATH)
    print(f"wrote {PATH}")

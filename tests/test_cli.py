"""The command line: `train` writes the metrics.json contract and the figures; `bench` ends with its ratio line."""
import json
import math
import os
import re
import subprocess
import sys

import pytest


def _train(*args, env_fast=True, timeout=300):
    import os
    env = dict(os.environ, DDPM_EDU_FAST="1") if env_fast else None
    return subprocess.run([sys.executable, "-m", "ddpm_edu", "train", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_train_writes_metrics_json_samples_and_figures_for_a_toy(tmp_path):
    import numpy as np
    out = tmp_path / "run"
    proc = _train("--data", "gaussian_mixture", "--target", "v", "--steps", "60", "--device", "cpu", "--out", str(out),
                  "--quiet")
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["device"] == "cpu" and m["steps"] == 60 and m["seconds"] > 0 and m["complete"] is True
    t, loss, err = m["per_t"]["t"], m["per_t"]["loss"], m["per_t"]["stderr"]
    assert t == sorted(t) and t[0] == 1 and t[-1] == 1000 and len(t) == len(loss) == len(err)
    assert all(math.isfinite(v) and v >= 0 for v in loss + err)
    assert m["per_t"]["space"] == "v"
    q = m["sample_quality"]
    assert q["name"] == "energy_distance" and q["model"] >= 0 and q["real"] >= 0
    samples = np.load(out / "samples.npy")
    assert samples.shape == (200, 2) and np.isfinite(samples).all()
    for name in ("per_t.png", "training.png", "heatmap.png", "samples.png"):
        assert (out / name).stat().st_size > 1000


def test_train_on_digits_writes_the_quality_contract_and_samples_in_the_data_scale(tmp_path):
    import numpy as np
    out = tmp_path / "digits"
    proc = _train("--data", "digits", "--steps", "100", "--device", "cpu", "--out", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    q = json.loads((out / "metrics.json").read_text())["sample_quality"]
    assert q["name"] == "frechet_digit_distance"
    for key in ("model", "real", "noise", "precision", "recall"):
        assert math.isfinite(q[key]) and q[key] >= 0
    assert q["real"] < q["model"] < q["noise"] and 0 <= q["precision"] <= 1 and 0 <= q["recall"] <= 1
    samples = np.load(out / "samples.npy")
    assert samples.shape == (200, 64) and samples.min() >= -1 and samples.max() <= 1     # digits: [-1, 1], 64 pixels
    assert "frechet_digit_distance: model" in proc.stdout


def test_the_cli_figures_pass_the_figure_checks():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ddpm_edu.cli import figures
    from ddpm_edu.experiment import run
    from ddpm_edu.plotting import figure_problems
    settings = {"steps": 60, "compare_steps": 60, "n_eval": 32, "n_samples": 16, "n_floor": 50, "log_every": 20}
    for data in ("digits", "moons"):
        exp = run(data=data, device="cpu", progress=False, settings=settings)
        for name, fig in figures(exp).items():
            assert figure_problems(fig) == [], (data, name)
            if name == "per_t.png":
                bottom = fig.axes[0].get_ylim()[0]
                assert bottom > 1e-6, "the y axis must not stretch to the memorising floor's 1e-12"
            plt.close(fig)


@pytest.mark.parametrize("args, flag", [
    (["--steps", "0"], "--steps"), (["--steps", "x"], "--steps"), (["--T", "1"], "--T"), (["--T", "2.5"], "--T"),
    (["--lr", "-1"], "--lr"), (["--lr", "nan"], "--lr"), (["--seed", "-3"], "--seed"), (["--batch-size", "0"], "--batch-size"),
    (["--width", "0"], "--width"), (["--target", "noise"], "--target"), (["--data", "mnist"], "--data"),
    (["--device", "bogus"], "--device"), (["--device", "cuda"], "--device"), (["--param", "gamma"], "--param"),
    (["--weighting", "p2", "--gamma", "3"], "--gamma"), (["--ema", "1.5"], "--ema"), (["--seconds", "0"], "--seconds"),
    (["--T", "100"], "--T"),
])
def test_every_bad_flag_is_one_line_naming_the_flag_and_exits_2(tmp_path, args, flag):
    proc = _train("--data", "moons", "--steps", "5", "--out", str(tmp_path / "o"), *args) if "--steps" not in args else \
        _train("--data", "moons", "--out", str(tmp_path / "o"), *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert flag in lines[0], lines[0]


def test_an_unusable_out_folder_is_one_line(tmp_path):
    existing = tmp_path / "a_file"
    existing.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    for out in ("", str(existing), str(locked / "sub") if os.geteuid() != 0 else "/proc/ddpm-edu-cannot-exist"):
        proc = _train("--data", "moons", "--steps", "5", "--out", out)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: --out"), proc.stderr


def test_help_shows_every_default():
    proc = subprocess.run([sys.executable, "-m", "ddpm_edu", "train", "--help"], capture_output=True, text=True)
    entries, current = {}, None
    for line in proc.stdout.split("options:", 1)[1].splitlines():
        m = re.match(r"^  (--[a-zA-Z-]+|-h)", line)
        if m:
            current = m.group(1)
            entries[current] = line
        elif current:
            entries[current] += " " + line.strip()
    for option in ("--data", "--target", "--weighting", "--gamma", "--param", "--schedule", "--T", "--steps", "--seconds",
                   "--seed", "--device", "--model", "--width", "--batch-size", "--lr", "--ema"):
        assert "(default:" in entries[option], option
    assert "(required)" in entries["--out"] and "(default: None)" not in proc.stdout      # --out has no default


def test_bench_prints_a_table_and_the_ratio_line():
    proc = subprocess.run([sys.executable, "-m", "ddpm_edu", "bench", "--seconds", "2", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["device", "what"]
    assert re.fullmatch(r"ours/reference steps per second: \d+\.\d\d", lines[-1])
    # 2 s is shorter than the 5 s lag: the per-t shape cannot settle, and the table says so in words
    stable = [line for line in lines if "stable per-t shape" in line]
    assert stable and all("not in 2 s" in line for line in stable), stable
    assert "nan" not in proc.stdout.lower()


def test_bench_reports_a_compile_mode_that_fails_instead_of_crashing(monkeypatch):
    import torch
    from ddpm_edu import bench
    monkeypatch.setattr(bench, "COMPILE_MODES", ("no-such-mode",))
    rows, speedups = bench._compiled_rows(torch.device("cpu"), 16, 100.0)
    assert len(rows) == 1 and rows[0][2].startswith("failed: ") and speedups == []


def test_bench_blocks_are_sized_by_the_pace_of_the_step():
    import time
    import torch
    from ddpm_edu.bench import steps_per_second
    calls = []

    def step():                      # a 2 ms step: a 0.4 s block is about 200 steps
        calls.append(1)
        time.sleep(0.002)
    rate = steps_per_second(step, torch.device("cpu"), repeats=3, warmup=5, block_seconds=0.4)
    timed = len(calls) - 5 - 10
    assert 3 * 100 <= timed <= 3 * 200 and timed % 3 == 0
    assert 250 < rate <= 500

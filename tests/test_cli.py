"""The command line: `train` writes the metrics.json contract and the figures; `bench` ends with its ratio line."""
import json
import math
import re
import subprocess
import sys


def test_train_writes_metrics_json_and_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("DDPM_EDU_FAST", "1")
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "ddpm_edu", "train", "--data", "gaussian_mixture", "--target", "v",
                           "--steps", "60", "--device", "cpu", "--out", str(out), "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["device"] == "cpu" and m["steps"] == 60 and m["seconds"] > 0
    t, loss, err = m["per_t"]["t"], m["per_t"]["loss"], m["per_t"]["stderr"]
    assert t == sorted(t) and t[0] == 1 and t[-1] == 1000 and len(t) == len(loss) == len(err)
    assert all(math.isfinite(v) and v >= 0 for v in loss + err)
    assert m["per_t"]["space"] == "v"
    q = m["sample_quality"]
    assert q["name"] == "energy_distance" and q["model"] >= 0 and q["real"] >= 0
    for name in ("per_t.png", "training.png", "heatmap.png", "samples.png"):
        assert (out / name).stat().st_size > 1000


def test_train_rejects_bad_input_with_a_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ddpm_edu", "train", "--data", "digits", "--steps", "0",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "steps=0" in proc.stderr


def test_bench_prints_a_table_and_the_ratio_line():
    proc = subprocess.run([sys.executable, "-m", "ddpm_edu", "bench", "--seconds", "2", "--device", "cpu"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["device", "what"]
    assert re.fullmatch(r"ours/reference steps per second: \d+\.\d\d", lines[-1])


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

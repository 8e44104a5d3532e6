"""Every claim the experiment notebooks assert holds for seeds 0, 1 and 2 at the classroom budget.

The notebooks check their claims about trained models with ``ddpm_edu.experiment.claim``, which skips them in
fast mode. This test runs notebooks 04 to 07 in classroom mode (``DDPM_EDU_FAST=0``) for each seed
(``DDPM_EDU_SEED``), so every claim is checked three times. About 7 minutes per seed on a 2-core CPU:
it is marked slow and runs with ``make test-slow`` (not in ``make test``).
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(str(p) for p in (ROOT / "notebooks").glob("0[4-9]_*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_notebooks_claims_hold_at_the_classroom_budget(seed, tmp_path):
    env = dict(os.environ, DDPM_EDU_FAST="0", DDPM_EDU_SEED=str(seed))
    env.pop("DDPM_EDU_MAX_SECONDS", None)
    env.pop("MPLBACKEND", None)                   # inline figures, checked as in make test
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                           "--nbval-current-env", *EXPERIMENTS, "--executed-dir", str(tmp_path / f"seed{seed}")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    tail = proc.stdout[-6000:]
    assert proc.returncode == 0, tail
    assert "not checked" not in "".join(
        (tmp_path / f"seed{seed}" / Path(nb).name).read_text() for nb in EXPERIMENTS), "a claim was skipped"
    print(f"seed {seed}: " + " ".join(line for line in tail.splitlines() if "notebooks/" in line and " s " in line))

"""Sample quality: each figure against an independent computation, and the references that make it readable."""
import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from ddpm_edu.data import digits
from ddpm_edu.experiment import load_data
from ddpm_edu.quality import (copy_share, digit_features, digit_report, energy_distance, frechet_distance, frechet_spread,
                              noise_images, precision_recall, sample_quality)


def test_frechet_distance_matches_scipy_sqrtm_and_the_diagonal_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 5)) @ rng.normal(size=(5, 5))
    b = rng.normal(1.0, 2.0, size=(300, 5))
    m1, m2, s1, s2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)   # Heusel et al. 2017
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)
    # two Gaussians with diagonal covariances: ||m1 - m2||^2 + sum (sd1 - sd2)^2, here from exact moments
    x = np.array([[-1.0, -2.0], [1.0, 2.0], [-1.0, 2.0], [1.0, -2.0]])       # mean 0, variances (4/3, 16/3)
    y = x * np.array([2.0, 0.5]) + np.array([3.0, 0.0])
    sd_x, sd_y = np.sqrt([4 / 3, 16 / 3]), np.sqrt([16 / 3, 4 / 3])
    assert frechet_distance(x, y) == pytest.approx(9.0 + ((sd_x - sd_y) ** 2).sum(), rel=1e-10)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_precision_and_recall_on_sets_with_a_known_answer():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 2))
    assert precision_recall(real, real) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)
    half = real[real[:, 0] > 0]                     # a "collapsed" model: half of the real support only
    p, r = precision_recall(real, half)
    assert p == 1.0 and 0.35 < r < 0.65
    with pytest.raises(ValueError, match="^k=3 is not allowed"):
        precision_recall(real[:3], real)


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(0)
    u, v = rng.normal(0, 1, 300), rng.normal(0.5, 2, 200)
    # scipy returns the square root of 2E|X-Y| - E|X-X'| - E|Y-Y'|
    assert energy_distance(torch.tensor(u)[:, None], torch.tensor(v)[:, None]) == pytest.approx(
        scipy.stats.energy_distance(u, v) ** 2, rel=1e-9)
    assert energy_distance(torch.tensor(u)[:, None], torch.tensor(u)[:, None]) == pytest.approx(0, abs=1e-12)


def test_the_feature_network_is_deterministic_and_classifies_digits():
    images, labels = digits()
    net = digit_features()
    assert (net.predict(images) == labels.numpy()).mean() > 0.95        # fitted on all digits
    again = type(net)(seed=0)
    assert np.array_equal(again.features(images[:20]), net.features(images[:20]))
    assert net.features(images[:7]).shape == (7, 32)


def test_the_digit_report_separates_real_digits_noise_and_a_collapsed_model():
    train, held_out, _ = load_data("digits", 0)
    images, labels = digits()
    real = digit_report(train[:400], held_out, train)
    noise = digit_report(noise_images(400), held_out, train)
    ones = images[labels == 1][:150]
    collapsed = digit_report(torch.cat([ones, ones, ones])[:400], held_out, train)
    # the real set sits at its own floor; noise is two orders of magnitude away
    assert real["model"] == pytest.approx(real["real"], rel=0.5) and noise["model"] > 50 * real["model"]
    assert real["precision"] > 0.8 and real["recall"] > 0.8
    assert noise["precision"] < 0.05 and noise["recall"] < 0.05
    # one digit class: its points are real (precision) but most digits are missing (recall)
    assert collapsed["precision"] > 0.8 and collapsed["recall"] < 0.3 and collapsed["model"] > 20 * real["model"]
    # references on the same scale in every report
    assert {"real", "noise", "precision", "recall", "copy_share"} <= set(real)
    assert real["copy_share"] == 1.0 and real["real_copy_share"] == 0.0        # training digits are copies of themselves


def test_copy_share_counts_near_copies_of_training_images():
    train = torch.linspace(-1, 1, 64).reshape(1, 64).repeat(5, 1) * torch.arange(1, 6)[:, None] / 5
    near = train[:2] + 0.05
    far = -train[:2]
    assert copy_share(torch.cat([near, far]), train) == 0.5


def test_sample_quality_chooses_the_report_by_data_and_needs_the_training_set_for_digits():
    train, held_out, _ = load_data("digits", 0)
    with pytest.raises(ValueError, match="^train=None"):
        sample_quality("digits", held_out[:50], held_out, None)
    toy = sample_quality("moons", torch.randn(100, 2), torch.randn(400, 2))
    assert toy["name"] == "energy_distance" and toy["model"] >= 0 and toy["real"] >= 0


def test_the_frechet_spread_is_the_size_of_a_fresh_draw_and_shrinks_with_more_samples():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 4))
    draws = [frechet_distance(rng.normal(0.3, 1.0, size=(500, 4)), rng.normal(size=(500, 4))) for _ in range(40)]
    spread = frechet_spread(rng.normal(0.3, 1.0, size=(500, 4)), ref, n_boot=60)
    assert 0.5 * np.std(draws) < spread < 2.0 * np.std(draws)       # the same order as independent redraws
    big = frechet_spread(rng.normal(0.3, 1.0, size=(4000, 4)), rng.normal(size=(4000, 4)), n_boot=30)
    assert big < spread

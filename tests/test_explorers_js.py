"""The explorers' JavaScript against the package, in headless Chromium.

The page computes everything an explorer draws and prints (ddpm_edu/static/explorers). Here the same code
that the widgets ship (``widgets.script``) is evaluated in Chromium on a grid of settings: every schedule
kind, T in {2, 10, 1000, 2000}, each parameter at both ends of its slider and at its default, in every loss
space. Every array is compared with the package's to a relative 1e-9 (absolute 1e-12 near zero), with
infinities, NaNs and signs (including the sign of a zero) identical, and every readout line must be the
package's, character for character. A mismatch names the function, the setting and the first index that
differs. The last test changes one formula in the module and checks that the comparison catches it.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from ddpm_edu import objectives as O
from ddpm_edu import widgets as W
from ddpm_edu.weighting import effective_weights, log_snr_density, weighting_curves

from _chromium import CHROMIUM, chromium
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
if not Path(CHROMIUM).exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)

RTOL, ATOL = 1e-9, 1e-12
SCHEDULE_ARRAYS = ("betas", "alphas", "alpha_bars", "one_minus_alpha_bars", "snr", "log_snr", "posterior_variance",
                   "posterior_log_variance_clipped")
HELPERS = """
window.__b64 = (arr) => {
  const u8 = new Uint8Array(Float64Array.from(arr).buffer);
  let s = "";
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
  return btoa(s);
};
window.__run = (fn) => { try { return { ok: fn() }; } catch (e) { return { error: String(e.message) }; } };
"""


def _page(browser, source: str):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_content("<!doctype html><html><body></body></html>")
    page.add_script_tag(content=source)
    page.add_script_tag(content=HELPERS)
    assert not errors, errors
    return page


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(browser):
    page = _page(browser, W.script())
    yield page
    page.close()


def _decode(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8")


def compare(function: str, setting, js, py) -> None:
    """Arrays equal to RTOL (ATOL near 0), with infinities, NaN and signs identical; else name the first index."""
    js, py = np.asarray(js, dtype=np.float64), np.asarray(py, dtype=np.float64).reshape(-1)
    where = f"{function} at {setting}"
    assert js.shape == py.shape, f"{where}: JavaScript gave {js.shape[0]} values, the package {py.shape[0]}"
    same_kind = (np.isnan(js) == np.isnan(py)) & (np.isinf(js) == np.isinf(py)) & (np.signbit(js) == np.signbit(py))
    finite = np.isfinite(js) & np.isfinite(py)
    close = np.where(finite, np.abs(js - py) <= np.maximum(RTOL * np.abs(py), ATOL), np.isnan(js) | (js == py))
    bad = np.flatnonzero(~(same_kind & close))
    if bad.size:
        i = int(bad[0])
        raise AssertionError(f"{where}: first difference at index {i}: JavaScript {js[i]!r}, package {py[i]!r} "
                             f"({bad.size} of {py.size} values differ)")


# ----------------------------------------------------------------------------- the grid of settings
BETA_START = (1e-5, 1e-4, 0.1)
BETA_END = (10 ** (np.log10(0.02) - 1.5), 0.02, 10 ** (np.log10(0.02) + 1.3))


def schedule_settings():
    for T in (2, 10, 1000, 2000):
        for kind in W.SCHEDULE_KINDS:
            if kind in ("linear", "scaled_linear"):
                pairs = [(b, 0.02) for b in BETA_START] + [(1e-4, e) for e in BETA_END]
                for bs, be in pairs:
                    yield {"kind": kind, "T": T, "beta_start": float(bs), "beta_end": float(be), "s": 0.008}
            elif kind == "cosine":
                for s in (0.0, 0.008, 0.2):
                    yield {"kind": kind, "T": T, "beta_start": 1e-4, "beta_end": 0.02, "s": s}
            else:
                yield {"kind": kind, "T": T, "beta_start": 1e-4, "beta_end": 0.02, "s": 0.008}


def weighting_settings():
    ends = {"gamma": (0.5, 5.0, 20.0), "k": (0.1, 1.0, 5.0), "p2_gamma": (0.1, 1.0, 2.0)}
    for T in (2, 10, 1000, 2000):
        for kind in W.SCHEDULE_KINDS:
            for space in ("eps", "x0", "v"):
                base = {"kind": kind, "T": T, "space": space, "axis": "t", "gamma": 5.0, "k": 1.0, "p2_gamma": 1.0}
                yield base
                if T == 2000:
                    continue
                for name, values in ends.items():
                    for v in (values[0], values[2]):
                        yield dict(base, **{name: v})


def objective_settings():
    defaults = {"P_mean": -1.2, "P_std": 1.2, "m": 0.0, "s": 1.0, "gamma": 5.0, "b": 0.0}
    yield defaults
    for spec in W.ObjectiveExplorer.CONTROLS:
        for v in (spec.min, spec.max):
            yield dict(defaults, **{spec.name: float(v)})


# ----------------------------------------------------------------------------- the tests
def test_numbers_are_printed_as_python_prints_them(page):
    values = [0.0, -0.0, 1.0, 49.03, 0.5, 1234.5, 219932651.9, 0.0004, 4.036e-05, -10.1234, 1e-300, 5.5, 0.1 + 0.2,
              1e16, 123456789.0, -2.5e-7, 0.09999, 9999.4, 9999.6, float("inf"), float("-inf")]
    js = page.evaluate("(vs) => vs.map((v) => [MATH.fmtNumber(v), MATH.pyG(v), MATH.pyG(v, 3), MATH.pyExp(v, 3), "
                       "MATH.pyFixed(v, 2), MATH.pyRepr(v)])", [v if np.isfinite(v) else str(v) for v in values])
    for v, got in zip(values, js):
        want = [W.fmt_number(v), f"{v:g}", f"{v:.3g}", f"{v:.3e}", f"{v:.2f}", repr(v)]
        if not np.isfinite(v):
            continue
        assert got == want, (v, got, want)
    inf = page.evaluate("() => [MATH.fmtNumber(Infinity), MATH.pyG(-Infinity), MATH.pyRepr(Infinity)]")
    assert inf == ["inf", "-inf", "inf"]


def test_every_schedule_array_is_the_packages(page):
    settings = list(schedule_settings())
    results = page.evaluate("""(settings) => settings.map((st) => __run(() => {
        const s = MATH.makeSchedule(st.kind, st.T, st.beta_start, st.beta_end, st.s);
        return Object.fromEntries(%s.map((k) => [k, __b64(s[k])]));
    }))""" % json.dumps(list(SCHEDULE_ARRAYS)), settings)
    checked = 0
    for st, res in zip(settings, results):
        try:
            sched = W.make_schedule(st["kind"], st["T"], st["beta_start"], st["beta_end"], st["s"])
        except ValueError as err:
            assert res.get("error") == str(err), f"schedule at {st}: the package refuses it ({err}), JavaScript gave {res}"
            continue
        assert "ok" in res, f"schedule at {st}: JavaScript failed ({res.get('error')}), the package did not"
        for name in SCHEDULE_ARRAYS:
            compare(f"schedule.{name}", st, _decode(res["ok"][name]), getattr(sched, name).numpy())
            checked += 1
    assert checked > 300


def test_every_weighting_density_and_effective_weight_is_the_packages(page):
    settings = list(weighting_settings())
    results = page.evaluate("""(settings) => settings.map((st) => __run(() => {
        const s = MATH.makeSchedule(st.kind, st.T);
        const curves = MATH.weightingCurves(s, st.space, st.gamma, st.k, st.p2_gamma);
        const { lam, dens, eff } = MATH.effectiveWeights(s, curves);
        return { labels: Object.keys(curves), curves: Object.values(curves).map(__b64), density: __b64(MATH.logSnrDensity(s)),
                 lam: __b64(lam), dens: __b64(dens), eff: Object.values(eff).map(__b64) };
    }))""", settings)
    for st, res in zip(settings, results):
        assert "ok" in res, f"weighting at {st}: JavaScript failed: {res.get('error')}"
        sched = W.make_schedule(st["kind"], st["T"])
        curves = weighting_curves(sched, st["space"], gamma=st["gamma"], k=st["k"], p2_gamma=st["p2_gamma"])
        assert res["ok"]["labels"] == list(curves), (st, res["ok"]["labels"])
        for (label, w), js in zip(curves.items(), res["ok"]["curves"]):
            compare(f"weightingCurves[{label!r}]", st, _decode(js), w.numpy())
        compare("logSnrDensity", st, _decode(res["ok"]["density"]), log_snr_density(sched).numpy())
        lam, dens, eff = effective_weights(sched, curves)
        compare("effectiveWeights lambda", st, _decode(res["ok"]["lam"]), lam)
        compare("effectiveWeights density", st, _decode(res["ok"]["dens"]), dens)
        for (label, e), js in zip(eff.items(), res["ok"]["eff"]):
            compare(f"effectiveWeights[{label!r}]", st, _decode(js), e)


def test_the_edges_that_break_naive_code_are_in_the_grid():
    """t = 1 and t = T are compared in every array; these settings are the ones that go wrong first."""
    settings = list(weighting_settings())
    assert {"kind": "cosine", "T": 2000, "space": "eps", "axis": "t", "gamma": 5.0, "k": 1.0, "p2_gamma": 1.0} in settings
    assert any(s["gamma"] == 0.5 and s["space"] in ("x0", "v") for s in settings)          # Min-SNR at its smallest gamma
    clipped = W.make_schedule("cosine", 1000)
    assert float(clipped.betas[-1]) == 0.999                                                  # cosine's clipped last beta
    assert any(s["kind"] == "cosine" and s["T"] == 2 for s in schedule_settings())


def test_every_objective_curve_is_the_packages(page):
    settings = list(objective_settings())
    results = page.evaluate("""(settings) => settings.map((st) => __run(() => {
        const lam = MATH.nplinspace(-10, 10, 801);
        const p = { edm: { P_mean: st.P_mean, P_std: st.P_std }, sd3: { m: st.m, s: st.s }, min_snr: { gamma: st.gamma },
                    sigmoid: { b: st.b }, elbo: {} };
        return Object.fromEntries(["edm", "sd3", "min_snr", "sigmoid", "elbo"].map((n) => [n,
            { eff: __b64(MATH.effectiveWeighting(n, lam, p[n])), norm: __b64(MATH.normalised(n, lam, p[n])),
              dens: __b64(MATH.lambdaDensity(n, lam, p[n])) }]).concat([["lam", __b64(lam)]]));
    }))""", settings)
    lam = np.linspace(*O.LAMBDA_RANGE, 801)
    for st, res in zip(settings, results):
        assert "ok" in res, f"objectives at {st}: JavaScript failed: {res.get('error')}"
        compare("nplinspace", st, _decode(res["ok"]["lam"]), lam)
        params = {"edm": {"P_mean": st["P_mean"], "P_std": st["P_std"]}, "sd3": {"m": st["m"], "s": st["s"]},
                  "min_snr": {"gamma": st["gamma"]}, "sigmoid": {"b": st["b"]}, "elbo": {}}
        for name, p in params.items():
            compare(f"lambdaDensity({name})", st, _decode(res["ok"][name]["dens"]), O.lambda_density(name, lam, **p))
            compare(f"effectiveWeighting({name})", st, _decode(res["ok"][name]["eff"]), O.effective_weighting(name, lam, **p))
            compare(f"normalised({name})", st, _decode(res["ok"][name]["norm"]), O.normalised(name, lam, **p))


@pytest.mark.parametrize("view, settings", [
    ("schedule", list(schedule_settings())), ("weighting", list(weighting_settings())),
    ("objective", list(objective_settings())),
])
def test_every_readout_is_the_packages_character_for_character(page, view, settings):
    fn = {"schedule": "scheduleView", "weighting": "weightingView", "objective": "objectiveView"}[view]
    got = page.evaluate(f"""(settings) => settings.map((st) => {{
        try {{ return {fn}(st).readout; }} catch (e) {{ return "Cannot draw this: " + e.message; }}
    }})""", settings)
    make = {"schedule": W.ScheduleExplorer, "weighting": W.WeightingExplorer, "objective": W.ObjectiveExplorer}[view]
    for st, js in zip(settings, got):
        py = make(**st).readout_text
        assert js == py, f"{view} readout at {st}:\n  JavaScript {js!r}\n  package    {py!r}"


@pytest.mark.parametrize("formula, mutated, caught", [
    ("Math.min(v, p.gamma)), \"x0\"]", "Math.min(v, p.gamma * 1.000001)), \"x0\"]", "weightingCurves['Min-SNR-"),
    ("Math.exp(s.posterior_log_variance_clipped[1])", "Math.exp(s.posterior_log_variance_clipped[1]) * 1.000001",
     "weightingCurves['VLB, sigma^2 = beta-tilde']"),
    ("(1 + Math.exp(-l / 2)) ** 2", "(1 + Math.exp(-l / 2.0000001)) ** 2", "lambdaDensity(sd3)"),
])
def test_the_comparison_catches_a_changed_formula(browser, formula, mutated, caught):
    source = W.script()
    assert source.count(formula) == 1, formula
    page = _page(browser, source.replace(formula, mutated))
    try:
        with pytest.raises(AssertionError) as err:
            if "lambdaDensity" in caught:
                test_every_objective_curve_is_the_packages(page)
            else:
                test_every_weighting_density_and_effective_weight_is_the_packages(page)
        message = str(err.value)
        # the message names the function, the setting and the first index
        assert (caught in message or "effectiveWeighting(sd3)" in message or "normalised(sd3)" in message), message
        assert " at {" in message and "first difference at index" in message, message
    finally:
        page.close()


def test_the_pages_javascript_is_small_and_its_library_pinned():
    import hashlib
    sizes = {v: len(W.bundle(v).encode()) for v in W.VIEWS}
    site = len(W.bundle(None).encode())
    print(f"explorer modules: {sizes} bytes; the site's module {site} bytes; stylesheet {len(W.stylesheet().encode())} bytes")
    assert site <= 300_000 and max(sizes.values()) <= 300_000
    record = json.loads((W.STATIC / "vendor" / "vendor.json").read_text())
    assert record["package"] == "uplot" and record["license"] == "MIT" and record["integrity"].startswith("sha512-")
    for name, digest in record["files"].items():
        assert hashlib.sha256((W.STATIC / "vendor" / name).read_bytes()).hexdigest() == digest, name
    assert f"(v{record['version']})" in (W.STATIC / "vendor" / "uPlot.iife.min.js").read_text()[:80]
    assert "MIT License" in (W.STATIC / "vendor" / "LICENSE-uPlot.txt").read_text()

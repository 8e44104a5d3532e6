// ddpm-edu explorers: the closed forms of the package, computed in the page.
//
// Every function here mirrors one of ddpm_edu's (named beside it) and is tested against it on a grid of
// settings (tests/test_explorers_js.py, in headless Chromium): the same numbers to 1e-9, infinities and
// signs identical. Plain functions over Float64Array, no DOM, no network. Indexing follows the package:
// per-t arrays have length T + 1 and index t is step t (index 0 is the clean data).
//
// This file has no import or export: ddpm_edu/widgets.py puts the vendored uPlot, this file and one
// explorer's file into one ES module (uPlot is then the name `uPlot`).

"use strict";

// ------------------------------------------------------------------ numbers, printed as Python prints them
// JavaScript's toFixed and toExponential round a tie (an exact ...5) away from zero, Python to even: both are
// otherwise exact, so only ties need mending. The digits far past the last shown one tell a tie.
function pyRound(x, digits, mode) {               // x.toFixed(digits) or x.toExponential(digits), ties to even
  const put = (v, d) => (mode === "f" ? v.toFixed(d) : v.toExponential(d));
  const shown = put(x, digits), exact = put(x, Math.min(100, digits + 40));
  const [mant, exp] = mode === "f" ? [exact, null] : exact.split("e");
  const dot = mant.indexOf(".");
  if (dot < 0 || !/^50*$/.test(mant.slice(dot + 1 + digits))) return shown;       // not a tie
  const last = digits === 0 ? mant[dot - 1] : mant[dot + digits];
  if (parseInt(last, 10) % 2 === 1) return shown;                                   // odd: rounding up is right
  const kept = digits === 0 ? mant.slice(0, dot) : mant.slice(0, dot + 1 + digits); // even: keep it
  return exp === null ? kept : `${kept}e${exp}`;
}

function pyExp(x, digits) {                       // f"{x:.{digits}e}"
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  const [mant, exp] = pyRound(x, digits, "e").split("e");
  const sign = exp[0] === "-" ? "-" : "+";
  return `${Object.is(x, -0) ? "-" : ""}${mant}e${sign}${exp.replace(/^[+-]/, "").padStart(2, "0")}`;
}

function pyFixed(x, digits) {                     // f"{x:.{digits}f}"
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  return (Object.is(x, -0) ? "-" : "") + pyRound(x, digits, "f");
}

function pyG(x, precision = 6) {                  // f"{x:.{precision}g}" (f"{x:g}" is precision 6)
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const p = Math.max(precision, 1);
  const sci = pyRound(x, p - 1, "e");
  const exp = parseInt(sci.split("e")[1], 10);
  const strip = (t) => (t.includes(".") ? t.replace(/0+$/, "").replace(/\.$/, "") : t);
  if (exp < -4 || exp >= p) {
    const [mant, e] = sci.split("e");
    return `${strip(mant)}e${e[0] === "-" ? "-" : "+"}${e.replace(/^[+-]/, "").padStart(2, "0")}`;
  }
  return strip(pyRound(x, Math.max(0, p - 1 - exp), "f"));
}

function fmtNumber(x, digits = 3) {               // widgets.fmt_number
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const ax = Math.abs(x);
  if (ax >= 1e-2 && ax < 1e4) {
    const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(ax)));
    return pyRound(x, decimals, "f");
  }
  return pyExp(x, digits - 1);
}

// ------------------------------------------------------------------ arrays
function linspace(a, b, n) {                      // torch.linspace (float64): symmetric from both ends
  const out = new Float64Array(n);
  if (n === 1) { out[0] = a; return out; }
  const step = (b - a) / (n - 1), half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i);
  return out;
}

function nplinspace(a, b, n) {                    // numpy.linspace: arange(n) * step + a, the last value exactly b
  const out = new Float64Array(n), step = (b - a) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + a;
  out[n - 1] = b;
  return out;
}

function trapezoid(y, x) {                        // numpy.trapezoid
  let s = 0;
  for (let i = 1; i < y.length; i++) s += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return s;
}

function median(values) {                         // numpy.median
  const v = Float64Array.from(values).sort();
  const n = v.length, h = Math.floor(n / 2);
  return n % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

const sigmoid = (x) => 1 / (1 + Math.exp(-x));   // torch.sigmoid
const npSigmoid = (x) => 0.5 * (1 + Math.tanh(0.5 * x));   // objectives._sigmoid
function logaddexp(a, b) {                        // torch.logaddexp / numpy.logaddexp
  if (a === b) return a + Math.LN2;
  const m = Math.max(a, b);
  if (!Number.isFinite(m)) return m;
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}

// ------------------------------------------------------------------ schedules (ddpm_edu.schedules)
class ScheduleError extends Error {}

const TINY = 2.2250738585072014e-308;           // torch.finfo(torch.float64).tiny

function fromBetas(b, name) {                     // NoiseSchedule.from_betas: b = beta_1..beta_T
  const T = b.length;
  let sumLog = 0, maxB = -Infinity;
  for (let i = 0; i < T; i++) { sumLog += Math.log1p(-b[i]); maxB = Math.max(maxB, b[i]); }
  if (sumLog < Math.log(TINY) + 50) {
    throw new ScheduleError(`betas=${T} betas up to ${pyG(maxB, 3)} is not allowed: alpha-bar_T would underflow to ` +
      "0 in float64 (the chain destroys the data long before t = T): use smaller betas or fewer steps");
  }
  const n = T + 1;
  const s = { T, name, betas: new Float64Array(n), alphas: new Float64Array(n), alpha_bars: new Float64Array(n),
              one_minus_alpha_bars: new Float64Array(n), snr: new Float64Array(n), log_snr: new Float64Array(n),
              posterior_variance: new Float64Array(n), posterior_log_variance_clipped: new Float64Array(n) };
  let logAbar = 0;
  const logAbars = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const beta = t === 0 ? 0 : b[t - 1];
    if (t > 0) logAbar += Math.log1p(-beta);
    logAbars[t] = logAbar;
    s.betas[t] = beta;
    s.alphas[t] = 1 - beta;
    s.alpha_bars[t] = Math.exp(logAbar);
    s.one_minus_alpha_bars[t] = 0.0 - Math.expm1(logAbar);       // +0.0 at t = 0, never -0.0
    s.log_snr[t] = logAbar - Math.log(s.one_minus_alpha_bars[t]);  // +inf at t = 0
    s.snr[t] = Math.exp(s.log_snr[t]);
  }
  for (let t = 1; t < n; t++) s.posterior_variance[t] = s.betas[t] * s.one_minus_alpha_bars[t - 1] / s.one_minus_alpha_bars[t];
  if (T >= 2) {
    for (let t = 1; t < n; t++) s.posterior_log_variance_clipped[t] = Math.log(Math.max(s.posterior_variance[t], TINY));
    s.posterior_log_variance_clipped[1] = s.posterior_log_variance_clipped[2];
  } else {
    s.posterior_log_variance_clipped[1] = Math.log(s.betas[1]);
  }
  s.posterior_log_variance_clipped[0] = s.posterior_log_variance_clipped[1];
  return s;
}

function scheduleLinear(T, betaStart = 1e-4, betaEnd = 0.02) {       // NoiseSchedule.linear (Ho et al. 2020)
  return fromBetas(linspace(betaStart, betaEnd, T), "linear");
}

function scheduleScaledLinear(T, betaStart = 0.00085, betaEnd = 0.012) {   // NoiseSchedule.scaled_linear
  const root = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
  return fromBetas(root.map((r) => r ** 2), "scaled_linear");
}

function clippedBetas(abar, maxBeta) {            // beta_t = min(1 - abar_t / abar_{t-1}, max_beta)
  const T = abar.length - 1, b = new Float64Array(T);
  for (let t = 1; t <= T; t++) b[t - 1] = Math.min(1 - abar[t] / abar[t - 1], maxBeta);
  return b;
}

function scheduleCosine(T, s = 0.008, maxBeta = 0.999) {            // NoiseSchedule.cosine (Nichol & Dhariwal 2021, eq. 17)
  const f = new Float64Array(T + 1);
  for (let t = 0; t <= T; t++) f[t] = Math.cos((t / T + s) / (1 + s) * Math.PI / 2) ** 2;
  const b = clippedBetas(f.map((v) => v / f[0]), maxBeta);
  if (!b.every((v) => v > 0)) {
    throw new ScheduleError(`s=${pyRepr(s)} is not allowed: s this small gives a zero beta_1; use s >= 0 with T small ` +
      "enough that beta_1 > 0");
  }
  return fromBetas(b, "cosine");
}

function scheduleSigmoid(T, start = -3, end = 3, tau = 1, maxBeta = 0.999) {   // NoiseSchedule.sigmoid (Chen 2023)
  const vStart = sigmoid(start / tau), vEnd = sigmoid(end / tau), abar = new Float64Array(T + 1);
  for (let t = 0; t <= T; t++) {
    const u = t / T;
    abar[t] = Math.min(Math.max((vEnd - sigmoid((u * (end - start) + start) / tau)) / (vEnd - vStart), 1e-9), 1.0);
  }
  return fromBetas(clippedBetas(abar, maxBeta), "sigmoid");
}

function pyRepr(x) {                              // repr() of a float: the shortest digits, Python's layout
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const [mant, e] = x.toExponential().split("e");           // the shortest round-trip digits, as repr
  const exp = parseInt(e, 10), sign = x < 0 ? "-" : "", digits = mant.replace("-", "").replace(".", "");
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const whole = digits.padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${whole.slice(0, exp + 1)}.${frac || "0"}`;
}

function makeSchedule(kind, T, betaStart = 1e-4, betaEnd = 0.02, s = 0.008) {   // widgets.make_schedule
  if (kind === "linear") return scheduleLinear(T, betaStart, betaEnd);
  if (kind === "scaled_linear") return scheduleScaledLinear(T, betaStart, betaEnd);
  if (kind === "cosine") return scheduleCosine(T, s);
  return scheduleSigmoid(T);
}

// ------------------------------------------------------------------ weightings (ddpm_edu.weighting)
function mseMultiplier(s, space) {                // weighting.mse_multiplier: space-MSE = m * x0-MSE
  if (space === "x0") return new Float64Array(s.T + 1).fill(1);
  if (space === "eps") return Float64Array.from(s.snr);
  return s.snr.map((v) => 1 + v);
}

function nativeWeight(s, name, p) {               // weighting._simple, _vlb, _min_snr, _p2, _snr: (w, native space)
  const n = s.T + 1, w = new Float64Array(n);
  if (name === "simple") return [w.fill(1), "eps"];
  if (name === "vlb") {                           // Ho et al. 2020, eq. 12; beta-tilde clipped at t = 1
    for (let t = 1; t < n; t++) {
      if (p.sigma === "beta") w[t] = s.betas[t] / (2 * s.alphas[t] * s.one_minus_alpha_bars[t]);
      else {
        const sigma2 = t === 1 ? Math.exp(s.posterior_log_variance_clipped[1]) : s.posterior_variance[t];
        w[t] = s.betas[t] ** 2 / (2 * sigma2 * s.alphas[t] * s.one_minus_alpha_bars[t]);
      }
    }
    return [w, "eps"];
  }
  if (name === "min_snr") return [s.snr.map((v) => Math.min(v, p.gamma)), "x0"];      // Hang et al. 2023
  if (name === "p2") {                            // Choi et al. 2022, eq. 8: 1 / (k + SNR)^gamma, in logs
    const lk = Math.log(p.k);
    return [s.log_snr.map((l) => Math.exp(-p.gamma * logaddexp(lk, l))), "eps"];
  }
  return [Float64Array.from(s.snr), "x0"];        // SNR
}

function weight(s, name, space, p = {}) {         // weighting.weight: translate to space; index 0 holds 0
  const [w, native] = nativeWeight(s, name, p);
  const out = Float64Array.from(w);
  if (native !== space) {
    const ms = mseMultiplier(s, native), mt = mseMultiplier(s, space);
    for (let t = 1; t <= s.T; t++) out[t] = (w[t] * ms[t]) / mt[t];
  }
  out[0] = 0;
  for (let t = 1; t <= s.T; t++) {
    if (!Number.isFinite(out[t])) {
      throw new ScheduleError(`schedule=${scheduleRepr(s)} is not allowed: weighting '${name}' in ${space} space is ` +
        `${pyRepr(out[t])} at t = ${t} on this schedule (its SNR spans more than float64 can hold)`);
    }
  }
  return out.map((v) => v + 0.0);
}

function scheduleRepr(s) {                        // NoiseSchedule.__repr__
  return `NoiseSchedule(name='${s.name}', T=${s.T}, beta_1=${pyG(s.betas[1], 3)}, beta_T=${pyG(s.betas[s.T], 3)}, ` +
    `alpha_bar_T=${pyG(s.alpha_bars[s.T], 3)})`;
}

function normalize(w) {                           // weighting.normalize: divide by the mean over t = 1..T
  let sum = 0;
  for (let t = 1; t < w.length; t++) sum += w[t];
  const mean = sum / (w.length - 1), out = new Float64Array(w.length);
  for (let t = 1; t < w.length; t++) out[t] = w[t] / mean;
  return out;
}

function weightingCurves(s, space, gamma = 5, k = 1, p2Gamma = 1) {     // weighting.weighting_curves
  const specs = [["VLB, sigma^2 = beta", "vlb", { sigma: "beta" }], ["VLB, sigma^2 = beta-tilde", "vlb", { sigma: "beta_tilde" }],
                 ["simple", "simple", {}], [`Min-SNR-${pyG(gamma)}`, "min_snr", { gamma }],
                 [`P2 (k=${pyG(k)}, gamma=${pyG(p2Gamma)})`, "p2", { k, gamma: p2Gamma }], ["SNR", "snr", {}]];
  const out = {};
  for (const [label, name, p] of specs) out[label] = normalize(weight(s, name, space, p));
  return out;
}

function logSnrDensity(s) {                       // weighting.log_snr_density: 1 / (T |dlambda/dt|)
  const T = s.T, lam = s.log_snr.subarray(1), slope = new Float64Array(T), out = new Float64Array(T + 1);
  for (let i = 1; i < T - 1; i++) slope[i] = (lam[i + 1] - lam[i - 1]) / 2;
  slope[0] = lam[1] - lam[0];
  slope[T - 1] = lam[T - 1] - lam[T - 2];
  for (let i = 0; i < T; i++) out[i + 1] = 1 / (T * Math.abs(slope[i]));
  return out;
}

function ascendingOrder(v) {                      // numpy.argsort for a grid without ties: O(n) when it is monotone
  let up = true, down = true;
  for (let i = 1; i < v.length; i++) { if (v[i] <= v[i - 1]) up = false; if (v[i] >= v[i - 1]) down = false; }
  const idx = Array.from({ length: v.length }, (_, i) => i);
  if (up) return idx;
  if (down) return idx.reverse();
  return idx.sort((a, b) => v[a] - v[b]);
}

function effectiveWeights(s, curves) {            // weighting.effective_weights: (lambda, density, {label: effective})
  const lamAll = s.log_snr.subarray(1), densAll = logSnrDensity(s).subarray(1), T = s.T;
  const gaps = new Float64Array(T - 1);
  for (let i = 0; i < T - 1; i++) gaps[i] = Math.abs(lamAll[i + 1] - lamAll[i]);
  let keep = T;
  if (gaps.length >= 3 && gaps[gaps.length - 1] > 10 * median(gaps)) keep = T - 1;   // cosine's clipped last step
  const lam = lamAll.slice(0, keep), dens = densAll.slice(0, keep);
  const order = ascendingOrder(lam);
  const eff = {};
  for (const [label, w] of Object.entries(curves)) {
    const e = new Float64Array(keep);
    for (let i = 0; i < keep; i++) e[i] = w[i + 1] * dens[i];
    let area = 0;                                 // numpy.trapezoid over lambda in increasing order
    for (let j = 1; j < keep; j++) { const a = order[j - 1], b = order[j]; area += (lam[b] - lam[a]) * (e[b] + e[a]) / 2; }
    for (let i = 0; i < keep; i++) e[i] /= area;
    eff[label] = e;
  }
  return { lam, dens, eff };
}

// ------------------------------------------------------------------ objectives (ddpm_edu.objectives)
const LAMBDA_RANGE = [-10, 10];
let _linearLogSnr = null;
function linearLogSnr() {                         // objectives.linear_log_snr: DDPM's linear schedule, t = 1..1000
  if (_linearLogSnr === null) _linearLogSnr = Float64Array.from(scheduleLinear(1000).log_snr.subarray(1));
  return _linearLogSnr;
}

function searchsortedRight(a, v) {                // numpy.searchsorted(a, v, side="right")
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] <= v) lo = mid + 1; else hi = mid; }
  return lo;
}

function discreteDensity(lam) {                   // objectives._discrete_density
  const grid = linearLogSnr(), T = grid.length;
  const asc = Float64Array.from(grid).reverse();
  const densAsc = new Float64Array(T - 1);
  for (let k = 0; k < T - 1; k++) densAsc[T - 2 - k] = 1 / (T * (grid[k] - grid[k + 1]));
  return lam.map((l) => {
    if (!(l >= asc[0] && l <= asc[T - 1])) return 0;
    const i = Math.min(Math.max(searchsortedRight(asc, l) - 1, 0), T - 2);
    return densAsc[i];
  });
}

function cosineDensity(lam, s) {                  // objectives._cosine_density
  const f0 = Math.cos(s / (1 + s) * Math.PI / 2) ** 2;
  return lam.map((l) => {
    const u = Math.sqrt(f0 * npSigmoid(l));
    const dens = (1 + s) / Math.PI * u * npSigmoid(-l) / Math.sqrt(Math.max(1 - u * u, 1e-300));
    const t = (1 + s) * (2 / Math.PI) * Math.acos(Math.min(Math.max(u, 0), 1)) - s;
    const v = t >= 0 && t <= 1 ? dens : 0;
    return Number.isFinite(v) ? v + 0.0 : 0;
  });
}

const normalPdf = (x, mean, std) => Math.exp(-0.5 * ((x - mean) / std) ** 2) / (std * Math.sqrt(2 * Math.PI));

const OBJECTIVE_DEFAULTS = { edm: { P_mean: -1.2, P_std: 1.2, sigma_data: 0.5 }, sd3: { m: 0, s: 1 },
                             min_snr: { gamma: 5 }, sigmoid: { b: 0, s: 0.008 }, elbo: { s: 0.008 } };

function lambdaDensity(name, lam, p) {            // objectives.lambda_density (the explorer's five)
  p = { ...OBJECTIVE_DEFAULTS[name], ...p };
  if (name === "min_snr") return discreteDensity(lam);
  if (name === "elbo" || name === "sigmoid") return cosineDensity(lam, p.s);
  const out = name === "edm" ? lam.map((l) => normalPdf(l, -2 * p.P_mean, 2 * p.P_std))
                             : lam.map((l) => normalPdf(l, -2 * p.m, 2 * p.s));
  return out.map((v) => (Number.isFinite(v) ? v : 0) + 0.0);
}

function epsWeight(name, lam, p, dens) {          // objectives.eps_weight
  p = { ...OBJECTIVE_DEFAULTS[name], ...p };
  let out;
  if (name === "elbo") out = lam.map((l, i) => (dens[i] > 0 ? 1 / dens[i] : 0));
  else if (name === "sigmoid") out = lam.map((l, i) => (dens[i] > 0 ? npSigmoid(p.b - l) / dens[i] : 0));
  else if (name === "edm") out = lam.map((l) => 1 + Math.exp(-l) / p.sigma_data ** 2);
  else if (name === "sd3") out = lam.map((l) => (1 + Math.exp(-l / 2)) ** 2);
  else out = lam.map((l) => Math.min(1, p.gamma * Math.exp(-l)));      // min_snr
  return out.map((v) => (Number.isNaN(v) ? 0 : v) + 0.0);
}

function effectiveWeighting(name, lam, p = {}) {  // objectives.effective_weighting: p(lambda) w(lambda), 0 where p = 0
  const dens = lambdaDensity(name, lam, p), w = epsWeight(name, lam, p, dens);
  return dens.map((d, i) => (d > 0 ? d * (w[i] === Infinity ? 0 : w[i]) : 0) + 0.0);
}

function normalised(name, lam, p = {}) {          // objectives.normalised: integrates to 1 over the sorted grid
  const e = effectiveWeighting(name, lam, p);
  const area = trapezoid(e, lam);                 // the explorer's grid is increasing
  return e.map((v) => v / area);
}

// ------------------------------------------------------------------ the page: controls, readout, charts
const COLORS = { C0: "#1f77b4", C1: "#ff7f0e", C2: "#2ca02c", C3: "#d62728", C4: "#9467bd", C5: "#8c564b" };
const LOG_SNR_LABEL = "log-SNR \u03bb   (clean \u2190 | \u2192 noisy)";

let _uid = 0;
function uid(prefix) { _uid += 1; return `ddpm-edu-${prefix}-${_uid}`; }

function h(tag, attrs = {}, ...children) {      // a DOM element with attributes and children
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// A labelled control bound to one trait of the model. spec: {name, label, type: "range" | "logrange" |
// "select" | "radio", min, max, step, options, format}. Returns {node, set(value), input} ; onInput(value)
// is called on every input event with the new value (a number or a string).
function control(spec, value, onInput) {
  const id = uid(spec.name);
  if (spec.type === "select") {
    const input = h("select", { id, "aria-label": spec.label });
    for (const o of spec.options) input.append(h("option", { value: o, text: o }));
    input.value = value;
    input.addEventListener("input", (ev) => onInput(input.value, ev));
    const node = h("div", { class: "ddpm-edu-control" }, h("label", { for: id, text: spec.label }), input);
    return { node, input, set: (v) => { input.value = v; }, setDisabled: (d) => { input.disabled = d; } };
  }
  if (spec.type === "radio") {
    const group = h("fieldset", { class: "ddpm-edu-control ddpm-edu-radio" }, h("legend", { text: spec.label }));
    const inputs = spec.options.map((o) => {
      const r = h("input", { type: "radio", name: id, value: o, id: `${id}-${o}` });
      r.checked = o === value;
      r.addEventListener("input", (ev) => { if (r.checked) onInput(o, ev); });
      group.append(h("label", { for: `${id}-${o}` }, r, ` ${o}`));
      return r;
    });
    return { node: group, input: inputs[0], set: (v) => { for (const r of inputs) r.checked = r.value === v; },
             setDisabled: (d) => { for (const r of inputs) r.disabled = d; } };
  }
  const log = spec.type === "logrange";
  const toPos = (v) => (log ? Math.log10(v) : v), fromPos = (x) => (log ? 10 ** x : x);
  const input = h("input", { type: "range", id, min: spec.min, max: spec.max, step: spec.step, value: toPos(value) });
  const shown = h("output", { for: id, class: "ddpm-edu-value" });
  const show = (v) => { shown.textContent = spec.format ? spec.format(v) : String(v); };
  show(value);
  input.addEventListener("input", (ev) => {
    const steps = Math.round((parseFloat(input.value) - spec.min) / spec.step);
    let v = fromPos(spec.min + steps * spec.step);                  // exactly min + k * step, as ipywidgets
    if (spec.integer) v = Math.round(v);
    else v = parseFloat(v.toPrecision(12));
    show(v);
    onInput(v, ev);
  });
  const node = h("div", { class: "ddpm-edu-control" }, h("label", { for: id, text: spec.label }), input, shown);
  return { node, input, set: (v) => { input.value = toPos(v); show(v); }, setDisabled: (d) => { input.disabled = d; } };
}

// The common frame of an explorer: controls in rows, a readout a screen reader announces, the charts.
// draw(state) returns {readout, series} or throws a ScheduleError (shown in the readout; the charts keep
// their last picture). Times from an input event to the frame after the redraw go to window.__ddpmEduTimings.
function mountExplorer({ model, el: root }, { view, specs, rows, draw, disable }) {
  const state = {};
  for (const s of specs) state[s.name] = model.get(s.name);
  // JupyterLab would take the arrow keys for its own shortcuts (moving between cells): keep them for the controls
  const frame = h("div", { class: `ddpm-edu-explorer-live ddpm-edu-${view}`, "data-lm-suppress-shortcuts": "true" });
  frame.addEventListener("keydown", (ev) => {
    if (/^(Arrow|Page|Home$|End$)/.test(ev.key) && ev.target.matches("input, select")) ev.stopPropagation();
  });
  const readout = h("p", { class: "ddpm-edu-readout", role: "status", "aria-live": "polite" });
  const controls = {};
  let pending = null;
  const redraw = (ev) => {
    try {
      const out = draw(state);
      readout.textContent = out.readout;
      readout.classList.remove("ddpm-edu-error");
    } catch (err) {
      if (!(err instanceof ScheduleError)) throw err;
      readout.textContent = `Cannot draw this: ${err.message}`;
      readout.classList.add("ddpm-edu-error");
    }
    if (disable) for (const [name, off] of Object.entries(disable(state))) controls[name].setDisabled(off);
    frame.dataset.state = JSON.stringify(state);   // what is drawn now (the site test reads it)
    if (ev && ev.timeStamp !== undefined) {
      // from the input event to: the numbers and the readout (work), the charts drawn (uPlot draws in a microtask
      // queued before this one: drawn), and the next frame the browser paints (ms)
      const start = ev.timeStamp, work = performance.now() - start;
      queueMicrotask(() => {
        const drawn = performance.now() - start;
        requestAnimationFrame(() => {
          (window.__ddpmEduTimings = window.__ddpmEduTimings || []).push({ view, work, drawn, ms: performance.now() - start });
        });
      });
    }
  };
  for (const s of specs) {
    controls[s.name] = control(s, state[s.name], (v, ev) => {
      state[s.name] = v;
      redraw(ev);
      model.set(s.name, v);
      if (pending === null) {                     // sync to Python at most once a frame
        pending = requestAnimationFrame(() => { pending = null; model.save_changes(); });
      }
    });
  }
  const byName = Object.fromEntries(specs.map((s) => [s.name, s]));
  for (const row of rows) frame.append(h("div", { class: "ddpm-edu-row" }, ...row.map((n) => controls[n].node)));
  frame.append(readout);
  root.append(frame);
  const onChange = () => {                        // a trait set from Python (w.T = 500): redraw
    let changed = false;
    for (const s of specs) {
      const v = model.get(s.name);
      if (v !== state[s.name]) { state[s.name] = v; controls[s.name].set(v); changed = true; }
    }
    if (changed) redraw(null);
  };
  for (const s of specs) model.on(`change:${s.name}`, onChange);
  return { frame, readout, redraw, state, controls, byName,
           cleanup: () => { for (const s of specs) model.off(`change:${s.name}`, onChange); } };
}

function niceCeil(x) {                            // widgets.nice_ceil: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k >= x
  if (!(x > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= x * (1 - 1e-12)) return m * e;
  return 10 * e;
}

// A uPlot chart that fills its box and stays sharp: uPlot draws on a canvas scaled by devicePixelRatio, and
// its legend is a table under the plot, never over a curve. x data must increase; xReversed draws it
// right to left (the course's log-SNR axes: clean on the left).
function chart(parent, { title, xLabel, yLabel, series, yLog = false, xReversed = false, integerX = false,
                         yRange = null, yFrom0 = false, height = 300 }) {
  const box = h("div", { class: "ddpm-edu-chart" });
  parent.append(box);
  const width = () => Math.max(280, Math.floor(box.clientWidth || 440));
  const fmt = (u, v) => (v === null || v === undefined ? "" : fmtNumber(v));
  const yScale = { distr: yLog ? 3 : 1 };
  if (yRange) yScale.range = yRange;
  else if (yFrom0) yScale.range = (u, min, max) => [0, niceCeil((Number.isFinite(max) ? max : 1) * 1.05)];
  const tick = yLog ? (v) => (v >= 0.01 && v < 1e4 ? pyG(v, 3) : pyExp(v, 0)) : (v) => pyG(v, 4);
  const decades = (u, i, min, max) => {           // a log axis: one tick per decade, nothing in between
    const out = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
      const v = 10 ** e;
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
    }
    return out;
  };
  const opts = {
    title, width: width(), height,
    scales: { x: { time: false, dir: xReversed ? -1 : 1 }, y: yScale },
    axes: [{ label: xLabel, labelSize: 24, incrs: integerX ? [1, 2, 5, 10, 20, 50, 100, 200, 250, 500, 1000] : undefined,
             values: integerX ? (u, splits) => splits.map((v) => String(Math.round(v))) : (u, splits) => splits.map((v) => pyG(v, 4)) },
           { label: yLabel, labelSize: 24, size: 66, splits: yLog ? decades : undefined,
             values: (u, splits) => splits.map((v) => (v === null ? "" : tick(v))) }],
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    series: [{ label: xLabel, value: fmt },
             ...series.map((s) => ({ label: s.label, stroke: s.color, width: s.width || 1.6, dash: s.dash, alpha: s.alpha,
                                     points: { show: false }, value: fmt }))],
  };
  const plot = new uPlot(opts, [[], ...series.map(() => [])], box);
  // a chart ~450 CSS px wide: draw long series thinned to about 400 points (a point every pixel or so), keeping
  // every one of the first and last steps, where the curves turn fastest (t = 1, cosine's t = T)
  const setData = plot.setData.bind(plot);
  plot.setData = (data) => {
    const n = data[0].length;
    if (n <= 500) return setData(data);
    const step = Math.ceil(n / 400), keep = [];
    for (let i = 0; i < n; i++) if (i < 40 || i >= n - 10 || i % step === 0) keep.push(i);
    return setData(data.map((col) => keep.map((i) => col[i])));
  };
  if (typeof ResizeObserver !== "undefined") {
    new ResizeObserver(() => { const w = width(); if (Math.abs(w - plot.width) > 4) plot.setSize({ width: w, height }); }).observe(box);
  }
  return plot;
}

function setTitle(plot, text) {
  const node = plot.root.querySelector(".u-title");
  if (node && node.textContent !== text) node.textContent = text;
}

// Values a log axis cannot show (0, infinities) become gaps.
const forLog = (arr) => Array.from(arr, (v) => (v > 0 && Number.isFinite(v) ? v : null));

const MATH = { pyExp, pyFixed, pyG, pyRepr, fmtNumber, linspace, nplinspace, trapezoid, fromBetas, makeSchedule, scheduleLinear,
               scheduleScaledLinear, scheduleCosine, scheduleSigmoid, weight, weightingCurves, logSnrDensity,
               effectiveWeights, lambdaDensity, effectiveWeighting, normalised, linearLogSnr, ScheduleError };

// The loss weightings and their log-SNR density, computed in the page.
// Mirrors ddpm_edu.weighting: each function names its Python twin beside it, and tests/test_explorers_js.py holds
// every one to the package on a grid (1e-9) in headless Chromium. Change both together.
import { pyG, pyRepr } from "./format.js";
import { median, logaddexp } from "./arrays.js";
import { ScheduleError } from "./schedules.js";

// ------------------------------------------------------------------ weightings (ddpm_edu.weighting)
export function mseMultiplier(s, space) {                // weighting.mse_multiplier: space-MSE = m * x0-MSE
  if (space === "x0") return new Float64Array(s.T + 1).fill(1);
  if (space === "eps") return Float64Array.from(s.snr);
  return s.snr.map((v) => 1 + v);
}

export function nativeWeight(s, name, p) {               // weighting._simple, _vlb, _min_snr, _p2, _snr: (w, native space)
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

export function weight(s, name, space, p = {}) {         // weighting.weight: translate to space; index 0 holds 0
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

export function scheduleRepr(s) {                        // NoiseSchedule.__repr__
  return `NoiseSchedule(name='${s.name}', T=${s.T}, beta_1=${pyG(s.betas[1], 3)}, beta_T=${pyG(s.betas[s.T], 3)}, ` +
    `alpha_bar_T=${pyG(s.alpha_bars[s.T], 3)})`;
}

export function normalize(w) {                           // weighting.normalize: divide by the mean over t = 1..T
  let sum = 0;
  for (let t = 1; t < w.length; t++) sum += w[t];
  const mean = sum / (w.length - 1), out = new Float64Array(w.length);
  for (let t = 1; t < w.length; t++) out[t] = w[t] / mean;
  return out;
}

export function weightingCurves(s, space, gamma = 5, k = 1, p2Gamma = 1) {     // weighting.weighting_curves
  const specs = [["VLB, sigma^2 = beta", "vlb", { sigma: "beta" }], ["VLB, sigma^2 = beta-tilde", "vlb", { sigma: "beta_tilde" }],
                 ["simple", "simple", {}], [`Min-SNR-${pyG(gamma)}`, "min_snr", { gamma }],
                 [`P2 (k=${pyG(k)}, gamma=${pyG(p2Gamma)})`, "p2", { k, gamma: p2Gamma }], ["SNR", "snr", {}]];
  const out = {};
  for (const [label, name, p] of specs) out[label] = normalize(weight(s, name, space, p));
  return out;
}

export function logSnrDensity(s) {                       // weighting.log_snr_density: 1 / (T |dlambda/dt|)
  const T = s.T, lam = s.log_snr.subarray(1), slope = new Float64Array(T), out = new Float64Array(T + 1);
  for (let i = 1; i < T - 1; i++) slope[i] = (lam[i + 1] - lam[i - 1]) / 2;
  slope[0] = lam[1] - lam[0];
  slope[T - 1] = lam[T - 1] - lam[T - 2];
  for (let i = 0; i < T; i++) out[i + 1] = 1 / (T * Math.abs(slope[i]));
  return out;
}

export function ascendingOrder(v) {                      // numpy.argsort for a grid without ties: O(n) when it is monotone
  let up = true, down = true;
  for (let i = 1; i < v.length; i++) { if (v[i] <= v[i - 1]) up = false; if (v[i] >= v[i - 1]) down = false; }
  const idx = Array.from({ length: v.length }, (_, i) => i);
  if (up) return idx;
  if (down) return idx.reverse();
  return idx.sort((a, b) => v[a] - v[b]);
}

export function effectiveWeights(s, curves) {            // weighting.effective_weights: (lambda, density, {label: effective})
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


// The noise schedules, computed in the page.
// Mirrors ddpm_edu.schedules (NoiseSchedule): each function names its Python twin beside it, and tests/test_explorers_js.py holds
// every one to the package on a grid (1e-9) in headless Chromium. Change both together.
import { pyG, pyRepr } from "./format.js";
import { linspace, sigmoid } from "./arrays.js";

// ------------------------------------------------------------------ schedules (ddpm_edu.schedules)
export class ScheduleError extends Error {}

export const TINY = 2.2250738585072014e-308;           // torch.finfo(torch.float64).tiny

export function fromBetas(b, name) {                     // NoiseSchedule.from_betas: b = beta_1..beta_T
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

export function scheduleLinear(T, betaStart = 1e-4, betaEnd = 0.02) {       // NoiseSchedule.linear (Ho et al. 2020)
  return fromBetas(linspace(betaStart, betaEnd, T), "linear");
}

export function scheduleScaledLinear(T, betaStart = 0.00085, betaEnd = 0.012) {   // NoiseSchedule.scaled_linear
  const root = linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), T);
  return fromBetas(root.map((r) => r ** 2), "scaled_linear");
}

export function clippedBetas(abar, maxBeta) {            // beta_t = min(1 - abar_t / abar_{t-1}, max_beta)
  const T = abar.length - 1, b = new Float64Array(T);
  for (let t = 1; t <= T; t++) b[t - 1] = Math.min(1 - abar[t] / abar[t - 1], maxBeta);
  return b;
}

export function scheduleCosine(T, s = 0.008, maxBeta = 0.999) {            // NoiseSchedule.cosine (Nichol & Dhariwal 2021, eq. 17)
  const f = new Float64Array(T + 1);
  for (let t = 0; t <= T; t++) f[t] = Math.cos((t / T + s) / (1 + s) * Math.PI / 2) ** 2;
  const b = clippedBetas(f.map((v) => v / f[0]), maxBeta);
  if (!b.every((v) => v > 0)) {
    throw new ScheduleError(`s=${pyRepr(s)} is not allowed: s this small gives a zero beta_1; use s >= 0 with T small ` +
      "enough that beta_1 > 0");
  }
  return fromBetas(b, "cosine");
}

export function scheduleSigmoid(T, start = -3, end = 3, tau = 1, maxBeta = 0.999) {   // NoiseSchedule.sigmoid (Chen 2023)
  const vStart = sigmoid(start / tau), vEnd = sigmoid(end / tau), abar = new Float64Array(T + 1);
  for (let t = 0; t <= T; t++) {
    const u = t / T;
    abar[t] = Math.min(Math.max((vEnd - sigmoid((u * (end - start) + start) / tau)) / (vEnd - vStart), 1e-9), 1.0);
  }
  return fromBetas(clippedBetas(abar, maxBeta), "sigmoid");
}


export function makeSchedule(kind, T, betaStart = 1e-4, betaEnd = 0.02, s = 0.008) {   // widgets.make_schedule
  if (kind === "linear") return scheduleLinear(T, betaStart, betaEnd);
  if (kind === "scaled_linear") return scheduleScaledLinear(T, betaStart, betaEnd);
  if (kind === "cosine") return scheduleCosine(T, s);
  return scheduleSigmoid(T);
}


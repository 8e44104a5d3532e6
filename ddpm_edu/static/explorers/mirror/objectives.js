// Today's objectives as weighted ELBOs on one log-SNR axis, computed in the page.
// Mirrors ddpm_edu.objectives: each function names its Python twin beside it, and tests/test_explorers_js.py holds
// every one to the package on a grid (1e-9) in headless Chromium. Change both together.
import { trapezoid, sigmoid, npSigmoid } from "./arrays.js";
import { scheduleLinear } from "./schedules.js";

// ------------------------------------------------------------------ objectives (ddpm_edu.objectives)
export const LAMBDA_RANGE = [-10, 10];
let _linearLogSnr = null;
export function linearLogSnr() {                         // objectives.linear_log_snr: DDPM's linear schedule, t = 1..1000
  if (_linearLogSnr === null) _linearLogSnr = Float64Array.from(scheduleLinear(1000).log_snr.subarray(1));
  return _linearLogSnr;
}

export function searchsortedRight(a, v) {                // numpy.searchsorted(a, v, side="right")
  let lo = 0, hi = a.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid] <= v) lo = mid + 1; else hi = mid; }
  return lo;
}

export function discreteDensity(lam) {                   // objectives._discrete_density
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

export function cosineDensity(lam, s) {                  // objectives._cosine_density
  const f0 = Math.cos(s / (1 + s) * Math.PI / 2) ** 2;
  return lam.map((l) => {
    const u = Math.sqrt(f0 * npSigmoid(l));
    const dens = (1 + s) / Math.PI * u * npSigmoid(-l) / Math.sqrt(Math.max(1 - u * u, 1e-300));
    const t = (1 + s) * (2 / Math.PI) * Math.acos(Math.min(Math.max(u, 0), 1)) - s;
    const v = t >= 0 && t <= 1 ? dens : 0;
    return Number.isFinite(v) ? v + 0.0 : 0;
  });
}

export const normalPdf = (x, mean, std) => Math.exp(-0.5 * ((x - mean) / std) ** 2) / (std * Math.sqrt(2 * Math.PI));

export const OBJECTIVE_DEFAULTS = { edm: { P_mean: -1.2, P_std: 1.2, sigma_data: 0.5 }, sd3: { m: 0, s: 1 },
                             min_snr: { gamma: 5 }, sigmoid: { b: 0, s: 0.008 }, elbo: { s: 0.008 } };

export function lambdaDensity(name, lam, p) {            // objectives.lambda_density (the explorer's five)
  p = { ...OBJECTIVE_DEFAULTS[name], ...p };
  if (name === "min_snr") return discreteDensity(lam);
  if (name === "elbo" || name === "sigmoid") return cosineDensity(lam, p.s);
  const out = name === "edm" ? lam.map((l) => normalPdf(l, -2 * p.P_mean, 2 * p.P_std))
                             : lam.map((l) => normalPdf(l, -2 * p.m, 2 * p.s));
  return out.map((v) => (Number.isFinite(v) ? v : 0) + 0.0);
}

export function epsWeight(name, lam, p, dens) {          // objectives.eps_weight
  p = { ...OBJECTIVE_DEFAULTS[name], ...p };
  let out;
  if (name === "elbo") out = lam.map((l, i) => (dens[i] > 0 ? 1 / dens[i] : 0));
  else if (name === "sigmoid") out = lam.map((l, i) => (dens[i] > 0 ? npSigmoid(p.b - l) / dens[i] : 0));
  else if (name === "edm") out = lam.map((l) => 1 + Math.exp(-l) / p.sigma_data ** 2);
  else if (name === "sd3") out = lam.map((l) => (1 + Math.exp(-l / 2)) ** 2);
  else out = lam.map((l) => Math.min(1, p.gamma * Math.exp(-l)));      // min_snr
  return out.map((v) => (Number.isNaN(v) ? 0 : v) + 0.0);
}

export function effectiveWeighting(name, lam, p = {}) {  // objectives.effective_weighting: p(lambda) w(lambda), 0 where p = 0
  const dens = lambdaDensity(name, lam, p), w = epsWeight(name, lam, p, dens);
  return dens.map((d, i) => (d > 0 ? d * (w[i] === Infinity ? 0 : w[i]) : 0) + 0.0);
}

export function normalised(name, lam, p = {}) {          // objectives.normalised: integrates to 1 over the sorted grid
  const e = effectiveWeighting(name, lam, p);
  const area = trapezoid(e, lam);                 // the explorer's grid is increasing
  return e.map((v) => v / area);
}


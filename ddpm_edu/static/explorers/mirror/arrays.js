// Array helpers with the exact semantics of torch's and numpy's (linspace, trapezoid, sigmoid).
// Mirrors torch / numpy: each function names its Python twin beside it, and tests/test_explorers_js.py holds
// every one to the package on a grid (1e-9) in headless Chromium. Change both together.

// ------------------------------------------------------------------ arrays
export function linspace(a, b, n) {                      // torch.linspace (float64): symmetric from both ends
  const out = new Float64Array(n);
  if (n === 1) { out[0] = a; return out; }
  const step = (b - a) / (n - 1), half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i);
  return out;
}

export function nplinspace(a, b, n) {                    // numpy.linspace: arange(n) * step + a, the last value exactly b
  const out = new Float64Array(n), step = (b - a) / (n - 1);
  for (let i = 0; i < n; i++) out[i] = i * step + a;
  out[n - 1] = b;
  return out;
}

export function trapezoid(y, x) {                        // numpy.trapezoid
  let s = 0;
  for (let i = 1; i < y.length; i++) s += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return s;
}

export function median(values) {                         // numpy.median
  const v = Float64Array.from(values).sort();
  const n = v.length, h = Math.floor(n / 2);
  return n % 2 ? v[h] : (v[h - 1] + v[h]) / 2;
}

export const sigmoid = (x) => 1 / (1 + Math.exp(-x));   // torch.sigmoid
export const npSigmoid = (x) => 0.5 * (1 + Math.tanh(0.5 * x));   // objectives._sigmoid
export function logaddexp(a, b) {                        // torch.logaddexp / numpy.logaddexp
  if (a === b) return a + Math.LN2;
  const m = Math.max(a, b);
  if (!Number.isFinite(m)) return m;
  return m + Math.log1p(Math.exp(-Math.abs(a - b)));
}


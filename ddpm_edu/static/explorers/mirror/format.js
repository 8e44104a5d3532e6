// Numbers printed as Python prints them: the readouts must match the package's character for character.
// Mirrors ddpm_edu.widgets.fmt_number and Python's format(): each function names its Python twin beside it, and tests/test_explorers_js.py holds
// every one to the package on a grid (1e-9) in headless Chromium. Change both together.

// ------------------------------------------------------------------ numbers, printed as Python prints them
// JavaScript's toFixed and toExponential round a tie (an exact ...5) away from zero, Python to even: both are
// otherwise exact, so only ties need mending. The digits far past the last shown one tell a tie.
export function pyRound(x, digits, mode) {               // x.toFixed(digits) or x.toExponential(digits), ties to even
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

export function pyExp(x, digits) {                       // f"{x:.{digits}e}"
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  const [mant, exp] = pyRound(x, digits, "e").split("e");
  const sign = exp[0] === "-" ? "-" : "+";
  return `${Object.is(x, -0) ? "-" : ""}${mant}e${sign}${exp.replace(/^[+-]/, "").padStart(2, "0")}`;
}

export function pyFixed(x, digits) {                     // f"{x:.{digits}f}"
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  return (Object.is(x, -0) ? "-" : "") + pyRound(x, digits, "f");
}

export function pyG(x, precision = 6) {                  // f"{x:.{precision}g}" (f"{x:g}" is precision 6)
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

export function fmtNumber(x, digits = 3) {               // widgets.fmt_number
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const ax = Math.abs(x);
  if (ax >= 1e-2 && ax < 1e4) {
    const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(ax)));
    return pyRound(x, decimals, "f");
  }
  return pyExp(x, digits - 1);
}

export function pyRepr(x) {                              // repr() of a float: the shortest digits, Python's layout
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

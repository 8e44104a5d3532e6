// The page: a labelled control per declared control, the readout, the charts (uPlot), the explorer's frame.
import uPlot from "uplot";
import { pyExp, pyFixed, pyG, fmtNumber } from "./mirror/format.js";
import { ScheduleError } from "./mirror/schedules.js";

// ------------------------------------------------------------------ the page: controls, readout, charts
export const COLORS = { C0: "#1f77b4", C1: "#ff7f0e", C2: "#2ca02c", C3: "#d62728", C4: "#9467bd", C5: "#8c564b" };
export const LOG_SNR_LABEL = "log-SNR \u03bb   (clean \u2190 | \u2192 noisy)";

let _uid = 0;
export function uid(prefix) { _uid += 1; return `ddpm-edu-${prefix}-${_uid}`; }

export function h(tag, attrs = {}, ...children) {      // a DOM element with attributes and children
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// How a slider's value is printed beside it: a control's declared format, ["exp", digits], ["fixed", digits] or ["g"].
const FORMATS = { exp: (v, d) => pyExp(v, d), fixed: (v, d) => pyFixed(v, d), g: (v) => pyG(v) };

// A labelled control bound to one trait of the model. spec, as the widget declares it (widgets.Control.page):
// {name, label, type: "range" | "logrange" | "select" | "radio", min, max, step, integer, options, format}.
// Returns {node, set(value), input}; onInput(value) is called on every input event with the new value.
export function control(spec, value, onInput) {
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
  const show = (v) => { shown.textContent = spec.format ? FORMATS[spec.format[0]](v, spec.format[1]) : String(v); };
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

// The common frame of an explorer: controls in rows, a readout a screen reader announces, the charts. The
// controls are the ones the widget declares and sends (its synced trait _controls: each declared once, in Python).
// draw(state) returns {readout, series} or throws a ScheduleError (shown in the readout; the charts keep
// their last picture). Times from an input event to the frame after the redraw go to window.__ddpmEduTimings.
export function mountExplorer({ model, el: root }, { view, rows, draw, disable }) {
  const specs = model.get("_controls");
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

export function niceCeil(x) {                            // widgets.nice_ceil: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k >= x
  if (!(x > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= x * (1 - 1e-12)) return m * e;
  return 10 * e;
}

// A uPlot chart that fills its box and stays sharp: uPlot draws on a canvas scaled by devicePixelRatio, and
// its legend is a table under the plot, never over a curve. x data must increase; xReversed draws it
// right to left (the course's log-SNR axes: clean on the left).
export function chart(parent, { title, xLabel, yLabel, series, yLog = false, xReversed = false, integerX = false,
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

export function setTitle(plot, text) {
  const node = plot.root.querySelector(".u-title");
  if (node && node.textContent !== text) node.textContent = text;
}

// Values a log axis cannot show (0, infinities) become gaps.
export const forLog = (arr) => Array.from(arr, (v) => (v > 0 && Number.isFinite(v) ? v : null));

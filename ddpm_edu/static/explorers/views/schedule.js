// The schedule explorer (notebook 01): widgets.schedule_explorer's page side.
import { pyExp, pyFixed } from "../mirror/format.js";
import { makeSchedule } from "../mirror/schedules.js";
import { COLORS, h, mountExplorer, chart } from "../page.js";


function scheduleView(st) {                       // what the explorer draws and prints, from its controls
  const sched = makeSchedule(st.kind, st.T, st.beta_start, st.beta_end, st.s);
  const T = sched.T, t = new Float64Array(T), signal = new Float64Array(T), noise = new Float64Array(T);
  for (let i = 0; i < T; i++) {
    t[i] = i + 1;
    signal[i] = Math.sqrt(sched.alpha_bars[i + 1]);
    noise[i] = Math.sqrt(sched.one_minus_alpha_bars[i + 1]);
  }
  const logSnr = Float64Array.from(sched.log_snr.subarray(1));
  const cross = logSnr.findIndex((v) => v < 0);
  const readout = `${sched.name}, T = ${T}: alpha-bar_T = ${pyExp(sched.alpha_bars[T], 3)}, log-SNR from ` +
    `${pyFixed(logSnr[0], 2)} to ${pyFixed(logSnr[T - 1], 2)}` +
    (cross >= 0 ? `, signal = noise at t = ${cross + 1}` : ", signal never falls below noise");
  return { sched, t, signal, noise, logSnr, readout };
}

export function renderSchedule({ model, el }) {
  const charts = {};
  const ui = mountExplorer({ model, el }, {
    view: "schedule", rows: [["kind", "T"], ["beta_start", "beta_end", "s"]],
    disable: (st) => ({ beta_start: !["linear", "scaled_linear"].includes(st.kind),
                        beta_end: !["linear", "scaled_linear"].includes(st.kind), s: st.kind !== "cosine" }),
    draw: (st) => {
      const v = scheduleView(st);
      charts.sig.setData([v.t, v.signal, v.noise]);
      charts.snr.setData([v.t, v.logSnr]);
      return v;
    },
  });
  const area = h("div", { class: "ddpm-edu-charts" });
  ui.frame.append(area);
  charts.sig = chart(area, { title: "what x_t is made of", xLabel: "t", yLabel: "coefficient in x_t", integerX: true,
                             yRange: [-0.03, 1.03],
                             series: [{ label: "signal \u221a\u0101_t", color: COLORS.C0, width: 1.8 },
                                      { label: "noise \u221a(1 \u2212 \u0101_t)", color: COLORS.C3, width: 1.8, dash: [8, 4] }] });
  charts.snr = chart(area, { title: "log signal-to-noise ratio", xLabel: "t", yLabel: "log-SNR_t", integerX: true,
                             series: [{ label: "log-SNR_t", color: COLORS.C2, width: 1.8 }] });
  ui.redraw(null);
  return ui.cleanup;
}

// The weighting explorer (notebook 03): widgets.weighting_explorer's page side.
import { pyG, fmtNumber } from "../mirror/format.js";
import { makeSchedule } from "../mirror/schedules.js";
import { weightingCurves, ascendingOrder, effectiveWeights } from "../mirror/weighting.js";
import { COLORS, LOG_SNR_LABEL, h, mountExplorer, chart, setTitle, forLog } from "../page.js";

// one look per weighting, as plotting.WEIGHTING_STYLES
const WEIGHTING_LOOK = [
  { label: "VLB, \u03c3\u00b2 = \u03b2", color: COLORS.C0, width: 1.6 },
  { label: "VLB, \u03c3\u00b2 = \u03b2\u0303", color: COLORS.C1, width: 1.6, dash: [10, 4] },
  { label: "simple", color: COLORS.C2, width: 4, alpha: 0.45 },
  { label: "Min-SNR-\u03b3", color: COLORS.C3, width: 1.6 },
  { label: "P2 (k, \u03b3_P2)", color: COLORS.C4, width: 1.6, dash: [8, 4, 2, 4] },
  { label: "SNR", color: COLORS.C5, width: 2.4, dash: [2, 4] },
];

function weightingView(st) {
  const sched = makeSchedule(st.kind, st.T);
  const curves = weightingCurves(sched, st.space, st.gamma, st.k, st.p2_gamma);
  const { lam, dens, eff } = effectiveWeights(sched, curves);
  const T = sched.T, vlb = curves["VLB, sigma^2 = beta"].subarray(1);
  let hi = -Infinity, lo = Infinity, nEqual = 0;
  for (const v of vlb) { hi = Math.max(hi, v); lo = Math.min(lo, v); }
  for (let t = 1; t <= T; t++) if (sched.snr[t] <= st.gamma) nEqual += 1;
  const readout = `${sched.name}, T = ${T}, ${st.space} space: VLB weight (sigma^2 = beta) lambda_1 / lambda_T = ` +
    `${fmtNumber(vlb[0] / vlb[T - 1])}, largest / smallest over t = ${fmtNumber(hi / lo)}; Min-SNR-${pyG(st.gamma)} ` +
    `equals simple (in eps space) for the ${nEqual} steps with SNR <= ${pyG(st.gamma)}; P2 k = ${pyG(st.k)}, ` +
    `gamma = ${pyG(st.p2_gamma)}`;
  return { sched, curves, lam, dens, eff, readout };
}

export function renderWeighting({ model, el }) {
  const charts = {};
  let axis = null;
  const area = h("div", { class: "ddpm-edu-charts" });
  const makeLeft = (byT) => {
    if (charts.w) charts.w.destroy();
    const box = h("div", { class: "ddpm-edu-chart-slot" });
    area.prepend(box);
    if (charts.wSlot) charts.wSlot.remove();
    charts.wSlot = box;
    charts.w = chart(box, { title: "weights on the MSE", xLabel: byT ? "t" : LOG_SNR_LABEL,
                            yLabel: "weight / its own mean over t", yLog: true, integerX: byT, xReversed: !byT,
                            series: WEIGHTING_LOOK });
  };
  const ui = mountExplorer({ model, el }, {
    view: "weighting", rows: [["kind", "T"], ["space", "axis"], ["gamma", "k", "p2_gamma"]],
    draw: (st) => {
      const v = weightingView(st);                                   // throws before anything is redrawn
      if (st.axis !== axis) { axis = st.axis; makeLeft(axis === "t"); }
      const x = axis === "t" ? Float64Array.from({ length: v.sched.T }, (_, i) => i + 1) : v.sched.log_snr.subarray(1);
      const order = axis === "t" ? null : Array.from(x.keys()).reverse();       // uPlot wants x increasing
      const xs = order ? Float64Array.from(order, (i) => x[i]) : x;
      charts.w.setData([xs, ...Object.values(v.curves).map((c) => forLog(order ? order.map((i) => c[i + 1]) : c.subarray(1)))]);
      const back = ascendingOrder(v.lam);
      charts.eff.setData([Float64Array.from(back, (i) => v.lam[i]),
                          ...Object.values(v.eff).map((e) => Float64Array.from(back, (i) => e[i])),
                          Float64Array.from(back, (i) => v.dens[i])]);
      setTitle(charts.w, `weights on the ${st.space}-MSE (${v.sched.name} schedule)`);
      return v;
    },
  });
  ui.frame.append(area);
  charts.eff = chart(area, { title: "where each objective spends its effort", xLabel: LOG_SNR_LABEL,
                             yLabel: "weight \u00d7 density (normalised)", xReversed: true, yFrom0: true,
                             series: [...WEIGHTING_LOOK, { label: "density of log-SNR, uniform t", color: "#000",
                                                           width: 1.2, dash: [6, 4] }] });
  ui.redraw(null);
  return ui.cleanup;
}

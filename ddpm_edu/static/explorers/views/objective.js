// The objective explorer (notebook 07): widgets.objective_explorer's page side.
import { pyFixed } from "../mirror/format.js";
import { nplinspace, trapezoid } from "../mirror/arrays.js";
import { LAMBDA_RANGE, normalised } from "../mirror/objectives.js";
import { COLORS, LOG_SNR_LABEL, h, mountExplorer, chart } from "../page.js";

const EXPLORED = [["edm", "EDM", COLORS.C0], ["sd3", "SD3 (logit-normal t)", COLORS.C1],
                  ["min_snr", "Min-SNR-\u03b3", COLORS.C3], ["sigmoid", "sigmoid(b \u2212 \u03bb)", COLORS.C4]];
const PLAIN = { edm: "EDM", sd3: "SD3", min_snr: "Min-SNR", sigmoid: "sigmoid" };

function objectiveView(st) {
  const lam = nplinspace(LAMBDA_RANGE[0], LAMBDA_RANGE[1], 801);
  const params = { edm: { P_mean: st.P_mean, P_std: st.P_std }, sd3: { m: st.m, s: st.s }, min_snr: { gamma: st.gamma },
                   sigmoid: { b: st.b } };
  const curves = {}, stats = [];
  for (const [name] of EXPLORED) {
    const e = normalised(name, lam, params[name]);
    curves[name] = e;
    let best = 0;
    for (let i = 1; i < e.length; i++) if (e[i] > e[best]) best = i;
    stats.push(`${PLAIN[name]}: mode ${pyFixed(lam[best], 1)}, mean ${pyFixed(trapezoid(lam.map((l, i) => l * e[i]), lam), 1)}`);
  }
  const elbo = normalised("elbo", lam);
  return { lam, curves, elbo, readout: "lambda of each objective's mass (clean = high): " + stats.join("; ") };
}

export function renderObjective({ model, el }) {
  let plot = null;
  const ui = mountExplorer({ model, el }, {
    view: "objective", rows: [["P_mean", "P_std", "m", "s"], ["gamma", "b"]],
    draw: (st) => {
      const v = objectiveView(st);
      plot.setData([v.lam, ...EXPLORED.map(([name]) => v.curves[name]), v.elbo]);
      return v;
    },
  });
  const area = h("div", { class: "ddpm-edu-charts ddpm-edu-wide" });
  ui.frame.append(area);
  plot = chart(area, { title: "effective weighting of each objective", xLabel: LOG_SNR_LABEL,
                       yLabel: "p(\u03bb) w(\u03bb), normalised", xReversed: true, yFrom0: true, height: 340,
                       series: [...EXPLORED.map(([, label, color]) => ({ label, color, width: 1.8 })),
                                { label: "ELBO (flat)", color: "#000", width: 1.2, dash: [8, 4] }] });
  ui.redraw(null);
  return ui.cleanup;
}

// The course site: each explorer's output holds its state (data-state) and its declared controls (data-controls)
// beside a static picture; this mounts the live explorer from them, with no kernel and no request off the site. A model with anywidget's
// interface (get, set, on, off, save_changes) holds the state in the page.

import { renderSchedule } from "./views/schedule.js";
import { renderWeighting } from "./views/weighting.js";
import { renderObjective } from "./views/objective.js";

const RENDER = { schedule: renderSchedule, weighting: renderWeighting, objective: renderObjective };

function pageModel(state) {
  const listeners = {};
  return {
    get: (name) => state[name],
    set: (name, value) => { state[name] = value; },
    save_changes: () => {},
    on: (event, callback) => { (listeners[event] = listeners[event] || []).push(callback); },
    off: (event, callback) => { listeners[event] = (listeners[event] || []).filter((c) => c !== callback); },
  };
}

function mountAll(root = document) {
  for (const node of root.querySelectorAll(".ddpm-edu-explorer[data-view]")) {
    if (node.dataset.mounted || !RENDER[node.dataset.view]) continue;
    const host = document.createElement("div");
    host.className = "ddpm-edu-explorer-host";
    node.before(host);
    const state = { ...JSON.parse(node.dataset.state), _controls: JSON.parse(node.dataset.controls) };
    RENDER[node.dataset.view]({ model: pageModel(state), el: host });
    node.hidden = true;                          // the picture stays in the page for a reader without JavaScript
    node.dataset.mounted = "1";
  }
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mountAll());
  else mountAll();
}

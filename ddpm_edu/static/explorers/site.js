// The course site: each explorer's output holds its state (data-state) beside a static picture; this mounts
// the live explorer from that state, with no kernel and no request off the site. A model with anywidget's
// interface (get, set, on, off, save_changes) holds the state in the page.

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
    RENDER[node.dataset.view]({ model: pageModel(JSON.parse(node.dataset.state)), el: host });
    node.hidden = true;                          // the picture stays in the page for a reader without JavaScript
    node.dataset.mounted = "1";
  }
}

if (typeof document !== "undefined") {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => mountAll());
  else mountAll();
}

// progressive dashboard: the list of Rollouts and the page of one, drawn from the
// server's event streams.  Everything that comes from the cluster goes into the
// document as text (text nodes, attribute values), never as markup.  The icons are
// `get rollout`'s, but for two that common fonts lack (‖ Paused, ▣ ReplicaSet).
"use strict";

const ICONS = {
  Healthy: "✔", Successful: "✔", Progressing: "◌", Running: "◌", Pending: "◌",
  Paused: "‖", Degraded: "✖", Failed: "✖", Error: "⚠", Inconclusive: "?", ScaledDown: "•",
};
const KINDS = {
  Rollout: "⟳", Revision: "#", ReplicaSet: "▣", Pod: "□", Experiment: "Σ", AnalysisRun: "α", Job: "⊞",
};
// The buttons: [action, label, needs a second click ("Sure?")].
const ACTIONS = [
  ["promote", "Promote", false],
  ["promote-full", "Promote full", true],
  ["abort", "Abort", true],
  ["retry", "Retry", false],
  ["pause", "Pause", false],
  ["resume", "Resume", false],
  ["restart", "Restart", true],
  ["undo", "Undo", true],
];

// h("td", {class: "num"}, "text", child...): an element; strings become text nodes.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    el.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === "") continue;
    el.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) el.setAttribute(key, String(value));
  for (const child of children) el.append(typeof child === "string" ? child : child);
  return el;
}

function status(word) {
  const shown = word || "Unknown";
  return h("span", { class: "status " + shown.replace(/[^A-Za-z]/g, ""), "data-status": shown },
    (ICONS[shown] || "?") + " " + shown);
}

function rolloutHref(namespace, name) {
  return "/rollouts/" + encodeURIComponent(namespace) + "/" + encodeURIComponent(name);
}

function pauseText(pause) {
  if (!pause) return "";
  let text = pause.reason;
  if (pause.until) text += " until " + pause.until + " (" + pause.left + " left)";
  return text;
}

let toastTimer = null;
function toast(text, isError) {
  const box = document.getElementById("toast");
  box.textContent = text;
  box.className = "show" + (isError ? " error" : "");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.className = ""; }, isError ? 8000 : 4000);
}

function setLive(on) {
  const live = document.getElementById("live");
  live.textContent = on ? "live" : "reconnecting";
  live.className = "live " + (on ? "on" : "off");
}

// An EventSource whose messages are JSON snapshots; the browser reconnects by itself.
function follow(url, draw) {
  const source = new EventSource(url);
  source.onopen = () => setLive(true);
  source.onerror = () => setLive(false);
  source.onmessage = (event) => draw(JSON.parse(event.data));
  return source;
}

function replace(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
}

// -- the list --------------------------------------------------------------------------

function listPage() {
  const main = document.getElementById("main");
  const params = new URLSearchParams(location.search);
  const title = h("h1", {}, "Rollouts");
  const filter = h("span", {});
  const table = h("div", {});
  replace(main, title, filter, table);
  const query = params.get("namespace") ? "?namespace=" + encodeURIComponent(params.get("namespace")) : "";
  follow("/api/stream" + query, (data) => {
    replace(document.getElementById("where"),
      data.namespace ? "namespace " + data.namespace : "all namespaces");
    if (data.allNamespaces) {
      const select = h("select", { id: "namespace" }, h("option", { value: "" }, "all namespaces"),
        data.namespaces.map((ns) => h("option", { value: ns, selected: ns === data.namespace }, ns)));
      select.onchange = () => {
        location.search = select.value ? "?namespace=" + encodeURIComponent(select.value) : "";
      };
      replace(filter, h("label", {}, "Namespace ", select));
    }
    if (!data.rollouts.length) {
      replace(table, h("p", { class: "muted" }, "No rollouts here."));
      return;
    }
    const head = h("tr", {}, ["Namespace", "Name", "Strategy", "Status", "Step", "Set weight",
      "Actual weight", "Available", "Age", "Message"].map((c) => h("th", {}, c)));
    const rows = data.rollouts.map((r) => h("tr", { "data-rollout": r.namespace + "/" + r.name },
      h("td", {}, r.namespace),
      h("td", {}, h("a", { href: rolloutHref(r.namespace, r.name) }, r.name)),
      h("td", {}, r.strategy),
      h("td", {}, status(r.status)),
      h("td", { class: "num" }, r.step || ""),
      h("td", { class: "num" }, r.setWeight === undefined ? "" : r.setWeight),
      h("td", { class: "num", title: r.weightNote || null }, r.actualWeight === undefined ? "" : r.actualWeight),
      h("td", { class: "num" }, r.replicas.available + "/" + r.replicas.desired),
      h("td", {}, r.age),
      h("td", { class: "message" }, r.pause ? pauseText(r.pause) : r.message)));
    replace(table, h("table", { id: "rollouts" }, h("thead", {}, head), h("tbody", {}, rows)));
  });
}

// -- one Rollout -----------------------------------------------------------------------

function treeNode(node) {
  const children = node.children || [];
  const line = [h("span", { class: "kind" }, KINDS[node.kind] || ""), " ", node.name];
  if (node.status) line.push(" ", status(node.status));
  if (node.info) line.push(h("span", { class: "info" }, node.info));
  if (node.age) line.push(h("span", { class: "info" }, node.age));
  return h("li", { "data-kind": node.kind }, line,
    children.length ? h("ul", {}, children.map(treeNode)) : null);
}

function plot(metric) {
  const points = metric.measurements.filter((m) => m.number !== null && m.t !== null);
  if (!points.length) {
    const values = metric.measurements.map((m) => (m.value === null ? m.phase : m.value));
    return h("p", { class: "muted" }, values.length ? values.join(", ") : "no measurements yet");
  }
  const width = 420, height = 140, left = 44, right = 8, top = 10, bottom = 22;
  const ts = points.map((p) => p.t), vs = points.map((p) => p.number);
  let t0 = Math.min(...ts), t1 = Math.max(...ts), v0 = Math.min(...vs), v1 = Math.max(...vs);
  if (t1 === t0) { t0 -= 1; t1 += 1; }
  if (v1 === v0) { v0 -= Math.abs(v0) * 0.1 || 1; v1 += Math.abs(v1) * 0.1 || 1; }
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - (v - v0) / (v1 - v0)) * (height - top - bottom);
  const chart = svg("svg", { class: "plot", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": metric.name + " over time" });
  chart.append(svg("text", { class: "axis", x: 2, y: top + 8 }, String(+v1.toPrecision(4))));
  chart.append(svg("text", { class: "axis", x: 2, y: height - bottom }, String(+v0.toPrecision(4))));
  chart.append(svg("text", { class: "axis", x: left, y: height - 6 }, points[0].time || ""));
  if (points.length > 1) {
    chart.append(svg("text", { class: "axis", x: width - right, y: height - 6, "text-anchor": "end" },
      points[points.length - 1].time || ""));
  }
  chart.append(svg("polyline", { class: "line",
    points: points.map((p) => x(p.t).toFixed(1) + "," + y(p.number).toFixed(1)).join(" ") }));
  for (const p of points) {
    const dot = svg("circle", { class: p.phase, cx: x(p.t).toFixed(1), cy: y(p.number).toFixed(1), r: 3.5 });
    dot.append(svg("title", {}, (p.time || "") + ": " + (p.value || "") + " " + p.phase +
      (p.message ? " (" + p.message + ")" : "")));
    chart.append(dot);
  }
  return chart;
}

function runBox(run) {
  return h("div", { class: "run", "data-run": run.name },
    h("div", {}, h("span", { class: "kind" }, KINDS.AnalysisRun), " ", h("strong", {}, run.name), " ",
      status(run.phase), run.revision ? h("span", { class: "info" }, "revision " + run.revision) : null,
      h("span", { class: "info" }, run.age)),
    run.message ? h("p", { class: "message" }, run.message) : null,
    h("div", { class: "metrics" }, run.metrics.map((m) => h("div", { class: "metric", "data-metric": m.name },
      h("div", {}, m.name, " ", status(m.phase)),
      m.message ? h("div", { class: "message" }, m.message) : null,
      plot(m)))));
}

function actionsBar(namespace, name) {
  const bar = h("div", { class: "actions", id: "actions" });
  for (const [action, label, confirm] of ACTIONS) {
    const button = h("button", { type: "button", id: "action-" + action, class: confirm ? "danger" : null }, label);
    let armed = null;
    button.onclick = async () => {
      if (confirm && !armed) {
        button.textContent = "Sure? " + label;
        button.classList.add("sure");
        armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove("sure"); }, 4000);
        return;
      }
      clearTimeout(armed);
      armed = null;
      button.textContent = label;
      button.classList.remove("sure");
      button.disabled = true;
      try {
        const response = await fetch(
          "/api/rollouts/" + encodeURIComponent(namespace) + "/" + encodeURIComponent(name) + "/" + action,
          { method: "POST", headers: { "X-Progressive-Dashboard": "1" } });
        const body = await response.json();
        toast(response.ok ? body.message : body.error, !response.ok);
      } catch (error) {
        toast(String(error), true);
      } finally {
        button.disabled = false;
      }
    };
    bar.append(button);
  }
  return bar;
}

function rolloutPage(namespace, name) {
  const main = document.getElementById("main");
  replace(document.getElementById("where"), "namespace " + namespace);
  const header = h("div", {});
  const sections = {};
  for (const key of ["summary", "steps", "tree", "runs", "events"]) sections[key] = h("section", { id: key });
  replace(main, header, actionsBar(namespace, name), Object.values(sections));
  follow("/api/stream/" + encodeURIComponent(namespace) + "/" + encodeURIComponent(name), (data) => {
    document.title = name + " · progressive";
    if (data.gone) {
      replace(header, h("h1", {}, name), h("p", { class: "muted", id: "gone" }, "This Rollout is gone."));
      for (const section of Object.values(sections)) replace(section);
      return;
    }
    replace(header, h("h1", {}, h("span", { id: "name" }, data.name), " ", h("span", { id: "status" }, status(data.status))),
      data.message ? h("p", { class: "message", id: "message" }, data.message) : null);
    const facts = [["Strategy", data.strategy]];
    if (data.step) facts.push(["Step", data.step]);
    if (data.setWeight !== undefined) facts.push(["Set weight", data.setWeight + "%"]);
    if (data.actualWeight !== undefined) {
      facts.push(["Actual weight", data.actualWeight + "%" + (data.weightNote ? " (" + data.weightNote + ")" : "")]);
    }
    if (data.pause) facts.push(["Paused", pauseText(data.pause)]);
    for (const image of data.images) facts.push(["Image", image.image + (image.roles.length ? " (" + image.roles.join(", ") + ")" : "")]);
    const r = data.replicas;
    facts.push(["Replicas", `desired ${r.desired}, current ${r.current}, updated ${r.updated}, ready ${r.ready}, available ${r.available}`]);
    facts.push(["Age", data.age]);
    replace(sections.summary, h("dl", { class: "grid" }, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { "data-fact": k }, v)])));
    replace(sections.steps, data.steps.length ? [h("h2", {}, "Steps"),
      h("ol", { class: "steps", start: 0 }, data.steps.map((s) => h("li", { class: s.state }, s.text)))] : null);
    replace(sections.tree, h("h2", {}, "Revisions"), h("ul", { class: "tree" }, (data.tree.children || []).map(treeNode)));
    replace(sections.runs, data.analysisRuns.length ? [h("h2", {}, "Analysis runs"), data.analysisRuns.map(runBox)] : null);
    const rows = data.events.map((e) => h("tr", { class: e.type },
      h("td", { class: "type" }, e.type), h("td", {}, e.reason), h("td", { class: "message" }, e.message),
      h("td", { class: "num" }, e.count > 1 ? "×" + e.count : ""), h("td", {}, e.age)));
    replace(sections.events, h("h2", {}, "Events"), rows.length
      ? h("table", { id: "events" }, h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No events."));
  });
}

function route() {
  const parts = location.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "rollouts" && parts.length === 3) rolloutPage(parts[1], parts[2]);
  else listPage();
}

document.addEventListener("DOMContentLoaded", route);

// The national dashboard: one snapshot from /api/tables, then live changes from /api/events (SSE).
// Plain DOM + Chart.js (vendored); no build step. Rows are the worker's national table rows as JSON:
// ratios as decimal strings ("0.9512"), money as yuan strings ("12345.67"), counts as numbers.
"use strict";

const NATIONAL = "000000";
const SHORT_ITEM = {
  PROVINCIAL_PLAN_ISSUED: "规划", TARGET_RESPONSIBILITY_ASSESSMENT: "考核", ONE_OLD_ONE_SMALL_SOLUTION: "一老一小",
  FACILITY_AREA_STANDARD: "面积标准", SMART_COMMUNITY_PILOT: "智慧社区",
};
const SOURCE_NAME = {
  SPECIAL_BOND: "专项债 special bonds", CENTRAL_BUDGET: "中央预算内 central budget",
  PROVINCIAL_FISCAL: "省级财政 provincial", SOCIAL_CAPITAL: "社会资本 social capital",
};
const TYPE_NAME = {
  TARGET_MET: "达标", TARGET_AT_RISK: "预警", POLICY_ITEM_COMPLETED: "政策完成",
  ANOMALY_DISBURSED_EXCEEDS_ALLOCATED: "超拨异常", ANOMALY_AREA_BELOW_STANDARD: "面积不达标",
  OBLIGATION_MISSED: "未报送", OBLIGATION_MET_LATE: "迟报", REJECTION_BURST: "退回激增",
};

const SUBJECT_NAME = {
  "coverage.urban_met": "城市覆盖率 urban coverage", "coverage.rural_met": "农村覆盖率 rural coverage",
  "facilities.floor_area_met": "面积标准 m²/100 households", "funding.consistent": "资金一致 funding consistency",
  "policy.solution_met": "一老一小方案 solutions", "services.big_city_care_met": "大城市托育养老 big-city care",
  "services.visit_met": "月探访率 monthly visits", "obligations.met": "按时报送 reporting on time",
};
const FILTERS = {
  all: () => true,
  target: (t) => t === "TARGET_MET" || t === "TARGET_AT_RISK",
  policy: (t) => t === "POLICY_ITEM_COMPLETED",
  anomaly: (t) => t.startsWith("ANOMALY") || t === "REJECTION_BURST",
  report: (t) => t.startsWith("OBLIGATION"),
};

const state = { ref: null, tables: {}, notes: [], noteIds: new Set(), version: 0, charts: {}, dirty: false,
  filter: "all" };

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
  }
  for (const kid of kids) node.append(kid);
  return node;
};
const num = (v) => (v === null || v === undefined || v === "" ? null : Number(v));
const pct = (v, digits = 1) => (num(v) === null ? "–" : (num(v) * 100).toFixed(digits) + "%");
const yi = (yuan) => (num(yuan) === null ? "–" : (num(yuan) / 1e8).toFixed(2));
const row = (table, code) => (state.tables[table] || {})[code];
const provinceName = (code) => {
  if (code === NATIONAL) return "全国 National";
  const p = state.ref && state.ref.provinces.find((x) => x.code === code);
  return p ? p.name_zh : code;
};

function barCell(ratio, met, targetRatio) {
  const v = num(ratio);
  const wrap = el("div", { class: "cell-bar" });
  const bar = el("div", { class: "bar" });
  const fill = el("i", { class: v === null ? "" : met ? "ok" : "warn" });
  fill.style.width = v === null ? "0" : Math.min(100, v * 100) + "%";
  bar.append(fill);
  if (targetRatio !== undefined && targetRatio !== null) {
    const t = el("b", { class: "target" });
    t.style.left = Math.min(99.5, num(targetRatio) * 100) + "%";
    bar.append(t);
  }
  wrap.append(bar, el("span", { class: v === null ? "" : met ? "ok-text" : "warn-text", text: pct(ratio) }));
  return wrap;
}

function statusStack(fac) {
  const box = el("div", { class: "stack" });
  if (!fac) return box;
  const total = fac.total || 0;
  box.title = `planned ${fac.planned}, under construction ${fac.under_construction}, completed ${fac.completed},` +
    ` operating ${fac.operating} (total ${total})`;
  for (const [cls, n] of [["p", fac.planned], ["u", fac.under_construction], ["c", fac.completed], ["o", fac.operating]]) {
    const part = el("i", { class: cls });
    part.style.width = total ? (100 * n) / total + "%" : "0";
    box.append(part);
  }
  return box;
}

function itemCell(policy, code, national) {
  const td = el("td", { class: "item" });
  const item = policy && (policy.items || []).find((i) => i.code === code);
  if (!item) { td.append(el("span", { class: "pill none", text: "·" })); return td; }
  if (national) {
    const units = policy.units || 0;
    const cls = item.completed >= units && units > 0 ? "done" : item.completed > 0 ? "prog" : "none";
    td.append(el("span", { class: `pill ${cls}`, text: String(item.completed), title: `${item.completed} of ${units} completed` }));
  } else {
    const cls = item.completed ? "done" : item.in_progress ? "prog" : "none";
    const text = item.completed ? "✓" : item.in_progress ? "…" : "–";
    td.append(el("span", { class: `pill ${cls}`, text, title: cls === "done" ? "completed" : cls === "prog" ? "in progress" : "not started" }));
  }
  return td;
}

function provinceRow(code) {
  const cov = row("coverage", code), fac = row("facilities", code), fund = row("funding", code);
  const pol = row("policy", code), svc = row("services", code);
  const national = code === NATIONAL;
  const tr = el("tr", { "data-province": code, class: national ? "national" : "" });
  if (national) tr.id = "national-row";
  tr.append(el("td", { class: "code", text: code }), el("td", { class: "name", text: provinceName(code) }));
  const covCell = (ratio, met, target) => { const td = el("td"); td.append(barCell(ratio, met, target)); return td; };
  tr.append(cov ? covCell(cov.urban_coverage, cov.urban_met, cov.urban_target) : el("td", { class: "nodata", text: "no data" }));
  tr.append(cov ? covCell(cov.rural_coverage, cov.rural_met, cov.rural_target) : el("td", { class: "nodata", text: "–" }));
  const area = fac ? num(fac.floor_area_per_100_households) : null;
  tr.append(el("td", { class: `num ${area === null ? "" : fac.floor_area_met ? "ok-text" : "warn-text"}`,
    text: area === null ? "–" : area.toFixed(1) }));
  tr.append(el("td", { class: "num", text: fac ? pct(fac.meeting_standard_share, 0) : "–" }));
  const st = el("td"); st.append(statusStack(fac)); tr.append(st);
  tr.append(el("td", { class: `num ${fund && !fund.consistent ? "bad-text" : ""}`, text: fund ? yi(fund.allocated_yuan) : "–",
    title: fund && !fund.consistent ? "disbursed exceeds allocated on some report" : "" }));
  const disb = el("td");
  disb.append(barCell(fund ? fund.disbursement_rate : null, fund ? num(fund.disbursement_rate) >= 0.6 : false));
  tr.append(disb);
  for (const item of state.ref.policy_items) tr.append(itemCell(pol, item.code, national));
  tr.append(el("td", { class: `num ${svc && svc.big_city_care_met ? "ok-text" : "warn-text"}`,
    text: svc ? pct(svc.big_city_care_coverage, 0) : "–" }));
  tr.append(el("td", { class: `num ${svc && svc.visit_met ? "ok-text" : "warn-text"}`, text: svc ? pct(svc.visit_rate, 0) : "–" }));
  return tr;
}

function buildHead() {
  const cols = $("#columns");
  const anchor = cols.children[9];  // first services column: policy items go before it
  for (const item of state.ref.policy_items) {
    cols.insertBefore(el("th", { class: "item-head", title: `${item.name_zh} — ${item.name_en}`,
      text: SHORT_ITEM[item.code] || item.name_zh.slice(0, 4) }), anchor);
  }
  $("#policy-head").setAttribute("colspan", String(state.ref.policy_items.length));
}

function renderTable() {
  const body = $("#provinces tbody");
  const rows = [provinceRow(NATIONAL), ...state.ref.provinces.map((p) => provinceRow(p.code))];
  body.replaceChildren(...rows);
}

function kpi(id, big, foot, ratio, targetRatio, met) {
  const box = $(id);
  box.querySelector(".big").textContent = big;
  box.querySelector(".foot").textContent = foot;
  box.classList.toggle("ok", met === true);
  box.classList.toggle("warn", met === false);
  const fill = box.querySelector(".bar i");
  if (fill) fill.style.width = ratio === null || ratio === undefined ? "0" : Math.min(100, num(ratio) * 100) + "%";
  const target = box.querySelector(".bar b.target");
  if (target && targetRatio !== undefined) target.style.left = Math.min(99.5, num(targetRatio) * 100) + "%";
}

function renderKpis() {
  const cov = row("coverage", NATIONAL), fac = row("facilities", NATIONAL), fund = row("funding", NATIONAL);
  const pol = row("policy", NATIONAL), svc = row("services", NATIONAL);
  if (cov) {
    kpi("#kpi-urban", pct(cov.urban_coverage), `${cov.urban_covered} of ${cov.urban_communities} communities`,
      cov.urban_coverage, cov.urban_target, cov.urban_met);
    kpi("#kpi-rural", pct(cov.rural_coverage), `${cov.rural_covered} of ${cov.rural_communities} communities`,
      cov.rural_coverage, cov.rural_target, cov.rural_met);
  }
  if (fac) {
    const area = num(fac.floor_area_per_100_households);
    kpi("#kpi-area", area === null ? "–" : `${area.toFixed(1)} m²`,
      `${pct(fac.meeting_standard_share, 0)} of ${fac.completed + fac.operating} in-service facilities meet 30 m²`,
      null, undefined, fac.floor_area_met);
  }
  if (fund) {
    kpi("#kpi-funding", pct(fund.disbursement_rate), `${yi(fund.disbursed_yuan)} of ${yi(fund.allocated_yuan)} 亿元`,
      fund.disbursement_rate, undefined, fund.consistent);
  }
  if (pol) {
    kpi("#kpi-policy", `${pol.solution_units} / ${pol.solution_target}`,
      `${pol.reporting_units} units reporting · ${pol.completed_items} items completed`, null, undefined, pol.solution_met);
  }
  if (svc) {
    kpi("#kpi-services", `${pct(svc.big_city_care_coverage, 0)} · ${pct(svc.visit_rate, 0)}`,
      `${svc.special_difficulty_elderly_visited} of ${svc.special_difficulty_elderly} elderly visited`,
      null, undefined, svc.big_city_care_met && svc.visit_met);
  }
}

function chart(id, config) {
  if (!window.Chart) return null;
  if (!state.charts[id]) state.charts[id] = new window.Chart($(id), config);
  return state.charts[id];
}

function renderFunding() {
  const fund = row("funding", NATIONAL);
  const sources = fund ? fund.sources : [];
  const labels = sources.map((s) => SOURCE_NAME[s.source] || s.source);
  const c = chart("#funding-chart", {
    type: "bar",
    data: { labels, datasets: [
      { label: "下达 allocated", data: [], backgroundColor: "#9cc1e6" },
      { label: "拨付 disbursed", data: [], backgroundColor: "#2f6fb3" },
    ] },
    options: { indexAxis: "y", animation: false, maintainAspectRatio: false, responsive: true,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 10, font: { size: 10 } } } },
      scales: { x: { ticks: { font: { size: 10 } } }, y: { ticks: { font: { size: 10 } } } } },
  });
  if (c) {
    c.data.labels = labels;
    c.data.datasets[0].data = sources.map((s) => num(s.allocated_yuan) / 1e8);
    c.data.datasets[1].data = sources.map((s) => num(s.disbursed_yuan) / 1e8);
    c.update("none");
  }
  const body = $("#funding-sources tbody");
  body.replaceChildren(...sources.map((s) => el("tr", {},
    el("td", { text: SOURCE_NAME[s.source] || s.source }),
    el("td", { class: "num", text: `${yi(s.disbursed_yuan)} / ${yi(s.allocated_yuan)}` }),
    el("td", { class: "num", text: pct(s.disbursement_rate) }))));
}

function renderCoverageChart() {
  const provinces = state.ref.provinces;
  const labels = provinces.map((p) => p.name_zh.replace(/(省|市|自治区|壮族|回族|维吾尔)/g, ""));
  const data = (field) => provinces.map((p) => { const r = row("coverage", p.code); return r && num(r[field]) !== null ? num(r[field]) * 100 : null; });
  const c = chart("#coverage-chart", {
    type: "bar",
    data: { labels, datasets: [
      { type: "line", label: "城市目标 100%", data: [], borderColor: "#1d2733", borderWidth: 1, pointRadius: 0, borderDash: [4, 3] },
      { type: "line", label: "农村目标 80%", data: [], borderColor: "#d9822b", borderWidth: 1, pointRadius: 0, borderDash: [4, 3] },
      { label: "城市 urban", data: [], backgroundColor: "#2f6fb3" },
      { label: "农村 rural", data: [], backgroundColor: "#7fc29b" },
    ] },
    options: { animation: false, maintainAspectRatio: false, responsive: true,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 10, font: { size: 10 } } } },
      scales: { y: { min: 0, max: 105, ticks: { callback: (v) => v + "%", font: { size: 10 } } },
        x: { ticks: { font: { size: 10 }, autoSkip: false, maxRotation: 0 } } } },
  });
  if (c) {
    c.data.labels = labels;
    c.data.datasets[0].data = provinces.map(() => 100);
    c.data.datasets[1].data = provinces.map(() => 80);
    c.data.datasets[2].data = data("urban_coverage");
    c.data.datasets[3].data = data("rural_coverage");
    c.update("none");
  }
}

function when(note) {
  const t = note.event_time;
  const d = typeof t === "number" ? new Date(t) : t ? new Date(t) : null;
  return d && !isNaN(d) ? d.toISOString().replace("T", " ").slice(0, 16) : "";
}

function fmtValue(v) {
  const x = num(v);
  if (x === null || isNaN(x)) return v ?? "–";
  return /^\d+\.\d{4}$/.test(String(v)) ? (x * 100).toFixed(1) + "%" : String(v);
}

function describe(n) {
  const t = n.type || "";
  if (t === "TARGET_MET" || t === "TARGET_AT_RISK") {
    const what = SUBJECT_NAME[n.subject] || n.subject;
    const target = n.target ? `，目标 target ${fmtValue(n.target)}` : "";
    return `${what} ${t === "TARGET_MET" ? "达标 met" : "未达标 at risk"}: ${fmtValue(n.value)}${target}`;
  }
  if (t === "POLICY_ITEM_COMPLETED") {
    const item = state.ref && state.ref.policy_items.find((i) => i.code === n.subject);
    return `完成 completed: ${item ? item.name_zh : n.subject}`;
  }
  return n.message || n.subject || "";
}

function renderNotes(freshIds = new Set()) {
  const list = $("#notifications");
  const keep = FILTERS[state.filter] || FILTERS.all;
  const items = state.notes.filter((n) => keep(n.type || "")).slice(0, 60).map((n) => {
    const li = el("li", { class: freshIds.has(n.notification_id) ? "fresh" : "", "data-type": n.type || "",
      title: n.message || "" });
    li.append(el("span", { class: "when", text: when(n) }));
    li.append(el("span", { class: `type ${n.type || ""}`, text: TYPE_NAME[n.type] || n.type || "notice" }));
    li.append(el("b", { text: `${provinceName(n.province)} ` }));
    li.append(document.createTextNode(describe(n)));
    return li;
  });
  if (!items.length) items.push(el("li", { class: "empty", text: "no notifications yet" }));
  list.replaceChildren(...items);
}

function addNotes(notes, fresh) {
  const ids = new Set();
  for (const n of notes) {
    const id = n.notification_id || JSON.stringify(n);
    n.notification_id = id;
    if (state.noteIds.has(id)) continue;
    state.noteIds.add(id);
    ids.add(id);
    if (fresh) state.notes.unshift(n); else state.notes.push(n);
  }
  state.notes = state.notes.slice(0, 200);
  return ids;
}

function render() {
  state.dirty = false;
  renderKpis();
  renderTable();
  renderFunding();
  renderCoverageChart();
  document.body.dataset.version = String(state.version);
  document.body.dataset.state = "live";
  $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
}

function scheduleRender() {
  if (state.dirty) return;
  state.dirty = true;
  requestAnimationFrame(render);
}

async function loadSnapshot() {
  const [tables, notes] = await Promise.all([
    fetch("/api/tables").then((r) => r.json()), fetch("/api/notifications?limit=100").then((r) => r.json())]);
  state.tables = tables.tables;
  state.version = tables.version;
  state.notes = []; state.noteIds = new Set();
  addNotes(notes.notifications, false);
  renderNotes();
  render();
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("hello", () => {
    $("#conn").className = "dot live"; $("#conn-text").textContent = "live";
    loadSnapshot().catch((e) => { $("#conn-text").textContent = "error: " + e; });
  });
  source.addEventListener("update", (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.version <= state.version) return;  // already in the snapshot we loaded
    const notes = [];
    for (const ch of msg.changes) {
      if (ch.kind === "notification") notes.push(ch.value);
      else if (ch.kind === "row") (state.tables[ch.table] ||= {})[ch.key] = ch.value;
      else if (ch.kind === "delete" && state.tables[ch.table]) delete state.tables[ch.table][ch.key];
    }
    state.version = msg.version;
    if (notes.length) renderNotes(addNotes(notes, true));
    scheduleRender();
  });
  source.onerror = () => { $("#conn").className = "dot down"; $("#conn-text").textContent = "reconnecting…"; };
}

function setupFilters() {
  for (const button of document.querySelectorAll("#note-filters button")) {
    button.addEventListener("click", () => {
      state.filter = button.dataset.filter;
      for (const b of document.querySelectorAll("#note-filters button")) b.classList.toggle("on", b === button);
      renderNotes();
    });
  }
}

async function main() {
  setupFilters();
  state.ref = await fetch("/api/reference").then((r) => r.json());
  buildHead();
  renderTable();
  renderNotes();
  connect();
}

main();

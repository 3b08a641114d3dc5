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
  RECONCILIATION_BREACH: "数据不一致",
};
const KIND_NAME = { facility: "设施 facility", funding: "资金 funding", policy: "政策 policy" };
// Trend measures: which table and field, how to show it, and its target line (from the row itself).
const MEASURES = [
  { id: "urban", table: "coverage", label: "城市覆盖率 urban coverage %", value: (r) => pct100(r.urban_coverage),
    target: (r) => pct100(r.urban_target) },
  { id: "rural", table: "coverage", label: "农村覆盖率 rural coverage %", value: (r) => pct100(r.rural_coverage),
    target: (r) => pct100(r.rural_target) },
  { id: "area", table: "facilities", label: "面积 m²/100 households", value: (r) => num(r.floor_area_per_100_households),
    target: (r) => num(r.floor_area_target) },
  { id: "disbursed", table: "funding", label: "拨付率 disbursement rate %", value: (r) => pct100(r.disbursement_rate),
    target: () => null },
  { id: "care", table: "services", label: "大城市托育养老 big-city care %", value: (r) => pct100(r.big_city_care_coverage),
    target: (r) => pct100(r.big_city_care_target) },
  { id: "visits", table: "services", label: "月探访率 monthly visits %", value: (r) => pct100(r.visit_rate),
    target: (r) => pct100(r.visit_target) },
];
const FIELD_NAME = {
  urban_communities: "城市社区 urban communities", urban_covered: "已覆盖 urban covered", urban_coverage: "城市覆盖率",
  urban_excess: "超出 excess", rural_communities: "农村社区 rural communities", rural_covered: "已覆盖 rural covered",
  rural_coverage: "农村覆盖率", rural_excess: "超出 excess", planned: "规划 planned",
  under_construction: "在建 building", completed: "建成 completed", operating: "运营 operating", total: "合计 total",
  in_service_households: "服务户数 households", in_service_floor_area_m2: "面积 m²",
  floor_area_per_100_households: "m²/100户", meeting_standard: "达标设施 meeting 30 m²",
  below_standard: "未达标 below", allocated_yuan: "下达 allocated (元)", disbursed_yuan: "拨付 disbursed (元)",
  disbursement_rate: "拨付率", disbursed_exceeds_allocated: "超拨报告 over-disbursed reports",
  reporting_units: "报送 reporting", completed_items: "完成事项 items completed", solution_units: "一老一小方案",
  big_city_communities: "大城市社区", big_city_communities_with_care: "有托育养老", big_city_care_coverage: "托育养老覆盖",
  special_difficulty_elderly: "特困老人 elderly", special_difficulty_elderly_visited: "已探访 visited",
  visit_rate: "探访率",
};
const CARD_FIELDS = {
  coverage: ["urban_communities", "urban_covered", "urban_coverage", "urban_excess", "rural_communities",
    "rural_covered", "rural_coverage", "rural_excess"],
  facilities: ["planned", "under_construction", "completed", "operating", "total", "in_service_floor_area_m2",
    "floor_area_per_100_households", "meeting_standard", "below_standard"],
  funding: ["allocated_yuan", "disbursed_yuan", "disbursement_rate", "disbursed_exceeds_allocated"],
  policy: ["reporting_units", "completed_items", "solution_units"],
  services: ["big_city_communities", "big_city_communities_with_care", "big_city_care_coverage",
    "special_difficulty_elderly", "special_difficulty_elderly_visited", "visit_rate"],
};
const TABLE_NAME = { coverage: "覆盖率 coverage", facilities: "设施 facilities", funding: "资金 funding",
  policy: "政策 policy", services: "服务 services" };

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
  anomaly: (t) => t.startsWith("ANOMALY") || t === "REJECTION_BURST" || t === "RECONCILIATION_BREACH",
  report: (t) => t.startsWith("OBLIGATION"),
};

const state = { ref: null, tables: {}, notes: [], noteIds: new Set(), version: 0, charts: {}, dirty: false,
  filter: "all", loaded: false, obligations: [], route: { view: "national" } };

// Beijing time on a 24-hour clock, whatever the browser's own zone.
const BEIJING = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", hourCycle: "h23", year: "numeric",
  month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
function beijing(d, seconds = false) {
  const p = Object.fromEntries(BEIJING.formatToParts(d).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${seconds ? ":" + p.second : ""}`;
}

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
const pct100 = (v) => (num(v) === null ? null : num(v) * 100);
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
  const nameCell = el("td", { class: "name" });
  nameCell.append(el("a", { href: `#/province/${code}`, text: provinceName(code) }));
  tr.append(el("td", { class: "code", text: code }), nameCell);
  const covCell = (ratio, met, target) => { const td = el("td"); td.append(barCell(ratio, met, target)); return td; };
  tr.append(cov ? covCell(cov.urban_coverage, cov.urban_met, cov.urban_target)
    : el("td", { class: "nodata", text: state.loaded ? "no data" : "…" }));
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
  return d && !isNaN(d) ? beijing(d) : "";
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
  $("#updated").textContent = "updated " + beijing(new Date(), true).slice(11) + " 北京时间";
  if (state.route.view === "province") renderProvinceCards();
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
  state.loaded = true;
  renderNotes();
  render();
  $("#conn").className = "dot live"; $("#conn-text").textContent = "live";
  loadObligations();
  loadTrend();
}

function connect() {
  const source = new EventSource("/api/events");
  source.addEventListener("hello", () => {
    $("#conn-text").textContent = "loading…";  // "live" only once the first snapshot is shown
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

// ---- obligations panel ----
async function loadObligations() {
  const data = await fetch("/api/obligations").then((r) => r.json());
  state.obligations = data.records;
  const rowOf = (r, withProvince) => {
    const cls = r.missing ? "bad" : r.late ? "late" : "";
    const tr = el("tr", { class: cls, "data-province": r.province, "data-kind": r.kind,
      "data-status": r.missing ? "missing" : r.late ? "late" : "ok" });
    if (withProvince) {
      const td = el("td", { class: "flag" });
      td.append(el("a", { href: `#/province/${r.province}`, text: `${provinceName(r.province)} ${r.province}` }));
      tr.append(td);
    }
    const periods = [...r.late_periods.map((p) => `${p} 迟`), ...r.missing_periods.map((p) => `${p} 未报`)];
    tr.append(el("td", { text: KIND_NAME[r.kind] || r.kind }), el("td", { class: "num", text: String(r.on_time) }),
      el("td", { class: "num", text: String(r.late) }), el("td", { class: "num", text: String(r.missing) }),
      el("td", { class: "num", text: String(r.pending) }),
      el("td", { text: periods.slice(0, 6).join(", ") + (periods.length > 6 ? ` … (${periods.length})` : "") }));
    return tr;
  };
  $("#obligations tbody").replaceChildren(...state.obligations.map((r) => rowOf(r, true)));
  if (state.route.view === "province") {
    $("#province-obligations tbody").replaceChildren(
      ...state.obligations.filter((r) => r.province === state.route.code).map((r) => rowOf(r, false)));
  }
}

// ---- trend charts ----
async function history(table, province) {
  return fetch(`/api/history/${table}?province=${province}`).then((r) => r.json());
}

function trendChart(id, periods, series) {
  const datasets = series.map((s) => ({ label: s.label, data: s.data, borderColor: s.color, backgroundColor: s.color,
    borderWidth: s.dashed ? 1 : 2, borderDash: s.dashed ? [4, 3] : [], pointRadius: 0, spanGaps: true }));
  const c = chart(id, { type: "line", data: { labels: periods, datasets },
    options: { animation: false, maintainAspectRatio: false, responsive: true,
      plugins: { legend: { position: "bottom", labels: { boxWidth: 10, font: { size: 10 } } } },
      scales: { x: { ticks: { font: { size: 10 }, maxRotation: 0, autoSkip: true } },
        y: { ticks: { font: { size: 10 } } } } } });
  if (c) { c.data.labels = periods; c.data.datasets = datasets; c.update("none"); }
  $(id).dataset.periods = String(periods.length);
}

async function loadTrend() {
  const measure = MEASURES.find((m) => m.id === $("#trend-measure").value) || MEASURES[0];
  const province = $("#trend-province").value;
  const national = await history(measure.table, NATIONAL);
  const series = [{ label: `全国 national — ${measure.label}`, data: national.rows.map(measure.value), color: "#2f6fb3" }];
  if (province && province !== NATIONAL) {
    const one = await history(measure.table, province);
    series.push({ label: `${provinceName(province)}`, data: one.rows.map(measure.value), color: "#d9822b" });
  }
  const target = national.rows.map(measure.target);
  if (target.some((t) => t !== null)) series.push({ label: "目标 target", data: target, color: "#1d2733", dashed: true });
  trendChart("#trend-chart", national.periods, series);
  const chosen = province || NATIONAL;
  $("#history-csv").href = `/api/export/history/${measure.table}.csv?province=${chosen}`;
  $("#history-xlsx").href = `/api/export/history/${measure.table}.xlsx?province=${chosen}`;
}

// ---- per-province page ----
function route() {
  const m = location.hash.match(/^#\/province\/(\d{6})$/);
  state.route = m ? { view: "province", code: m[1] } : { view: "national" };
  $("#national-view").hidden = state.route.view !== "national";
  $("#province-view").hidden = state.route.view !== "province";
  if (state.route.view === "province") {
    $("#province-title").textContent = `${provinceName(state.route.code)} ${state.route.code}`;
    renderProvinceCards();
    loadProvinceTrend();
    loadObligations();
    loadRejections();
  }
}

function shown(field, value) {
  if (value === null || value === undefined) return "–";
  if (/(coverage|rate|share)$/.test(field)) return pct(value);
  return String(value);
}

function renderProvinceCards() {
  const code = state.route.code;
  const cards = Object.keys(CARD_FIELDS).map((table) => {
    const r = row(table, code);
    const card = el("div", { class: "card", "data-table": table });
    card.append(el("h3", { text: TABLE_NAME[table] }));
    if (!r) { card.append(el("p", { class: "nodata", text: state.loaded ? "no data" : "…" })); return card; }
    const dl = el("dl");
    const explainable = new Set((state.ref.explainable || {})[table] || []);
    for (const field of CARD_FIELDS[table]) {
      if (!(field in r)) continue;
      const dd = el("dd");
      if (explainable.has(field)) {
        dd.append(el("a", { class: "explain", "data-explain": `${table}.${field}`, text: shown(field, r[field]),
          title: "which reports sum to this number" }));
      } else dd.textContent = shown(field, r[field]);
      dl.append(el("dt", { text: FIELD_NAME[field] || field }), dd);
    }
    card.append(dl);
    if (r.breaches && r.breaches.length) card.append(el("p", { class: "breach", text: "⚠ " + r.breaches.join(", ") }));
    return card;
  });
  $("#province-rows").replaceChildren(...cards);
}

async function loadProvinceTrend() {
  const measure = MEASURES.find((m) => m.id === $("#province-measure").value) || MEASURES[0];
  const data = await history(measure.table, state.route.code);
  const series = [{ label: `${provinceName(state.route.code)} — ${measure.label}`, data: data.rows.map(measure.value),
    color: "#d9822b" }];
  const target = data.rows.map(measure.target);
  if (target.some((t) => t !== null)) series.push({ label: "目标 target", data: target, color: "#1d2733", dashed: true });
  trendChart("#province-trend", data.periods, series);
}

async function loadRejections() {
  const data = await fetch(`/api/rejections?province=${state.route.code}`).then((r) => r.json());
  const items = data.rejections.map((j) => el("li", {},
    el("span", { class: "when", text: j.event_time ? beijing(new Date(j.event_time)) + " " : "" }),
    el("b", { text: `${j.reason} ` }), document.createTextNode(`${j.message} (${j.source})`)));
  if (!items.length) items.push(el("li", { class: "empty", text: "no rejections" }));
  $("#province-rejections").replaceChildren(...items);
}

// ---- explain a cell ----
async function explainCell(table, field, province) {
  const res = await fetch(`/api/explain/${table}?province=${province}&field=${field}`);
  if (!res.ok) { alert(await res.text()); return; }
  const data = await res.json();
  const value = data.cells[field];
  const counted = data.reports.filter((r) => num(r.shares[field]));
  $("#explain-title").textContent = `${TABLE_NAME[table]} · ${FIELD_NAME[field] || field} · ${provinceName(province)} = ${value}`;
  const total = counted.reduce((a, r) => a + num(r.shares[field]), 0);
  $("#explain-sum").textContent = `${value} = the sum of the shares of ${counted.length} report(s) below` +
    ` (${Number.isInteger(total) ? total : total.toFixed(2)})`;
  $("#explain-sum").dataset.reports = String(counted.length);
  const revs = (r) => r.revisions.filter((v) => v.fate !== "in force")
    .map((v) => `rev ${v.revision} ${v.period} ${v.coordinates}: ${v.fate}`).join("; ");
  $("#explain-reports tbody").replaceChildren(...counted.map((r) => el("tr", { "data-report": r.report_id },
    el("td", { text: r.report_id }), el("td", { text: String(r.revision) }), el("td", { text: r.period }),
    el("td", { text: beijing(new Date(r.arrived_ms)) }), el("td", { text: r.coordinates }),
    el("td", { class: "num share", text: String(r.shares[field]) }), el("td", { text: [r.note, revs(r)].filter(Boolean).join("; ") }))));
  $("#explain-not-counted tbody").replaceChildren(...data.not_counted.slice(0, 300).map((r) => el("tr", {},
    el("td", { text: r.report_id }), el("td", { text: String(r.revision) }), el("td", { text: r.period }),
    el("td", { text: r.coordinates }), el("td", { text: [r.note, revs(r)].filter(Boolean).join("; ") }))));
  $("#explain").showModal();
}

function setupTrend() {
  const fill = (select) => select.replaceChildren(...MEASURES.map((m) => el("option", { value: m.id, text: m.label })));
  fill($("#trend-measure")); fill($("#province-measure"));
  $("#trend-province").replaceChildren(el("option", { value: NATIONAL, text: "— 仅全国 national only —" }),
    ...state.ref.provinces.map((p) => el("option", { value: p.code, text: `${p.name_zh} ${p.code}` })));
  $("#trend-measure").addEventListener("change", loadTrend);
  $("#trend-province").addEventListener("change", loadTrend);
  $("#province-measure").addEventListener("change", loadProvinceTrend);
  $("#table-exports").replaceChildren(...state.ref.tables.flatMap((t) => [
    el("a", { href: `/api/export/table/${t}.csv`, text: `${t} CSV` }), document.createTextNode(" / "),
    el("a", { href: `/api/export/table/${t}.xlsx`, text: "Excel" }), document.createTextNode(" · ")]));
  document.addEventListener("click", (ev) => {
    const a = ev.target.closest("a.explain");
    if (!a) return;
    ev.preventDefault();
    const [table, field] = a.dataset.explain.split(".");
    explainCell(table, field, state.route.code);
  });
}

async function main() {
  setupFilters();
  state.ref = await fetch("/api/reference").then((r) => r.json());
  setupTrend();
  buildHead();
  renderTable();
  renderNotes();
  window.addEventListener("hashchange", route);
  route();
  connect();
  setInterval(() => { if (state.loaded) loadObligations(); }, 15000);
}

main();

// The clerk's upload page: log in, check a file (the CLI's checks, row by row), send it, poll the outcomes.
// No password is kept here: it goes once, in the login request's body; the session is an HttpOnly cookie.
"use strict";
const $ = (id) => document.getElementById(id);
let upload = null;
let polling = null;

async function call(method, url, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) { options.body = JSON.stringify(body); options.headers["Content-Type"] = "application/json"; }
  const response = await fetch(url, options);
  const text = await response.text();
  let data;
  try { data = JSON.parse(text); } catch (e) { data = { error: text }; }
  return { ok: response.ok, status: response.status, data };
}

function cell(row, text) { const td = document.createElement("td"); td.textContent = text ?? ""; row.appendChild(td); }

function fill(table, items, columns) {
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    tr.dataset.row = item.row;
    if (item.state) tr.dataset.state = item.state;
    if (item.receipt) tr.dataset.receipt = "true";
    for (const c of columns) cell(tr, item[c]);
    body.appendChild(tr);
  }
  table.hidden = items.length === 0;
}

function signedIn(me) {
  document.body.dataset.state = "ready";
  document.body.dataset.province = me.province;
  $("who").textContent = `${me.principal} · ${me.province} ${me.name}`;
  $("logout").hidden = false;
  $("login-panel").hidden = true;
  $("work-panel").hidden = false;
  templateLink();
}

function templateLink() { $("template-link").href = `/api/template/${$("kind").value}.xlsx`; }

$("kind").addEventListener("change", () => { templateLink(); upload = null; $("send").disabled = true; });

$("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const { ok, data } = await call("POST", "/api/login", { principal: $("principal").value, password: $("password").value });
  $("password").value = "";
  if (!ok) { $("login-error").textContent = data.error; return; }
  signedIn(data);
});

$("logout").addEventListener("click", async () => { await call("POST", "/api/logout"); location.reload(); });

$("check").addEventListener("submit", async (event) => {
  event.preventDefault();
  upload = null;
  $("send").disabled = true;
  $("check-error").textContent = ""; $("check-summary").textContent = "检查中 checking…";
  fill($("problems"), [], []); fill($("warnings"), [], []);
  const form = new FormData();
  form.append("kind", $("kind").value);
  form.append("file", $("file").files[0]);
  const { ok, data } = await call("POST", "/api/upload/check", form);
  document.body.dataset.state = "checked";
  if (!ok) { $("check-summary").textContent = ""; $("check-error").textContent = data.error; return; }
  const cols = ["row", "column", "value", "rule", "reason"];
  fill($("problems"), data.problems, cols);
  fill($("warnings"), data.warnings, cols);
  const warned = data.warnings.length ? `, ${data.warnings.length} warning(s)` : "";
  $("check-summary").textContent = `${data.file}: ${data.good} good rows, ${data.bad} bad rows${warned}` +
    (data.bad ? " — fix the rows below and check the file again; nothing was sent" : " — ready to send");
  if (!data.bad && data.good) { upload = data.upload; $("send").disabled = false; }
});

$("send").addEventListener("click", async () => {
  if (!upload) return;
  $("send").disabled = true;
  $("send-error").textContent = ""; $("send-summary").textContent = "发送中 sending…";
  const { ok, data } = await call("POST", "/api/upload/send", { upload });
  upload = null;
  if (!ok) { $("send-summary").textContent = ""; $("send-error").textContent = data.error; return; }
  $("send-summary").textContent = `${data.rows} rows → ${data.topic}: ${data.sent} sent, ${data.acknowledged} acknowledged` +
    (data.error ? ` — NOT COMPLETE: ${data.error}` : "");
  document.body.dataset.state = "sent";
  watch(data.batch);
});

function watch(batch) {
  if (polling) clearInterval(polling);
  const once = async () => {
    const { ok, data } = await call("GET", `/api/upload/outcomes?batch=${encodeURIComponent(batch)}`);
    if (!ok) { $("send-error").textContent = data.error; return; }
    fill($("outcomes"), data.outcomes, ["row", "report_id", "revision", "state", "detail", "at"]);
    $("outcomes").dataset.batch = batch;
  };
  once();
  polling = setInterval(once, 2000);
  setTimeout(() => clearInterval(polling), 10 * 60 * 1000);  // bounded: ten minutes of watching
}

(async () => {  // a session still open (a reload): carry on
  const { ok, data } = await call("GET", "/api/session");
  if (ok) signedIn(data);
})();

// kalshid dashboard: sign in with the API token (kept in sessionStorage, sent only as a header or in the
// WebSocket's first message), then follow /ws and refresh the REST views. Panels: panels.js; money and
// DOM helpers: format.js.
import { $, age, el, money, setBar, signClass, text, time, toCc } from "./format.js";
import {
  alertText, auditText, drawCurve as paintCurve, envFromUrl, renderDecisions as paintDecisions, renderFills,
  renderMarkets as paintMarkets, renderOrders, renderPositions as paintPositions, renderRisk as paintRisk,
  renderSettlements,
} from "./panels.js";

const TOKEN_KEY = "kalshid.token";
const REFRESH_MS = 5000;
const MAX_LOG = 150;
const MAX_CURVE = 2000;
// The daemon sends its status every 5 s over /ws and the page asks for it every 5 s: with nothing for this
// long, what the page shows is no longer current.
const STALE_MS = 12000;
let token = sessionStorage.getItem(TOKEN_KEY);
let ws = null;
let reconnectTimer = null;
let refreshTimer = null;
let tickTimer = null;
let pendingRefresh = null;
let sessionTimer = null;
let backoffMs = 1000;
let lastEventAt = null;
let lastAnswerAt = null; // Date.now() of the daemon's last status (REST or /ws)
let unreachable = false; // the latest attempt to reach the daemon failed (/ws closed, or no HTTP answer)
let clockOffsetMs = 0; // exchange time minus local time (the simulator's clock may run fast)
const view = { status: null, risk: null, markets: null, positions: [], pnlDay: [], decisions: null,
  strategies: [], curve: [], version: null };

const exchangeNow = () => Date.now() + clockOffsetMs;

// ---- API ---------------------------------------------------------------------------------------------
async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (token) unanswered();
    return { ok: false, status: 0, error: { code: "network", message: `cannot reach the daemon (${err.message})` } };
  }
  if ([502, 503, 504].includes(resp.status) && token) unanswered(); // a proxy in front, the daemon behind it gone
  let data = null;
  try { data = await resp.json(); } catch (_) { data = null; }
  if (resp.status === 401) signOut("The token was refused; sign in again.");
  if (resp.ok) return { ok: true, status: resp.status, data };
  const error = (data && data.error) || { code: String(resp.status), message: resp.statusText };
  return { ok: false, status: resp.status, error };
}
function describe(error, status) {
  const field = error.field ? ` (${error.field})` : "";
  return `${status ? `${status} ` : ""}${error.code}: ${error.message}${field}`;
}

// ---- sign-in -----------------------------------------------------------------------------------------
async function signIn(candidate) {
  token = candidate;
  const res = await api("GET", "/api/status");
  if (!res.ok) {
    token = null;
    text("signin-error", res.status === 401 ? "That token is not valid." : describe(res.error, res.status));
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, candidate);
  await renewDocsCookie();
  begin(res.data);
}
// A short-lived HttpOnly cookie that lets /docs open in this browser: set at sign-in and on every page
// load, renewed at half its life while the page is open (retried each minute while the daemon is away).
async function renewDocsCookie() {
  clearTimeout(sessionTimer);
  const res = await api("POST", "/api/session");
  if (!token) return;
  const life = res.ok && res.data && res.data.expires_in_s > 0 ? res.data.expires_in_s : 120;
  sessionTimer = setTimeout(renewDocsCookie, life * 500);
}
function signOut(message) {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  if (ws) { ws.onclose = null; ws.close(1000); ws = null; }
  for (const t of [reconnectTimer, refreshTimer, tickTimer, pendingRefresh, sessionTimer]) clearTimeout(t);
  clearInterval(refreshTimer); clearInterval(tickTimer);
  reconnectTimer = refreshTimer = tickTimer = pendingRefresh = sessionTimer = null;
  lastAnswerAt = null;
  unreachable = false;
  renderStale();
  $("app").hidden = true;
  $("signin").hidden = false;
  text("signin-error", message || "");
  setConn(false, "signed out");
}
function begin(status) {
  $("signin").hidden = true;
  $("app").hidden = false;
  text("signin-error", "");
  if (status) renderStatus(status); else renderStale();
  connect();
  refreshAll();
  loadStrategies();
  refreshTimer = setInterval(refreshAll, REFRESH_MS);
  tickTimer = setInterval(tick, 1000);
}

// ---- WebSocket ---------------------------------------------------------------------------------------
function setConn(up, label) {
  $("conn").classList.toggle("up", up);
  text("conn-text", label);
}
function connect() {
  if (!token) return;
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
  ws = new WebSocket(url);
  setConn(false, "connecting");
  ws.onopen = () => ws.send(JSON.stringify({ type: "auth", id: "signin", token }));
  ws.onmessage = (msg) => {
    let event;
    try { event = JSON.parse(msg.data); } catch (_) { return; }
    lastEventAt = Date.now();
    document.body.dataset.events = String(Number(document.body.dataset.events || 0) + 1);
    onEvent(event);
  };
  ws.onclose = (ev) => {
    ws = null;
    if (!token) return;
    if (ev.code === 1008) { signOut(`The live connection was refused: ${ev.reason}`); return; }
    setConn(false, `reconnecting (${ev.code})`);
    unanswered();
    refreshAll(); // does the daemon still answer over HTTP? If so, the figures stay current
    reconnectTimer = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, 15000);
  };
}
function onEvent(event) {
  const data = event.data || {};
  switch (event.type) {
    case "ack":
      if (event.id === "signin") { backoffMs = 1000; setConn(true, "live"); }
      break;
    case "status_update": setConn(true, "live"); renderStatus(data); break;
    case "trading_signal": case "order_update": case "trade_execution": case "position_update":
    case "market_update":
      soon();
      break;
    case "alert": logEvent(data.level || "info", alertText(data), event.ts); soon(); break;
    case "error": logEvent("warning", `server: ${describe(event.error || {})}`, event.ts); break;
    case "audit":
      logEvent(data.outcome === "refused" ? "warning" : "info", auditText(data), data.ts || event.ts);
      break;
    case "risk_verdict": case "risk_rejection": soon(); break;
    case "notice": logEvent("info", alertText(data), event.ts); break;
    default:
      break;
  }
}
function soon() { // coalesce bursts of events into one refresh
  if (pendingRefresh) return;
  pendingRefresh = setTimeout(() => { pendingRefresh = null; refreshAll(); }, 300);
}
function logEvent(level, message, ts) {
  const list = $("audit");
  list.prepend(el("li", { class: `lvl-${level}` }, `${time(ts || new Date().toISOString())} ${level.toUpperCase()} ${message}`));
  while (list.children.length > MAX_LOG) list.lastChild.remove();
}

// ---- rendering ---------------------------------------------------------------------------------------
function renderStatus(s) {
  view.status = s;
  lastAnswerAt = Date.now();
  unreachable = false;
  if (s.exchange_time) clockOffsetMs = Date.parse(s.exchange_time) - Date.now();
  const mode = $("mode");
  const env = s.exchange_env || (s.mode === "sim" ? "sim" : envFromUrl(s.exchange && s.exchange.rest));
  const [modeLabel, note, cls] = s.mode === "sim" ? ["SIM", "play money", "sim"]
    : s.mode === "dry" ? [env === "prod" ? "PROD" : "DEMO", "dry run: no order leaves", "demo"]
    : env === "prod" ? ["LIVE", "REAL MONEY", "live"] : ["DEMO", "live orders, demo money", "demo"];
  mode.className = `mode ${cls}`;
  mode.replaceChildren(modeLabel, el("small", {}, note));
  const equity = toCc(s.equity);
  if (equity !== null) {
    view.curve.push([Date.now(), equity]);
    if (view.curve.length > MAX_CURVE) view.curve.shift();
  }
  text("equity", money(equity));
  renderButtons();
  renderPnl();
  renderStale();
  drawCurve();
}
function renderState() {
  const s = view.status;
  const state = $("state");
  if (!s) {
    state.className = "state";
    state.textContent = isStale() ? "NO ANSWER" : "–";
    return;
  }
  const breakerState = (s.breaker && s.breaker.state) || "";
  const st = s.state === "running" && breakerState === "reducing" ? "stop_entry" : s.state;
  const label = { running: "RUNNING", stopped: "STOPPED", stop_entry: "STOP-ENTRY", halted: "HALTED" }[st] || st;
  const full = breakerState && breakerState !== "running" ? `${label} · breaker ${breakerState.toUpperCase()}` : label;
  // an old state is never shown as the current one
  state.className = isStale() ? "state unknown" : `state ${st}`;
  state.textContent = isStale() ? `NO ANSWER · last seen ${full}` : full;
}

// ---- staleness: the daemon stopped, restarted, or cannot be reached --------------------------------
function unanswered() { unreachable = true; renderStale(); }
function isStale() {
  return Boolean(token) && (unreachable || lastAnswerAt === null || Date.now() - lastAnswerAt > STALE_MS);
}
function renderStale() {
  const stale = isStale();
  document.body.classList.toggle("stale", stale);
  const banner = $("stale");
  const message = !stale ? ""
    : lastAnswerAt === null ? "Not live: no answer from the daemon yet (reconnecting). Nothing shown is current."
      : `Not live: no answer from the daemon since ${time(new Date(lastAnswerAt).toISOString())} (reconnecting). `
        + "Every figure below is from then, not current.";
  if (banner.textContent !== message) banner.textContent = message;
  banner.hidden = !stale;
  renderState();
  renderWhy();
  renderHealth();
}
function renderButtons() {
  const s = view.status;
  if (!s) return;
  $("btn-start").disabled = s.state === "running" || s.state === "halted";
  $("btn-stop").disabled = s.state === "stopped";
  $("btn-stop-entry").disabled = s.state !== "running";
  $("btn-reset").disabled = !(s.breaker && s.breaker.tripped);
}
function todayRow() {
  // the journal's day is the exchange's UTC day (fills are stamped on its clock), not this device's
  const today = new Date(exchangeNow()).toISOString().slice(0, 10);
  return view.pnlDay.find((r) => r.day === today) || null;
}
function renderPnl() {
  const s = view.status || {};
  const pnl = s.pnl || {};
  const row = todayRow();
  // today's realised P&L (net of fees) from the journal; unrealised as the daemon marks it
  const realised = row ? toCc(row.net) : toCc(view.risk?.usage?.realized_today) ?? 0;
  const unrealised = pnl.unrealized !== undefined ? toCc(pnl.unrealized)
    : view.positions.reduce((sum, p) => sum + (toCc(p.unrealized_pnl) || 0), 0);
  const fees = row ? toCc(row.fees) : 0;
  // total: equity against the day's starting equity, the figure the breaker judges (exact, all-in)
  const dayStart = view.risk ? toCc(view.risk.breaker.day_start_equity) : null;
  const equityNow = toCc(s.equity);
  const total = dayStart && equityNow !== null ? equityNow - dayStart : (realised ?? 0) + (unrealised ?? 0);
  for (const [id, cc] of [["realised", realised], ["unrealised", unrealised], ["fees", fees], ["total", total]]) {
    text(id, money(cc, id !== "fees"));
    signClass($(id), id === "fees" ? null : cc);
  }
  const risk = view.risk;
  if (!risk) return;
  const peak = toCc(risk.breaker.peak_equity);
  const equity = toCc(s.equity);
  const frac = Number(risk.limits.breaker_drawdown_fraction);
  if (peak && equity !== null && frac > 0) {
    const drawdown = Math.max(0, peak - equity);
    const limit = Math.round(peak * frac);
    setBar("dd-bar", drawdown / limit);
    text("dd-text", `${money(drawdown)} / ${money(limit)}`);
  }
}
function renderWhy() {
  const s = view.status;
  const why = $("why");
  const say = (cls, msg) => { why.className = `why ${cls}`; why.textContent = msg; };
  if (isStale()) {
    const since = lastAnswerAt === null ? "" : ` since ${time(new Date(lastAnswerAt).toISOString())}`;
    return say("bad", `Unknown: no answer from the daemon${since}. It may have stopped, or only this connection is down.`);
  }
  if (!s) return;
  const breaker = s.breaker || {};
  const enabled = view.strategies.filter((x) => x.enabled);
  const d = view.decisions;
  if (s.state === "halted" || breaker.tripped) return say("bad", `Not trading: circuit breaker HALTED${breaker.reason ? ` (${breaker.reason})` : ""}. Reset the breaker, then Start.`);
  const restored = s.operator && s.operator.restored ? " (kept across a restart)" : "";
  if (s.state === "stopped") return say("blocked", `Not trading: stopped by the operator${restored}. Press Start to resume.`);
  if (s.exchange && !s.exchange.connected) return say("bad", "Not trading: the exchange connection is down (reconnecting).");
  if (s.ready === false) return say("blocked", "Not trading yet: reconciling the journal with the exchange.");
  if (view.strategies.length && !enabled.length) return say("blocked", "Not trading: every strategy is disabled.");
  if (s.state === "stop_entry" || breaker.state === "reducing") return say("blocked", `Exits only: new entries are stopped${restored} (Start resumes them).`);
  const audit = s.position_audit;
  if (audit && audit.agrees === false) return say("bad", `No new entries: the journal and the exchange disagree on positions (${audit.differences.join("; ")}). Entries resume when they agree; see the log.`);
  const last = d && d.last;
  if (last && last.verdict && !last.verdict.approved) {
    return say("blocked", `Running; the last proposal (${last.strategy}) was ${last.verdict.reduced ? "reduced" : "refused"} by risk: ${last.verdict.reason}${last.verdict.detail ? ` — ${last.verdict.detail}` : ""}.`);
  }
  if (last && last.verdict && last.verdict.approved) return say("ok", `Trading: last order approved for ${last.strategy} on ${last.signal?.ticker ?? "?"}.`);
  return say("ok", "Running; waiting for an edge (volatility warm-up, or no price far enough from fair value net of fees).");
}
function tick() {
  for (const dd of document.querySelectorAll("[data-close]")) {
    const left = Date.parse(dd.dataset.close) - exchangeNow();
    dd.textContent = left > 0 ? `${Math.floor(left / 60000)}:${String(Math.floor(left / 1000) % 60).padStart(2, "0")}` : "closed";
  }
  const m = view.markets;
  if (m && m.index) {
    const idx = m.index.value !== null && m.index.value !== undefined ? `$${m.index.value}` : "–";
    const dataAge = m.index.ts ? exchangeNow() - Date.parse(m.index.ts) : null;
    text("index-line", `index ${m.index.id}: ${idx} · data age ${age(dataAge)}`);
  }
  renderStale();
}
function renderHealth() {
  const s = view.status;
  const dl = $("health");
  dl.replaceChildren();
  const add = (k, v) => { dl.append(el("dt", {}, k)); dl.append(el("dd", {}, v)); };
  const stale = isStale();
  const said = (k, v) => add(k, stale ? `${v} (last seen)` : v); // the daemon's own report, maybe an old one
  add("daemon", !stale ? "answering"
    : lastAnswerAt === null ? "NO ANSWER yet" : `NO ANSWER for ${age(Date.now() - lastAnswerAt)}`);
  add("live feed", ws && ws.readyState === WebSocket.OPEN ? "connected" : "down");
  add("last event", lastEventAt ? `${age(Date.now() - lastEventAt)} ago` : "–");
  if (s) {
    said("exchange", s.exchange && s.exchange.connected ? "connected" : "DISCONNECTED");
    said("trading active", s.exchange && s.exchange.trading_active === false ? "no (exchange paused)" : "yes");
    said("reconciled", s.ready === false ? "not yet" : "yes");
    if (s.position_audit) said("positions vs exchange", positionAuditText(s.position_audit));
    said("uptime", age((s.uptime_s || 0) * 1000));
    said("open orders", s.open_orders ?? "–");
    if (s.recording) said("recording", recordingText(s.recording));
  }
  if (view.version) add("version", view.version);
}
function positionAuditText(a) {
  if (a.agrees === false) return `DISAGREE: ${a.differences.join("; ")}`;
  return a.checked_at ? `agree (checked ${age(exchangeNow() - Date.parse(a.checked_at))} ago)` : "not checked yet";
}
function recordingText(r) {
  if (!r.enabled) return "off";
  if (!r.running) return "not running";
  if (r.paused_low_disk) return `PAUSED: disk low (${r.disk_free_mb} MiB free)`;
  if (r.dropping) return "DROPPING events (recorder behind)";
  return r.recorder_pid ? "on" : "restarting the recorder";
}
function drawCurve() { paintCurve(view.curve, view.risk); }
function renderDecisions(d) { view.decisions = d; paintDecisions(d, view.status); renderWhy(); }
function renderMarkets(m) { view.markets = m; paintMarkets(m); tick(); }
function renderRisk(r) { view.risk = r; paintRisk(r, view.status); renderPnl(); }
function renderPositions(items) { view.positions = items; paintPositions(items); }

// ---- strategies: enable/disable and parameters -----------------------------------------------------
const strategyState = new Map(); // name → the daemon's latest report of that strategy
async function loadStrategies() {
  const res = await api("GET", "/api/strategies");
  if (res.ok && token) renderStrategies(res.data);
}
function renderStrategies(list) {
  view.strategies = list;
  const box = $("strategies");
  const shape = JSON.stringify(list.map((s) => [s.name, Object.keys(s.params)]));
  if (box.dataset.shape !== shape) {
    box.replaceChildren(...list.map(strategyCard));
    box.dataset.shape = shape;
  }
  for (const s of list) syncStrategy(s);
  renderWhy();
}
function syncStrategy(s) {
  // updated in place, so a parameter being typed keeps its value and its focus
  const previous = strategyState.get(s.name);
  strategyState.set(s.name, s);
  const flag = $(`enabled-${s.name}`);
  flag.className = s.enabled ? "pos" : "neg";
  flag.textContent = s.enabled ? "enabled" : "disabled";
  $(`toggle-${s.name}`).textContent = s.enabled ? "Disable" : "Enable";
  for (const input of $(`strategy-${s.name}`).querySelectorAll("input")) {
    // a value the operator has not edited follows the daemon; an edited one is left as typed
    if (!previous || input.value === String(previous.params[input.name])) input.value = String(s.params[input.name]);
  }
}
function strategyCard(s) {
  const error = el("p", { class: "error", role: "alert", id: `params-error-${s.name}` });
  const inputs = Object.entries(s.params).map(([key, value]) => {
    const input = el("input", { name: key, id: `param-${s.name}-${key}`, value: String(value), "data-kind": typeof value });
    return el("div", {}, el("label", { for: input.id }, key), input);
  });
  const toggle = el("button", { id: `toggle-${s.name}`, type: "button", onclick: async () => {
    const enabled = strategyState.get(s.name).enabled;
    const res = await api("POST", `/api/strategies/${encodeURIComponent(s.name)}/${enabled ? "disable" : "enable"}`);
    if (!res.ok) { error.textContent = describe(res.error, res.status); return; }
    error.textContent = "";
    await loadStrategies();
  } }, s.enabled ? "Disable" : "Enable");
  const save = el("button", { id: `save-${s.name}`, type: "submit", class: "primary" }, "Save parameters");
  const form = el("form", { class: "strategy", id: `strategy-${s.name}`, onsubmit: async (ev) => {
    ev.preventDefault();
    const current = strategyState.get(s.name).params;
    const body = {};
    for (const input of form.querySelectorAll("input")) {
      if (input.value === String(current[input.name])) continue;
      body[input.name] = parseParam(input.value, input.dataset.kind);
    }
    if (!Object.keys(body).length) { error.textContent = "nothing changed"; return; }
    const res = await api("PUT", `/api/strategies/${encodeURIComponent(s.name)}/params`, body);
    if (!res.ok) { error.textContent = describe(res.error, res.status); return; }
    error.textContent = "";
    $("control-result").className = "result";
    text("control-result", `${s.name}: parameters saved`);
    // the saved values are now the daemon's (as it normalised them): they follow it from here on
    if (res.data && res.data.params) {
      for (const key of Object.keys(body)) $(`param-${s.name}-${key}`).value = String(res.data.params[key]);
      strategyState.set(s.name, { ...strategyState.get(s.name), params: res.data.params });
    }
    await loadStrategies();
  } },
  el("div", { class: "head" }, el("strong", {}, s.name),
    el("span", { class: s.enabled ? "pos" : "neg", id: `enabled-${s.name}` }, s.enabled ? "enabled" : "disabled"), toggle),
  el("div", { class: "params" }, ...inputs), save, error);
  return form;
}
function parseParam(raw, kind) {
  // Numbers and booleans go as JSON values; anything else is sent as typed so the API names the problem.
  if (kind === "number" && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw.trim())) return Number(raw);
  if (kind === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
  return raw;
}

// ---- controls ---------------------------------------------------------------------------------------
const CONFIRM = {
  start: "Resume trading (entries and exits)?",
  stop: "Stop trading and cancel every resting order?",
  "stop-entry": "Stop new entries? Exits and resting-order management continue.",
  "circuit-breaker/reset": "Reset the circuit breaker? Trading stays stopped until you press Start.",
  "emergency/halt": "EMERGENCY HALT: stop trading and cancel every resting order now?",
  "emergency/cancel-all": "EMERGENCY: cancel every resting order on the exchange now?",
};
function confirmAction(message) {
  const dialog = $("confirm");
  text("confirm-text", message);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}
async function runAction(action) {
  if (!(await confirmAction(CONFIRM[action] || `${action}?`))) return;
  const result = $("control-result");
  const res = await api("POST", `/api/${action}`);
  if (!res.ok) {
    const missing = res.status === 404 || res.status === 405;
    result.className = "result error";
    result.textContent = missing ? `${action}: not available on this daemon (${describe(res.error, res.status)})`
      : res.status === 0 ? `${action}: no answer from the daemon (${describe(res.error)}); check its state before trying again`
        : `${action} refused: ${describe(res.error, res.status)}`;
    return;
  }
  result.className = "result";
  result.textContent = `${action}: done${res.data && res.data.state ? ` (state ${res.data.state})` : ""}`;
  if (res.data && res.data.state && res.data.mode) renderStatus(res.data);
  refreshAll();
}

// ---- refresh ----------------------------------------------------------------------------------------
async function refreshAll() {
  if (!token) return;
  const calls = [
    ["/api/status", renderStatus], ["/api/risk", renderRisk], ["/api/markets", renderMarkets],
    ["/api/positions", renderPositions], ["/api/orders?limit=20", renderOrders], ["/api/trades?limit=20", renderFills],
    ["/api/settlements?limit=20", renderSettlements], ["/api/decisions", renderDecisions],
    ["/api/pnl?group_by=day", (rows) => { view.pnlDay = rows; renderPnl(); }],
    ["/api/strategies", renderStrategies],
  ];
  await Promise.all(calls.map(async ([path, render]) => {
    const res = await api("GET", path);
    if (res.ok && token) render(res.data);
  }));
}

// ---- wiring -----------------------------------------------------------------------------------------
document.addEventListener("DOMContentLoaded", async () => {
  $("signin-form").addEventListener("submit", (ev) => { ev.preventDefault(); signIn($("token").value.trim()); });
  $("signout").addEventListener("click", () => signOut(""));
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => runAction(button.dataset.action));
  }
  window.addEventListener("resize", drawCurve);
  try { view.version = (await (await fetch("/api/health")).json()).version; } catch (_) { view.version = null; }
  if (token) {
    const res = await api("GET", "/api/status");
    // the daemon down or restarting: the page starts without figures, marked not live, and reconnects
    if (res.ok || res.status === 0 || res.status >= 502) {
      renewDocsCookie();
      begin(res.ok ? res.data : null);
    } else if (token) text("signin-error", describe(res.error, res.status));
  } else {
    $("signin").hidden = false;
  }
});

// kalshid dashboard: sign in with the API token (kept in sessionStorage, sent only as a header or in the
// WebSocket's first message), then follow /ws and refresh the REST views. Money arrives as dollar strings
// ("12.3400") and is handled as integer centi-cents here, never as binary floats.
"use strict";
(() => {
  const TOKEN_KEY = "kalshid.token";
  const REFRESH_MS = 5000;
  const MAX_LOG = 150;
  const MAX_CURVE = 2000;
  const $ = (id) => document.getElementById(id);

  let token = sessionStorage.getItem(TOKEN_KEY);
  let ws = null;
  let reconnectTimer = null;
  let refreshTimer = null;
  let tickTimer = null;
  let pendingRefresh = null;
  let backoffMs = 1000;
  let lastEventAt = null;
  let clockOffsetMs = 0; // exchange time minus local time (the simulator's clock may run fast)
  const view = { status: null, risk: null, markets: null, positions: [], pnlDay: [], decisions: null,
    strategies: [], curve: [], version: null };

  // ---- money: dollar strings <-> integer centi-cents ($1 = 10 000 cc) --------------------------------
  function toCc(value) {
    if (value === null || value === undefined || value === "") return null;
    const m = /^(-?)(\d+)(?:\.(\d{1,4}))?$/.exec(String(value).trim());
    if (!m) return null;
    const cc = Number(m[2]) * 10000 + Number((m[3] || "").padEnd(4, "0"));
    return m[1] === "-" ? -cc : cc;
  }
  function money(cc, signed) {
    if (cc === null || cc === undefined) return "–";
    const neg = cc < 0;
    const cents = Math.round(Math.abs(cc) / 100);
    const dollars = Math.floor(cents / 100).toLocaleString("en-US");
    const text = `$${dollars}.${String(cents % 100).padStart(2, "0")}`;
    if (neg) return `−${text}`;
    return signed && cc > 0 ? `+${text}` : text;
  }
  const dollars = (value) => money(toCc(value));
  const priceOf = (obj) => (obj.price !== undefined && obj.price !== null ? toCc(obj.price) : obj.price_cc ?? null);
  function cents(cc) { return cc === null || cc === undefined ? "–" : `${(cc / 100).toFixed(0)}¢`; }
  function signClass(el, cc) {
    el.classList.toggle("pos", cc !== null && cc > 0);
    el.classList.toggle("neg", cc !== null && cc < 0);
  }

  // ---- small DOM helpers -------------------------------------------------------------------------------
  function text(id, value) { $(id).textContent = value; }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "–")));
    return node;
  }
  function fillTable(id, rows, columns) {
    const body = $(id).tBodies[0];
    body.replaceChildren();
    if (!rows.length) {
      body.append(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, "none")));
      return;
    }
    for (const cells of rows) body.append(el("tr", {}, ...cells.map((c) => el("td", {}, c))));
  }
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–");
  function age(ms) {
    if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
    const s = Math.max(0, ms / 1000);
    return s < 90 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  }
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
      return { ok: false, status: 0, error: { code: "network", message: `cannot reach the daemon (${err.message})` } };
    }
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
    await api("POST", "/api/session"); // a short-lived HttpOnly cookie that lets /docs open in this browser
    begin(res.data);
  }
  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    if (ws) { ws.onclose = null; ws.close(1000); ws = null; }
    for (const t of [reconnectTimer, refreshTimer, tickTimer, pendingRefresh]) clearTimeout(t);
    clearInterval(refreshTimer); clearInterval(tickTimer);
    $("app").hidden = true;
    $("signin").hidden = false;
    text("signin-error", message || "");
    setConn(false, "signed out");
  }
  function begin(status) {
    $("signin").hidden = true;
    $("app").hidden = false;
    text("signin-error", "");
    if (status) renderStatus(status);
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
  function alertText(a) {
    const bits = [a.kind || "alert"];
    for (const key of ["strategy", "ticker", "from", "to", "reason", "detail", "attempt"]) {
      if (a[key] !== undefined && a[key] !== null) bits.push(`${key}=${a[key]}`);
    }
    return bits.join(" ");
  }
  function auditText(a) {
    const who = a.source || a.who || "operator";
    const what = a.action || a.command || "action";
    const change = a.before !== undefined || a.after !== undefined
      ? ` ${JSON.stringify(a.before ?? null)} → ${JSON.stringify(a.after ?? null)}` : "";
    const outcome = a.outcome ? ` [${a.outcome}]` : "";
    return `${who}: ${what}${a.target ? ` ${a.target}` : ""}${outcome}${change}${a.detail ? ` — ${a.detail}` : ""}`;
  }
  function logEvent(level, message, ts) {
    const list = $("audit");
    list.prepend(el("li", { class: `lvl-${level}` }, `${time(ts || new Date().toISOString())} ${level.toUpperCase()} ${message}`));
    while (list.children.length > MAX_LOG) list.lastChild.remove();
  }

  // ---- rendering ---------------------------------------------------------------------------------------
  function renderStatus(s) {
    view.status = s;
    if (s.exchange_time) clockOffsetMs = Date.parse(s.exchange_time) - Date.now();
    const mode = $("mode");
    const env = s.exchange_env || (s.mode === "sim" ? "sim" : envFromUrl(s.exchange && s.exchange.rest));
    const [modeLabel, note, cls] = s.mode === "sim" ? ["SIM", "play money", "sim"]
      : s.mode === "dry" ? [env === "prod" ? "PROD" : "DEMO", "dry run: no order leaves", "demo"]
      : env === "prod" ? ["LIVE", "REAL MONEY", "live"] : ["DEMO", "live orders, demo money", "demo"];
    mode.className = `mode ${cls}`;
    mode.replaceChildren(modeLabel, el("small", {}, note));
    const breakerState = (s.breaker && s.breaker.state) || "";
    const st = s.state === "running" && breakerState === "reducing" ? "stop_entry" : s.state;
    const label = { running: "RUNNING", stopped: "STOPPED", stop_entry: "STOP-ENTRY", halted: "HALTED" }[st] || st;
    const state = $("state");
    state.className = `state ${st}`;
    state.textContent = breakerState && breakerState !== "running" ? `${label} · breaker ${breakerState.toUpperCase()}` : label;
    const equity = toCc(s.equity);
    if (equity !== null) {
      view.curve.push([Date.now(), equity]);
      if (view.curve.length > MAX_CURVE) view.curve.shift();
    }
    text("equity", money(equity));
    renderButtons();
    renderPnl();
    renderWhy();
    renderHealth();
    drawCurve();
  }
  function envFromUrl(url) {
    if (!url) return null;
    return /demo/.test(url) ? "demo" : /kalshi\.com/.test(url) ? "prod" : "sim";
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
    const today = new Date().toISOString().slice(0, 10);
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
    const total = (realised ?? 0) + (unrealised ?? 0);
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
  function setBar(id, ratio) {
    const bar = $(id);
    const r = Math.max(0, Math.min(1, Number.isFinite(ratio) ? ratio : 0));
    bar.style.width = `${(r * 100).toFixed(1)}%`;
    bar.className = r >= 0.9 ? "red" : r >= 0.6 ? "amber" : "";
  }
  function drawCurve() {
    const canvas = $("equity-chart");
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600;
    const h = canvas.clientHeight || 160;
    if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const pts = view.curve;
    ctx.fillStyle = "#8b96a3";
    ctx.font = "12px system-ui, sans-serif";
    if (pts.length < 2) { ctx.fillText("equity curve: collecting samples…", 10, h / 2); return; }
    const risk = view.risk;
    const floor = risk ? Math.round(toCc(risk.breaker.peak_equity) * (1 - Number(risk.limits.breaker_drawdown_fraction))) : null;
    let lo = Math.min(...pts.map((p) => p[1]));
    let hi = Math.max(...pts.map((p) => p[1]));
    if (floor && floor > lo - (hi - lo) * 2) lo = Math.min(lo, floor);
    if (hi === lo) { hi += 10000; lo -= 10000; }
    const t0 = pts[0][0];
    const t1 = pts[pts.length - 1][0];
    const x = (t) => 8 + ((t - t0) / Math.max(1, t1 - t0)) * (w - 16);
    const y = (v) => h - 14 - ((v - lo) / (hi - lo)) * (h - 28);
    if (floor && floor >= lo) {
      ctx.strokeStyle = "#e5484d"; ctx.setLineDash([4, 4]); ctx.beginPath();
      ctx.moveTo(8, y(floor)); ctx.lineTo(w - 8, y(floor)); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = "#e5484d"; ctx.fillText(`breaker ${money(floor)}`, 10, y(floor) - 3);
    }
    ctx.strokeStyle = "#2fbf71"; ctx.lineWidth = 2; ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
    ctx.stroke();
    ctx.fillStyle = "#e6e9ee";
    ctx.fillText(money(hi), w - 80, 12);
    ctx.fillText(money(lo), w - 80, h - 2);
  }
  function renderWhy() {
    const s = view.status;
    const why = $("why");
    if (!s) return;
    const say = (cls, msg) => { why.className = `why ${cls}`; why.textContent = msg; };
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
    const last = d && d.last;
    if (last && last.verdict && !last.verdict.approved) {
      return say("blocked", `Running; the last proposal (${last.strategy}) was ${last.verdict.reduced ? "reduced" : "refused"} by risk: ${last.verdict.reason}${last.verdict.detail ? ` — ${last.verdict.detail}` : ""}.`);
    }
    if (last && last.verdict && last.verdict.approved) return say("ok", `Trading: last order approved for ${last.strategy} on ${last.signal?.ticker ?? "?"}.`);
    return say("ok", "Running; waiting for an edge (volatility warm-up, or no price far enough from fair value net of fees).");
  }
  function renderDecisions(d) {
    view.decisions = d;
    const rows = Object.entries(d.strategies || {}).map(([name, x]) => {
      const sig = x.last_signal;
      const v = x.last_verdict;
      return [
        name,
        sig ? `${sig.action} ${sig.count} ${sig.side} ${sig.ticker} @ ${cents(priceOf(sig))} (edge ${(Number(sig.edge) * 100).toFixed(1)}%)` : "no signal yet",
        v ? (v.approved ? "approved" : v.reduced ? "reduced" : "refused") : "–",
        v ? `${v.reason}${v.detail ? `: ${v.detail}` : ""}` : "–",
        time((sig && sig.ts) || (v && v.ts)), // the signal's time is the exchange's clock, like orders
      ];
    });
    fillTable("decisions", rows, 5);
    const chips = $("reasons");
    const counters = (view.status && view.status.counters) || {};
    chips.replaceChildren(...Object.entries(d.reasons || {}).sort((a, b) => b[1] - a[1])
      .map(([reason, n]) => el("span", { class: "chip", title: "risk verdicts since start" }, `${reason} ×${n}`)),
    ...Object.entries(counters).filter(([, n]) => typeof n === "number")
      .map(([name, n]) => el("span", { class: "chip counter", title: "pipeline counters since start" }, `${name.replaceAll("_", " ")} ${n}`)));
    renderWhy();
  }
  function renderMarkets(m) {
    view.markets = m;
    const box = $("markets");
    box.replaceChildren();
    for (const [label, w] of [["current", m.current], ["next", m.next]]) {
      if (!w) { box.append(el("div", { class: "market" }, el("h3", {}, `${label}: none`))); continue; }
      const fair = Object.entries(w.fair_value || {}).map(([k, v]) => `${k} ${(Number(v) * 100).toFixed(1)}%`).join(", ") || "–";
      const edge = Object.entries(w.edge || {}).map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : `${(Number(v) * 100).toFixed(1)}%`}`).join(", ") || "–";
      const dl = el("dl", { class: "kv" });
      const add = (k, v, id) => { dl.append(el("dt", {}, k)); dl.append(el("dd", id ? { "data-close": id } : {}, v)); };
      add("strike", w.floor_strike ? `$${w.floor_strike}` : "–");
      add("time left", "–", w.close_time);
      add("YES bid / ask", `${dollarsCents(w.yes_bid)} / ${dollarsCents(w.yes_ask)}`);
      add("NO bid / ask", `${dollarsCents(w.no_bid)} / ${dollarsCents(w.no_ask)}`);
      add("fair (YES)", fair);
      add("edge", edge);
      box.append(el("div", { class: "market", id: `market-${label}` }, el("h3", {}, `${label}: ${w.ticker}`), dl));
    }
    tick();
  }
  function dollarsCents(v) { const cc = toCc(v); return cc === null ? "–" : cents(cc); }
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
    renderHealth();
  }
  function renderRisk(r) {
    view.risk = r;
    const L = r.limits;
    const U = r.usage;
    const windows = Object.values(U.exposure_by_window || {}).map(toCc);
    const worstWindow = windows.length ? Math.max(...windows) : 0;
    const dayStart = toCc(r.breaker.day_start_equity);
    const equity = view.status ? toCc(view.status.equity) : null;
    const dayLoss = dayStart && equity !== null ? Math.max(0, dayStart - equity) : 0;
    const dayLimit = dayStart ? Math.round(dayStart * Number(L.breaker_daily_loss_fraction)) : null;
    const rows = [
      ["open positions", U.open_positions / L.max_concurrent_positions, `${U.open_positions} / ${L.max_concurrent_positions}`],
      ["daily loss (risk)", Math.max(0, toCc(U.loss_measure)) / toCc(L.max_daily_loss), `${dollars(U.loss_measure)} / ${dollars(L.max_daily_loss)}`],
      ["window exposure", worstWindow / toCc(L.max_window_exposure), `${money(worstWindow)} / ${dollars(L.max_window_exposure)}`],
      ["breaker day loss", dayLimit ? dayLoss / dayLimit : 0, dayLimit ? `${money(dayLoss)} / ${money(dayLimit)}` : "–"],
    ];
    const box = $("risk-bars");
    box.replaceChildren(...rows.map(([label, ratio, caption], i) => {
      const fill = el("div", { id: `risk-bar-${i}` });
      const row = el("div", { class: "bar-row" }, el("span", { class: "k" }, label), el("div", { class: "bar" }, fill), el("span", {}, caption));
      const r2 = Math.max(0, Math.min(1, Number.isFinite(ratio) ? ratio : 0));
      fill.style.width = `${(r2 * 100).toFixed(1)}%`;
      fill.className = r2 >= 0.9 ? "red" : r2 >= 0.6 ? "amber" : "";
      return row;
    }), el("p", { class: "small" }, `max order ${dollars(L.max_position_size)} · entry cut-off ${L.entry_cutoff_seconds} s · max data age ${L.max_data_age_seconds} s · resting orders ${U.resting_orders}`));
    renderPnl();
  }
  function renderHealth() {
    const s = view.status;
    const dl = $("health");
    dl.replaceChildren();
    const add = (k, v) => { dl.append(el("dt", {}, k)); dl.append(el("dd", {}, v)); };
    add("live feed", ws && ws.readyState === WebSocket.OPEN ? "connected" : "down");
    add("last event", lastEventAt ? `${age(Date.now() - lastEventAt)} ago` : "–");
    if (s) {
      add("exchange", s.exchange && s.exchange.connected ? "connected" : "DISCONNECTED");
      add("trading active", s.exchange && s.exchange.trading_active === false ? "no (exchange paused)" : "yes");
      add("reconciled", s.ready === false ? "not yet" : "yes");
      add("uptime", age((s.uptime_s || 0) * 1000));
      add("open orders", s.open_orders ?? "–");
    }
    if (view.version) add("version", view.version);
  }
  function renderPositions(items) {
    view.positions = items;
    fillTable("positions", items.map((p) => [p.ticker, p.yes_count, p.no_count, dollars(p.cost_basis), dollars(p.value),
      money(toCc(p.unrealized_pnl), true), dollars(p.worst_case_loss)]), 7);
  }
  function renderOrders(page) {
    fillTable("orders", page.items.map((o) => [time(o.ts), o.strategy || "external", o.ticker,
      `${o.action} ${o.side}`, cents(priceOf(o)), o.count, o.filled, o.status]), 8);
  }
  function renderFills(page) {
    fillTable("fills", page.items.map((f) => [time(f.ts), f.strategy || "external", f.ticker, `${f.action} ${f.side}`,
      cents(priceOf(f)), f.count, f.fee !== undefined ? dollars(f.fee) : money(f.fee_cc)]), 7);
  }
  function renderSettlements(page) {
    fillTable("settlements", page.items.map((r) => [r.ticker, r.fills, r.contracts, money(toCc(r.realized), true),
      dollars(r.fees), money(toCc(r.net), true)]), 6);
  }

  // ---- strategies: enable/disable and parameters -----------------------------------------------------
  async function loadStrategies() {
    const res = await api("GET", "/api/strategies");
    if (!res.ok) return;
    view.strategies = res.data;
    const box = $("strategies");
    box.replaceChildren(...res.data.map(strategyCard));
    renderWhy();
  }
  function strategyCard(s) {
    const error = el("p", { class: "error", role: "alert", id: `params-error-${s.name}` });
    const inputs = Object.entries(s.params).map(([key, value]) => {
      const input = el("input", { name: key, id: `param-${s.name}-${key}`, value: String(value), "data-kind": typeof value });
      return el("div", {}, el("label", { for: input.id }, key), input);
    });
    const toggle = el("button", { id: `toggle-${s.name}`, type: "button", onclick: async () => {
      const res = await api("POST", `/api/strategies/${encodeURIComponent(s.name)}/${s.enabled ? "disable" : "enable"}`);
      if (!res.ok) { error.textContent = describe(res.error, res.status); return; }
      await loadStrategies();
    } }, s.enabled ? "Disable" : "Enable");
    const save = el("button", { id: `save-${s.name}`, type: "submit", class: "primary" }, "Save parameters");
    const form = el("form", { class: "strategy", id: `strategy-${s.name}`, onsubmit: async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const input of form.querySelectorAll("input")) {
        const original = String(s.params[input.name]);
        if (input.value === original) continue;
        body[input.name] = parseParam(input.value, input.dataset.kind);
      }
      if (!Object.keys(body).length) { error.textContent = "nothing changed"; return; }
      const res = await api("PUT", `/api/strategies/${encodeURIComponent(s.name)}/params`, body);
      if (!res.ok) { error.textContent = describe(res.error, res.status); return; }
      error.textContent = "";
      text("control-result", `${s.name}: parameters saved`);
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
      if (res.ok) begin(res.data);
    } else {
      $("signin").hidden = false;
    }
  });
})();

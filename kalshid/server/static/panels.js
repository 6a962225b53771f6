// kalshid dashboard: the panels, drawn from the API's JSON (pure apart from the DOM they fill).
import { $, cents, dollars, dollarsCents, el, fillTable, money, priceOf, time, toCc } from "./format.js";

export function alertText(a) {
  const bits = [a.kind || "alert"];
  for (const key of ["strategy", "ticker", "from", "to", "reason", "detail", "attempt"]) {
    if (a[key] !== undefined && a[key] !== null) bits.push(`${key}=${a[key]}`);
  }
  return bits.join(" ");
}
export function auditText(a) {
  const who = a.source || a.who || "operator";
  const what = a.action || a.command || "action";
  const change = a.before !== undefined || a.after !== undefined
    ? ` ${JSON.stringify(a.before ?? null)} → ${JSON.stringify(a.after ?? null)}` : "";
  const outcome = a.outcome ? ` [${a.outcome}]` : "";
  return `${who}: ${what}${a.target ? ` ${a.target}` : ""}${outcome}${change}${a.detail ? ` — ${a.detail}` : ""}`;
}
export function envFromUrl(url) {
  if (!url) return null;
  return /demo/.test(url) ? "demo" : /kalshi\.com/.test(url) ? "prod" : "sim";
}
export function drawCurve(pts, risk) {
  const canvas = $("equity-chart");
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 600;
  const h = canvas.clientHeight || 160;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#8b96a3";
  ctx.font = "12px system-ui, sans-serif";
  if (pts.length < 2) { ctx.fillText("equity curve: collecting samples…", 10, h / 2); return; }
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
    ctx.strokeStyle = "#ef5b60"; ctx.setLineDash([4, 4]); ctx.beginPath();
    ctx.moveTo(8, y(floor)); ctx.lineTo(w - 8, y(floor)); ctx.stroke(); ctx.setLineDash([]);
    ctx.fillStyle = "#ef5b60"; ctx.fillText(`breaker ${money(floor)}`, 10, y(floor) - 3);
  }
  ctx.strokeStyle = "#2fbf71"; ctx.lineWidth = 2; ctx.beginPath();
  pts.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
  ctx.stroke();
  ctx.fillStyle = "#e6e9ee";
  ctx.fillText(money(hi), w - 80, 12);
  ctx.fillText(money(lo), w - 80, h - 2);
}
export function renderDecisions(d, status) {
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
  const counters = (status && status.counters) || {};
  chips.replaceChildren(...Object.entries(d.reasons || {}).sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => el("span", { class: "chip", title: "risk verdicts since start" }, `${reason} ×${n}`)),
  ...Object.entries(counters).filter(([, n]) => typeof n === "number")
    .map(([name, n]) => el("span", { class: "chip counter", title: "pipeline counters since start" }, `${name.replaceAll("_", " ")} ${n}`)));
}
export function renderMarkets(m) {
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
    const f = w.fees;
    add("fees", !f ? "–" : `${f.fee_type ? `${f.fee_type} ×${f.fee_multiplier}` : "unknown"}${f.modelled ? "" : " — entries refused"}`);
    box.append(el("div", { class: "market", id: `market-${label}` }, el("h3", {}, `${label}: ${w.ticker}`), dl));
  }
}
export function renderRisk(r, status) {
  const L = r.limits;
  const U = r.usage;
  const windows = Object.values(U.exposure_by_window || {}).map(toCc);
  const worstWindow = windows.length ? Math.max(...windows) : 0;
  const dayStart = toCc(r.breaker.day_start_equity);
  const equity = status ? toCc(status.equity) : null;
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
}
export function renderPositions(items) {
  fillTable("positions", items.map((p) => [p.ticker, p.yes_count, p.no_count, dollars(p.cost_basis), dollars(p.value),
    money(toCc(p.unrealized_pnl), true), dollars(p.worst_case_loss)]), 7);
}
export function renderOrders(page) {
  fillTable("orders", page.items.map((o) => [time(o.ts), o.strategy || "external", o.ticker,
    `${o.action} ${o.side}`, cents(priceOf(o)), o.count, o.filled, o.status]), 8);
}
export function renderFills(page) {
  fillTable("fills", page.items.map((f) => [time(f.ts), f.strategy || "external", f.ticker, `${f.action} ${f.side}`,
    cents(priceOf(f)), f.count, f.fee !== undefined ? dollars(f.fee) : money(f.fee_cc)]), 7);
}
export function renderSettlements(page) {
  fillTable("settlements", page.items.map((r) => [r.ticker, r.fills, r.contracts, money(toCc(r.realized), true),
    dollars(r.fees), money(toCc(r.net), true)]), 6);
}


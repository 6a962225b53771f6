// kalshid dashboard: money as integer centi-cents ($1 = 10 000 cc) parsed from the API's dollar strings,
// never binary floats; formatting; small DOM helpers.
export const $ = (id) => document.getElementById(id);

export function toCc(value) {
  if (value === null || value === undefined || value === "") return null;
  const m = /^(-?)(\d+)(?:\.(\d{1,4}))?$/.exec(String(value).trim());
  if (!m) return null;
  const cc = Number(m[2]) * 10000 + Number((m[3] || "").padEnd(4, "0"));
  return m[1] === "-" ? -cc : cc;
}
export function money(cc, signed) {
  if (cc === null || cc === undefined) return "–";
  const neg = cc < 0;
  const cents = Math.round(Math.abs(cc) / 100);
  const dollars = Math.floor(cents / 100).toLocaleString("en-US");
  const text = `$${dollars}.${String(cents % 100).padStart(2, "0")}`;
  if (neg) return `−${text}`;
  return signed && cc > 0 ? `+${text}` : text;
}
export const dollars = (value) => money(toCc(value));
export const priceOf = (obj) => (obj.price !== undefined && obj.price !== null ? toCc(obj.price) : obj.price_cc ?? null);
export function cents(cc) { return cc === null || cc === undefined ? "–" : `${(cc / 100).toFixed(0)}¢`; }
export function signClass(el, cc) {
  el.classList.toggle("pos", cc !== null && cc > 0);
  el.classList.toggle("neg", cc !== null && cc < 0);
}

export function text(id, value) { $(id).textContent = value; }
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "–")));
  return node;
}
export function fillTable(id, rows, columns) {
  const body = $(id).tBodies[0];
  body.replaceChildren();
  if (!rows.length) {
    body.append(el("tr", {}, el("td", { class: "empty", colspan: String(columns) }, "none")));
    return;
  }
  for (const cells of rows) body.append(el("tr", {}, ...cells.map((c) => el("td", {}, c))));
}
export const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "–");
export function age(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  const s = Math.max(0, ms / 1000);
  return s < 90 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
export function setBar(id, ratio) {
  const bar = $(id);
  const r = Math.max(0, Math.min(1, Number.isFinite(ratio) ? ratio : 0));
  bar.style.width = `${(r * 100).toFixed(1)}%`;
  bar.className = r >= 0.9 ? "red" : r >= 0.6 ? "amber" : "";
}
export function dollarsCents(v) { const cc = toCc(v); return cc === null ? "–" : cents(cc); }

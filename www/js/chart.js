// The balance over time as a small SVG line chart, drawn from a user's history (balance after each movement).
// Amounts only place points on the canvas here; the labels are the API's exact texts.

import { formatMoney } from "./money.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 200;
const PAD = { top: 14, right: 12, bottom: 26, left: 12 };

function node(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Draws `entries` (history items, any order) into `container`; a note when there is nothing to draw. */
export function drawBalanceChart(container, entries) {
  container.replaceChildren();
  const points = entries
    .map((entry) => ({ t: new Date(entry.created_at).getTime(), minor: BigInt(entry.balance_after_minor), entry }))
    .sort((a, b) => a.t - b.t || a.entry.id - b.entry.id);
  if (points.length === 0) {
    container.append(Object.assign(document.createElement("p"), { className: "empty", textContent: "No movements yet." }));
    return;
  }
  let low = points[0].minor;
  let high = points[0].minor;
  for (const p of points) {
    if (p.minor < low) low = p.minor;
    if (p.minor > high) high = p.minor;
  }
  if (low > 0n) low = 0n; // the axis starts at zero, so the line's height means something
  const span = high - low || 1n;
  const first = points[0].t;
  const last = points[points.length - 1].t;
  const innerWidth = WIDTH - PAD.left - PAD.right;
  const innerHeight = HEIGHT - PAD.top - PAD.bottom;
  // Even spacing by order when all points share a moment; by time otherwise.
  const x = (p, index) => PAD.left + (last > first ? ((p.t - first) / (last - first)) : index / Math.max(points.length - 1, 1)) * innerWidth;
  const y = (minor) => PAD.top + innerHeight - Number(((minor - low) * 10000n) / span) / 10000 * innerHeight;

  // A step line: the balance holds until the next movement.
  let path = "";
  points.forEach((p, index) => {
    const px = x(p, index).toFixed(1);
    const py = y(p.minor).toFixed(1);
    path += index === 0 ? `M${px},${py}` : `H${px}V${py}`;
  });
  const endX = (WIDTH - PAD.right).toFixed(1);
  path += `H${endX}`;
  const baseline = y(low).toFixed(1);
  const area = `${path}V${baseline}H${x(points[0], 0).toFixed(1)}Z`;

  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "chart-svg", preserveAspectRatio: "none",
    "aria-label": `Balance over time: from ${formatMoney(points[0].entry.balance_after)} to ${formatMoney(points[points.length - 1].entry.balance_after)}`,
  });
  svg.append(node("title", {}, "Balance over time"));
  for (const fraction of [0, 0.5, 1]) {
    const gy = (PAD.top + innerHeight * fraction).toFixed(1);
    svg.append(node("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: gy, y2: gy, class: "chart-grid" }));
  }
  svg.append(node("path", { d: area, class: "chart-area" }));
  svg.append(node("path", { d: path, class: "chart-line" }));
  points.forEach((p, index) => {
    // A zero-length line with round caps: a round dot even where the chart is stretched to its box.
    const dot = node("path", { d: `M${x(p, index).toFixed(1)},${y(p.minor).toFixed(1)}h0`, class: "chart-dot" });
    dot.append(node("title", {}, `${formatMoney(p.entry.balance_after)} · ${new Date(p.t).toLocaleString()}`));
    svg.append(dot);
  });
  container.append(svg);

  const legend = document.createElement("div");
  legend.className = "chart-legend";
  const item = (label, value) => {
    const span = document.createElement("span");
    const strong = document.createElement("strong");
    strong.textContent = value;
    span.append(`${label} `, strong);
    return span;
  };
  legend.append(
    item("High", formatMoney(maxEntry(points).entry.balance_after)),
    item("Now", formatMoney(points[points.length - 1].entry.balance_after)),
    item("Since", new Date(first).toLocaleDateString()),
  );
  container.append(legend);
}

function maxEntry(points) {
  return points.reduce((best, p) => (p.minor > best.minor ? p : best), points[0]);
}

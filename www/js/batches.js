// Batches on the dashboard: the service view's Batch panel (paste CSV lines, preview them, send them as one
// POST /api/batches, read each line's result) and the dialog that shows one batch (GET /api/batches/{id}),
// opened from a movement's "batch N" tag in the history and the feed.

import { ApiError, get, post } from "./api.js";
import { BATCH_LIMIT, batchBody, parseBatchCSV } from "./batchcsv.js";
import { $, el, fill, formatTime } from "./dom.js";
import { formatMoney } from "./money.js";

const count = (n, one, many = `${one}s`) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

/** The tag a movement that came in a batch carries; a click on it opens the batch (see setUpBatchDialog). */
export function batchTag(batchID) {
  if (batchID === null || batchID === undefined) return null;
  return el("button", { type: "button", class: "tag batch", dataset: { batch: batchID }, "aria-haspopup": "dialog",
    "aria-label": `Show batch ${batchID}` }, `batch ${batchID}`);
}

// --- the panel ----------------------------------------------------------------------------------------------

function cell(text, attributes = {}) {
  return el("td", attributes, text);
}

/** A line's result cell: before sending (ready, or why it cannot be read) or the API's answer for it. */
function resultCell(row, result) {
  if (row.error) return cell(`Cannot be read: ${row.error}`, { class: "result bad" });
  if (!result) return cell("Ready", { class: "result muted" });
  switch (result.kind) {
    case "applied": return cell(`Applied · movement #${result.movementID}`, { class: "result good" });
    case "replayed": return cell(`Already applied · movement #${result.movementID}`, { class: "result good" });
    case "refused": return cell(`Refused: ${result.message}`, { class: "result bad" });
    case "pending": return cell("Pending", { class: "result" });
    default: return cell("Not applied", { class: "result muted" });
  }
}

function rowElement(row, result, nameOf) {
  const bad = row.error || (result && result.kind === "refused");
  const good = result && (result.kind === "applied" || result.kind === "replayed");
  // Ids are digit strings here (exact); a name is looked up only for one a JavaScript number holds exactly.
  const who = (id) => (Number.isSafeInteger(Number(id)) ? nameOf(Number(id)) : `User #${id}`);
  return el("tr", { class: bad ? "row-bad" : good ? "row-good" : null, dataset: { line: row.line } },
    el("th", { scope: "row", class: "id line" }, String(row.line)),
    row.error
      ? el("td", { class: "memo raw", colspan: 4 }, el("code", {}, row.text))
      : [cell(who(row.from), { class: "name from" }), cell(who(row.to), { class: "name to" }),
        cell(formatMoney(row.amount), { class: "num amount" }), cell(row.memo || "", { class: "memo" })],
    resultCell(row, result));
}

/** The per-line results of an answer to POST /api/batches (200/201): by index, as the rows were sent. */
function resultsOf(answer) {
  return answer.results.map((r) => {
    if (r.status === "refused") return { kind: "refused", message: r.error ? r.error.message : "refused" };
    return { kind: r.status === "replayed" ? "replayed" : "applied", movementID: r.movement ? r.movement.id : null };
  });
}

/**
 * The Batch panel. `handleSubmit` is the dashboard's form runner (it keeps one Idempotency-Key until a definite
 * answer); `onApplied` brings the rest of the view up to date after money moved.
 */
export function setUpBatchPanel({ handleSubmit, fieldError, nameOf, onApplied }) {
  const form = $("#batch-form");
  const input = $("#batch-csv");
  const status = form.querySelector(".form-status");

  const atomic = () => form.elements.mode.value !== "items";

  function show(rows, results = null) {
    fill($("#batch-table tbody"), ...rows.map((row, i) => rowElement(row, results && results[i], nameOf)));
    $("#batch-preview").hidden = rows.length === 0;
  }

  function summarise(parsed) {
    const { rows, header } = parsed;
    const bad = rows.filter((row) => row.error).length;
    const parts = [];
    if (rows.length === 0) parts.push("Nothing to send yet.");
    else if (bad) parts.push(`${count(rows.length, "line")}, of which ${bad} cannot be read (marked below): fix or delete ${bad === 1 ? "it" : "them"} before sending.`);
    else parts.push(`${count(rows.length, "line")} ready to send.`);
    if (header !== null) parts.push(`The header on line ${header} is skipped.`);
    if (rows.length > BATCH_LIMIT) parts.push(`That is more than ${BATCH_LIMIT.toLocaleString("en-US")}, the most one batch takes.`);
    const summary = $("#batch-summary");
    summary.textContent = parts.join(" ");
    summary.classList.toggle("bad", bad > 0 || rows.length > BATCH_LIMIT);
  }

  function preview() {
    const parsed = parseBatchCSV(input.value);
    summarise(parsed);
    show(parsed.rows);
    return parsed;
  }

  input.addEventListener("input", preview);
  form.addEventListener("change", preview);
  form.addEventListener("reset", () => setTimeout(preview));
  preview();

  handleSubmit(form, async (key) => {
    const { rows } = preview();
    if (rows.length === 0) throw fieldError("csv", "Paste at least one line: from,to,amount,memo.");
    const bad = rows.filter((row) => row.error);
    if (bad.length) {
      const lines = bad.slice(0, 5).map((row) => row.line).join(", ") + (bad.length > 5 ? ", …" : "");
      throw fieldError("csv", `Nothing was sent: ${bad.length === 1 ? "line" : "lines"} ${lines} cannot be read (see the table).`);
    }
    if (rows.length > BATCH_LIMIT) {
      throw fieldError("csv", `Nothing was sent: ${count(rows.length, "line")}, and one batch takes at most ${BATCH_LIMIT.toLocaleString("en-US")}. Split them.`);
    }
    const isAtomic = atomic();
    let answer;
    try {
      answer = await post("/batches", batchBody(rows, isAtomic), { idempotencyKey: key });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      if (error.status === 0 || error.status >= 500) {
        // The outcome is unknown: the form keeps its Idempotency-Key, so sending again cannot apply twice.
        throw new ApiError(error.status, error.code, `${error.message} Send again when it is back: the same ` +
          "request key goes with it, so the batch cannot apply twice.");
      }
      if (error.status === 401) throw error;
      refused(rows, error, isAtomic);
      return;
    }
    if (answer && answer.status === "pending") {
      show(rows, rows.map(() => ({ kind: "pending" })));
      status.textContent = "Pending: the ledger's database is unreachable, so the batch was stored and will be " +
        `applied or refused when it is back (reference ${answer.idempotency_key}).`;
      status.className = "form-status";
      return;
    }
    const results = resultsOf(answer);
    show(rows, results);
    const applied = results.filter((r) => r.kind !== "refused").length;
    const refusedCount = results.length - applied;
    fill(status, `Batch ${answer.id} (${answer.atomic ? "all or nothing" : "item by item"}): `,
      `${count(applied, "line")} applied`, refusedCount ? `, ${refusedCount} refused (marked in the table)` : "",
      ". ", batchTag(answer.id));
    status.className = `form-status ${refusedCount ? "bad" : "good"}`;
    if (applied) onApplied();
  }, { moving: true });

  /** A whole batch refused (4xx): an atomic batch's first refused item marked, the other lines not applied. */
  function refused(rows, error, isAtomic) {
    const index = error.index !== null && error.index < rows.length ? error.index : null;
    show(rows, rows.map((_, i) => (i === index ? { kind: "refused", message: error.message } : { kind: "none" })));
    const mode = isAtomic ? "Nothing was applied (the batch is all or nothing)" : "Nothing was applied";
    const message = /[.!?]$/.test(error.message) ? error.message : `${error.message}.`;
    status.textContent = index === null ? `${mode}: ${message}` : `${mode}: line ${rows[index].line} was refused. ${message}`;
    status.className = "form-status bad";
  }
}

// --- the dialog ---------------------------------------------------------------------------------------------

const STATUS_NAMES = { applied: "Applied", replayed: "Already applied", refused: "Refused" };

function fact(term, ...description) {
  return el("div", {}, el("dt", {}, term), el("dd", {}, ...description));
}

function senderText(sender, nameOf) {
  if (!sender) return "—";
  return sender.role === "service" ? "Service role" : nameOf(sender.user_id);
}

function drawBatch(batch, nameOf) {
  $("#batch-dialog-title").textContent = `Batch ${batch.id}`;
  fill($("#batch-facts"),
    fact("Sent by", senderText(batch.sender, nameOf)),
    fact("Time", el("time", { datetime: batch.created_at }, formatTime(batch.created_at))),
    fact("Mode", batch.atomic ? "All or nothing" : "Item by item"),
    fact("Items", count(batch.item_count, "item")));
  const shown = batch.items.length;
  $("#batch-dialog-note").textContent = shown < batch.item_count
    ? `You see the ${count(shown, "item")} of this batch that concern${shown === 1 ? "s" : ""} you.` : "";
  fill($("#batch-items tbody"), ...batch.items.map((item) => el("tr", { dataset: { index: item.index } },
    el("th", { scope: "row", class: "id" }, String(item.index + 1)),
    el("td", {}, el("span", { class: `tag status-${item.status}` }, STATUS_NAMES[item.status] || item.status)),
    el("td", { class: "id" }, item.movement_id === null || item.movement_id === undefined ? "—" : `#${item.movement_id}`),
    el("td", { class: "muted" }, item.error ? item.error.code : ""))));
  $("#batch-items").hidden = shown === 0;
}

/**
 * The batch dialog: a click on any "batch N" tag opens it. A modal <dialog> keeps the keyboard inside and
 * closes on Escape; the focus goes back to the tag (or to the same batch's tag, if a live list redrew it).
 */
export function setUpBatchDialog({ nameOf, report }) {
  const dialog = $("#batch-dialog");
  let opener = null;
  let asked = 0;

  async function open(batchID, from) {
    opener = { element: from, list: from.closest("[id]") };
    const ask = ++asked;
    $("#batch-dialog-title").textContent = `Batch ${batchID}`;
    fill($("#batch-facts"));
    fill($("#batch-items tbody"));
    $("#batch-items").hidden = true;
    $("#batch-dialog-note").textContent = "Loading…";
    if (!dialog.open) dialog.showModal();
    $("#batch-dialog-close").focus();
    try {
      const batch = await get(`/batches/${batchID}`);
      if (ask === asked) drawBatch(batch, nameOf);
    } catch (error) {
      if (ask !== asked) return;
      if (error instanceof ApiError && error.status === 404) {
        $("#batch-dialog-note").textContent = `Batch ${batchID} cannot be shown: there is no such batch, or none of it concerns you.`;
      } else if (error instanceof ApiError) {
        $("#batch-dialog-note").textContent = error.message;
      } else {
        report(error);
      }
    }
  }

  document.addEventListener("click", (event) => {
    const tag = event.target.closest && event.target.closest("button.tag.batch[data-batch]");
    if (!tag) return;
    open(tag.dataset.batch, tag).catch(report);
  });
  $("#batch-dialog-close").addEventListener("click", () => dialog.close());
  // A click on the backdrop (the dialog element itself, outside its content) closes it too.
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => {
    if (!opener) return;
    const { element, list } = opener;
    opener = null;
    const again = element.isConnected ? element
      : list && list.querySelector(`button.tag.batch[data-batch="${CSS.escape(element.dataset.batch)}"]`);
    if (again) again.focus();
  });
}

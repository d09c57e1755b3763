// Reversals on the dashboard (issue 26): the "reversal of N" tag a reversal carries in the histories and the
// feed, the Refund / Reverse button on a transfer the viewer may reverse, and the dialog it opens: the transfer
// (GET /api/transfers/{id}: its amount, its reversals, what is left) and a form that reverses all or part of it
// (POST /api/transfers/{id}/reversals).

import { ApiError, get, post } from "./api.js";
import { $, el, fill, formatTime } from "./dom.js";
import { formatMoney } from "./money.js";

/** The tag a reversal carries: the transfer it reverses. */
export function reversalTag(reversalOf) {
  if (reversalOf === null || reversalOf === undefined) return null;
  return el("span", { class: "tag link reversal-of", dataset: { reversalOf } }, `reversal of ${reversalOf}`);
}

/**
 * The button a history row of a transfer gets when the viewer may reverse it: the payee (a refund; a person sees
 * only their own page) or the service role (either side). The payer may not.
 */
export function reverseButton(entry, viewer) {
  if (entry.kind !== "transfer_in" && entry.kind !== "transfer_out") return null;
  const me = viewer();
  const isPayee = entry.kind === "transfer_in";
  if (me.role !== "service" && !isPayee) return null;
  const label = isPayee ? "Refund" : "Reverse";
  return el("button", { type: "button", class: "quiet small", dataset: { reverse: entry.id, label },
    "aria-haspopup": "dialog", "aria-label": `${label} transfer ${entry.id}` }, label);
}

function fact(term, ...description) {
  return el("div", {}, el("dt", {}, term), el("dd", {}, ...description));
}

/**
 * The reversal dialog. `handleSubmit` is the dashboard's form runner (one Idempotency-Key until a definite
 * answer); `onReversed` brings the page up to date after money moved back.
 */
export function setUpReverseDialog({ handleSubmit, fieldError, amountFrom, nameOf, onReversed, report }) {
  const dialog = $("#reverse-dialog");
  const form = $("#reverse-form");
  const status = form.querySelector(".form-status");
  let transferID = null;
  let opener = null;
  let asked = 0;

  function draw(transfer) {
    const left = transfer.unreversed_amount;
    fill($("#reverse-facts"),
      fact("From", nameOf(transfer.from_user_id)),
      fact("To", nameOf(transfer.to_user_id)),
      fact("Amount", formatMoney(transfer.amount)),
      fact("Left to reverse", left === null || left === undefined ? "—" : formatMoney(left)));
    const reversals = transfer.reversals || [];
    $("#reverse-note").textContent = reversals.length
      ? `Reversed so far: ${reversals.map((r) => `${formatMoney(r.amount)} (#${r.id}, ${formatTime(r.created_at)})`).join(", ")}.`
      : "Not reversed yet.";
    $("#reverse-inputs").hidden = transfer.unreversed_amount_minor === 0;
    if (transfer.unreversed_amount_minor === 0) $("#reverse-note").textContent += " Nothing is left to reverse.";
    form.elements.amount.placeholder = left ? formatMoney(left) : "";
  }

  async function open(id, button) {
    opener = button;
    transferID = id;
    const ask = ++asked;
    const label = button.dataset.label;
    $("#reverse-dialog-title").textContent = `${label} transfer ${id}`;
    $("#reverse-submit").textContent = label;
    fill($("#reverse-facts"));
    form.reset();
    $("#reverse-inputs").hidden = true;
    delete form.dataset.key;
    status.textContent = "";
    status.className = "form-status";
    for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
    $("#reverse-note").textContent = "Loading…";
    if (!dialog.open) dialog.showModal();
    $("#reverse-dialog-close").focus();
    try {
      const transfer = await get(`/transfers/${id}`);
      if (ask !== asked) return;
      draw(transfer);
      if (!$("#reverse-inputs").hidden) form.elements.amount.focus();
    } catch (error) {
      if (ask !== asked) return;
      if (error instanceof ApiError) $("#reverse-note").textContent = error.message;
      else report(error);
    }
  }

  handleSubmit(form, async (key) => {
    const body = {};
    const amount = amountFrom(form, "amount", { optional: true });
    if (amount !== undefined) {
      if (amount === "0.00") throw fieldError("amount", "Enter more than zero, or leave it empty for all that is left.");
      body.amount = amount;
    }
    if (form.elements.memo.value) body.memo = form.elements.memo.value;
    const id = transferID;
    const reversal = await post(`/transfers/${id}/reversals`, body, { idempotencyKey: key });
    if (reversal && reversal.status === "pending" && reversal.id === undefined) {
      status.textContent = "Pending: the ledger's database is unreachable, so the reversal was stored and will be " +
        `applied or refused when it is back (reference ${reversal.idempotency_key}).`;
      status.className = "form-status";
      return;
    }
    form.reset();
    const transfer = await get(`/transfers/${id}`).catch(() => null);
    if (transfer && id === transferID) draw(transfer);
    status.textContent = `Reversed ${formatMoney(reversal.amount)} of transfer ${id}: ${nameOf(reversal.from_user_id)} ` +
      `paid it back to ${nameOf(reversal.to_user_id)} (reversal #${reversal.id}).`;
    status.className = "form-status good";
    await onReversed(reversal);
  }, { moving: true });

  document.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button[data-reverse]");
    if (!button) return;
    open(button.dataset.reverse, button).catch(report);
  });
  $("#reverse-dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("click", (event) => { if (event.target === dialog) dialog.close(); });
  dialog.addEventListener("close", () => {
    const id = opener && opener.dataset.reverse;
    const again = opener && opener.isConnected ? opener
      : id && document.querySelector(`button[data-reverse="${CSS.escape(id)}"]`);
    opener = null;
    if (again) again.focus();
  });
}

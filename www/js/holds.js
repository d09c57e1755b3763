// Holds on the dashboard (issue 26): placing one (a person's page and the service view), a user's pending holds
// with Capture (all or part) and Void, and the "hold N" tag a capture carries in the histories and the feed.
// A hold moves no money: it lowers the payer's available amount until it is captured, voided or expires.

import { ApiError, get, newIdempotencyKey, post, withExactIntegers } from "./api.js";
import { $, el, fill, formatTime } from "./dom.js";
import { centsToText, formatMoney, parseAmount } from "./money.js";

/** The longest hold the API takes (30 days), in seconds. */
const MAX_EXPIRES_IN = 30 * 24 * 3600;
const HOLDS_PAGE_SIZE = 10;

/** The tag a capture carries in a history or the feed: the hold it settled. */
export function holdTag(holdID) {
  if (holdID === null || holdID === undefined) return null;
  return el("span", { class: "tag link hold", dataset: { hold: holdID } }, `hold ${holdID}`);
}

/** An answer of a pool that spools while its database is down (202): stored, not applied yet. A hold's own
 * status is "pending" too, so the spool's answer is the one without an id. */
export function isSpooled(answer) {
  return Boolean(answer) && answer.status === "pending" && answer.id === undefined;
}

/** "in 59 min", "in 3 h", "in 2 days": how long until `iso`, for the pending list. */
function timeLeft(iso) {
  const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (Number.isNaN(seconds)) return "";
  if (seconds <= 0) return "now";
  if (seconds < 90) return `in ${seconds} s`;
  if (seconds < 90 * 60) return `in ${Math.round(seconds / 60)} min`;
  if (seconds < 36 * 3600) return `in ${Math.round(seconds / 3600)} h`;
  return `in ${Math.round(seconds / 86400)} days`;
}

/** The hold's lifetime in seconds from the form's "Expires in" number and unit (1 s to 30 days). */
function expiresInFrom(form, fieldError) {
  const text = form.elements.expires_in.value.trim();
  const unit = Number(form.elements.unit.value);
  const count = /^[1-9]\d{0,6}$/.test(text) ? Number(text) : null;
  if (count === null || count * unit > MAX_EXPIRES_IN) {
    throw fieldError("expires_in", "Enter a whole number of minutes, hours or days, at most 30 days in all.");
  }
  return count * unit;
}

function userIDFrom(form, name, fieldError, who) {
  const text = form.elements[name].value.trim().replace(/^#/, "");
  if (!/^[1-9]\d{0,18}$/.test(text)) throw fieldError(name, `Enter the ${who}'s user id, a positive number.`);
  return text;
}

/** What a placed hold's answer says, for a form's status line. */
function placedText(hold, nameOf) {
  return `Hold ${hold.id} placed: ${formatMoney(hold.amount)} from ${nameOf(hold.from_user_id)} reserved for ` +
    `${nameOf(hold.to_user_id)} until ${formatTime(hold.expires_at)}.`;
}

/**
 * The two "Place a hold" forms: a person's page (from that user) and the service view (from any user).
 * `handleSubmit`, `fieldError` and `amountFrom` are the dashboard's form helpers; `pageUserID()` the user whose
 * page is shown; `onPlaced(form, hold)` brings the view up to date.
 */
export function setUpHoldForms({ handleSubmit, fieldError, amountFrom, nameOf, pageUserID, onPlaced, onSpooled }) {
  async function place(form, key, from) {
    const to = userIDFrom(form, "to_user_id", fieldError, "receiver");
    const amount = amountFrom(form, "amount");
    const body = { amount, expires_in: expiresInFrom(form, fieldError) };
    if (form.elements.memo.value) body.memo = form.elements.memo.value;
    const hold = await post("/holds", withExactIntegers(body, { from_user_id: from, to_user_id: to }),
      { idempotencyKey: key });
    if (isSpooled(hold)) return onSpooled(form, hold);
    const keep = { expires_in: form.elements.expires_in.value, unit: form.elements.unit.value };
    form.reset();
    // The lifetime chosen stays for the next hold.
    form.elements.expires_in.value = keep.expires_in;
    form.elements.unit.value = keep.unit;
    await onPlaced(form, hold);
    const status = form.querySelector(".form-status");
    status.textContent = placedText(hold, nameOf);
    status.className = "form-status good";
  }

  handleSubmit($("#hold-form"), (key) => place($("#hold-form"), key, String(pageUserID())), { moving: true });
  handleSubmit($("#service-hold-form"), (key) => {
    const form = $("#service-hold-form");
    return place(form, key, userIDFrom(form, "from_user_id", fieldError, "payer"));
  }, { moving: true });
}

// --- a user's pending holds --------------------------------------------------------------------------------

/**
 * The Pending holds panel of a user's page: GET /api/users/{id}/holds?status=pending, each with the actions the
 * viewer may take (the service role: capture and void; the payee: capture and void; the payer: void). A capture
 * takes an optional amount (empty: all of it; the rest is released). Returns {load, reset}.
 */
export function setUpHoldsPanel({ pager, nameOf, learnNames, viewer, pageUserID, onSettled, report }) {
  const table = $("#holds-table");
  const status = $("#holds-status");
  const holdsPager = pager("holds", () => load({ force: true }).catch(report));
  /** One Idempotency-Key per action on a hold until it gets a definite answer (as a form keeps its key). */
  const keys = new Map();
  let busy = false;
  /** Whether the status line says the last load failed (a later good load clears it). */
  let loadFailed = false;

  function say(text, kind) {
    loadFailed = false;
    fill(status, text);
    status.className = `form-status ${kind}`;
  }

  function mayCapture(hold) {
    const me = viewer();
    return me.role === "service" || hold.to_user_id === me.id;
  }

  function row(hold) {
    const user = pageUserID();
    const paying = hold.from_user_id === user;
    const other = paying ? hold.to_user_id : hold.from_user_id;
    const actions = [];
    if (mayCapture(hold)) {
      actions.push(el("input", { class: "capture-amount", name: `capture-${hold.id}`, inputmode: "decimal",
        placeholder: formatMoney(hold.amount), "aria-label": `Amount to capture of hold ${hold.id} (empty: all)` }));
      actions.push(el("button", { type: "button", class: "small", dataset: { action: "capture", hold: hold.id },
        "aria-label": `Capture hold ${hold.id}` }, "Capture"));
    }
    actions.push(el("button", { type: "button", class: "quiet small", dataset: { action: "void", hold: hold.id },
      "aria-label": `Void hold ${hold.id}` }, "Void"));
    return el("tr", { dataset: { id: hold.id, amountMinor: hold.amount_minor } },
      el("td", { class: "id" }, `#${hold.id}`),
      el("td", { class: "name" }, el("span", { class: `tag ${paying ? "transfer_out" : "transfer_in"}` },
        paying ? "To" : "From"), " ", nameOf(other),
        hold.memo ? el("span", { class: "memo hold-memo" }, hold.memo) : null),
      el("td", { class: `num amount ${paying ? "out" : "in"}` }, formatMoney(hold.amount)),
      el("td", { class: "time" }, el("time", { datetime: hold.expires_at, title: formatTime(hold.expires_at) },
        timeLeft(hold.expires_at))),
      el("td", { class: "actions hold-actions" }, ...actions));
  }

  /** Draws the list, unless someone is at it (typing an amount, a button in flight): the next poll catches up. */
  async function load({ force = false } = {}) {
    const user = pageUserID();
    let page;
    try {
      page = await get(`/users/${user}/holds`, { status: "pending", limit: HOLDS_PAGE_SIZE,
        cursor: holdsPager.cursor });
    } catch (error) {
      // The panel says it could not load; the rest of the page stands (a 401 ends the session elsewhere).
      if (!(error instanceof ApiError) || error.status === 401) throw error;
      if (user === pageUserID() && (!status.textContent || loadFailed)) {
        say(`The holds could not be loaded: ${error.message}`, "bad");
        loadFailed = true;
      }
      return;
    }
    if (user !== pageUserID()) return;
    if (loadFailed) say("", "");
    loadFailed = false;
    const typing = Array.from(table.querySelectorAll("input.capture-amount")).some((input) => input.value !== "");
    if (!force && (busy || typing || table.contains(document.activeElement))) return;
    await learnNames(page.items.flatMap((h) => [h.from_user_id, h.to_user_id]));
    fill($("tbody", table), ...page.items.map(row));
    $("#holds-empty").hidden = page.items.length > 0;
    holdsPager.update(page.next_cursor);
  }

  function reset() {
    holdsPager.reset();
    keys.clear();
    fill($("tbody", table));
    say("", "");
  }

  async function act(button) {
    const holdID = button.dataset.hold;
    const action = button.dataset.action;
    const line = button.closest("tr");
    const body = {};
    if (action === "capture") {
      const input = line.querySelector("input.capture-amount");
      const text = input.value.trim();
      if (text !== "") {
        const cents = parseAmount(text);
        if (cents === null || cents === 0n) {
          say(`Hold ${holdID} was not captured: enter an amount such as 12.50 (at most two decimals, more than ` +
            "zero), or leave it empty to capture all of it.", "bad");
          input.setAttribute("aria-invalid", "true");
          input.focus();
          return;
        }
        body.amount = centsToText(cents);
      }
    }
    const keyName = `${action}:${holdID}:${body.amount || ""}`;
    if (!keys.has(keyName)) keys.set(keyName, newIdempotencyKey());
    busy = true;
    const buttons = line.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    try {
      const hold = await post(`/holds/${holdID}/${action}`, body, { idempotencyKey: keys.get(keyName) });
      keys.delete(keyName);
      if (isSpooled(hold)) {
        say(`Pending: the ledger's database is unreachable, so this ${action} of hold ${holdID} was stored and ` +
          `will be applied or refused when it is back (reference ${hold.idempotency_key}).`, "");
        return;
      }
      say(settledText(hold), "good");
      busy = false;
      await onSettled(hold);
      await load({ force: true });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // Only a network failure or a 5xx leaves the outcome unknown: the same key goes with a retry.
      if (error.status !== 0 && error.status < 500) keys.delete(keyName);
      const verb = action === "capture" ? "captured" : "voided";
      if (error.status === 0 || error.status >= 500) {
        say(`Hold ${holdID}: ${error.message} ${action === "capture" ? "Capture" : "Void"} again when it is back: ` +
          "the same request key goes with it, so it cannot apply twice.", "bad");
      } else {
        say(`Hold ${holdID} was not ${verb}: ${error.message}`, "bad");
      }
      busy = false;
      if (error.status === 409 || error.status === 404) load({ force: true }).catch(report);
    } finally {
      busy = false;
      buttons.forEach((b) => { if (b.isConnected) b.disabled = false; });
    }
  }

  table.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest("button[data-action]");
    if (!button || button.disabled) return;
    act(button).catch(report);
  });
  table.addEventListener("input", (event) => {
    if (event.target.matches("input.capture-amount")) event.target.removeAttribute("aria-invalid");
  });
  // Enter in a capture amount captures.
  table.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !event.target.matches("input.capture-amount")) return;
    event.preventDefault();
    const button = event.target.closest("tr").querySelector("button[data-action=capture]");
    if (button && !button.disabled) act(button).catch(report);
  });

  return { load, reset };
}

/** What a captured or voided hold's answer says. */
function settledText(hold) {
  if (hold.status === "voided") return `Hold ${hold.id} voided: ${formatMoney(hold.amount)} released.`;
  const released = BigInt(hold.amount_minor) - BigInt(hold.captured_amount_minor);
  const rest = released > 0n ? ` The other ${formatMoney(released)} is released.` : "";
  return `Hold ${hold.id} captured: ${formatMoney(hold.captured_amount)} moved as transfer #${hold.transfer_id}.${rest}`;
}

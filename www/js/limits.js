// Limits on the dashboard (issue 26): the service view's Limits panel sets a user's credit limit (how far below
// zero the balance may go) and daily debit limit (PATCH /api/users/{id}), and the words a page uses for them.

import { ApiError, get, patch } from "./api.js";
import { $ } from "./dom.js";
import { centsToText, formatMoney, parseAmount } from "./money.js";

/**
 * Why a user's available amount differs from the balance: "Held 20.00 · Credit limit 50.00 · Daily debit limit
 * 200.00 a day" (what is set only), or "". `short` is the users table's version ("held 20.00 · credit 50.00").
 */
export function limitsText(user, { short = false } = {}) {
  const parts = [];
  if (user.held_minor) parts.push(`${short ? "held" : "Held"} ${formatMoney(user.held)}`);
  if (user.credit_limit_minor) parts.push(`${short ? "credit" : "Credit limit"} ${formatMoney(user.credit_limit)}`);
  if (user.daily_debit_limit !== null && user.daily_debit_limit !== undefined) {
    const zone = user.time_zone && user.time_zone !== "UTC" ? ` (${user.time_zone})` : "";
    parts.push(short ? `daily ${formatMoney(user.daily_debit_limit)}`
      : `Daily debit limit ${formatMoney(user.daily_debit_limit)} a day${zone}`);
  }
  return parts.join(" · ");
}

function describe(user, nameOf) {
  const daily = user.daily_debit_limit === null || user.daily_debit_limit === undefined
    ? "none" : formatMoney(user.daily_debit_limit);
  return `${nameOf(user.id)}: balance ${formatMoney(user.balance)}, available ${formatMoney(user.available)}; ` +
    `credit limit ${formatMoney(user.credit_limit)}, daily debit limit ${daily}.`;
}

/**
 * The Limits panel. Entering a user id loads that user's limits into the fields; saving sends them. Before they
 * have loaded, an empty field is left as it is; after, an empty daily debit limit removes it (none) and an empty
 * credit limit is zero. `onSaved` brings the rest of the view up to date.
 */
export function setUpLimitsPanel({ handleSubmit, fieldError, nameOf, remember, onSaved, report }) {
  const form = $("#limits-form");
  const current = $("#limits-current");
  let asked = 0;

  /** The user's limits in the fields, as the API writes them (an empty field: none). */
  function showLimits(user) {
    form.elements.credit_limit.value = user.credit_limit_minor ? user.credit_limit : "";
    form.elements.daily_debit_limit.value = user.daily_debit_limit === null ? "" : user.daily_debit_limit;
  }

  const idText = () => form.elements.user_id.value.trim().replace(/^#/, "");

  async function loadLimits() {
    const id = idText();
    const ask = ++asked;
    delete form.dataset.loadedFor;
    current.textContent = "";
    if (!/^[1-9]\d{0,15}$/.test(id)) return;
    try {
      const user = await get(`/users/${id}`);
      if (ask !== asked || idText() !== id) return;
      remember([user]);
      showLimits(user);
      form.dataset.loadedFor = id;
      current.textContent = describe(user, nameOf);
    } catch (error) {
      if (ask !== asked) return;
      if (error instanceof ApiError && error.status === 404) current.textContent = `There is no user #${id}.`;
      else if (error instanceof ApiError) current.textContent = error.message;
      else report(error);
    }
  }

  form.elements.user_id.addEventListener("change", () => { loadLimits().catch(report); });

  function limitFrom(name, { positive }) {
    const text = form.elements[name].value;
    if (text.trim() === "") return undefined;
    const cents = parseAmount(text);
    if (cents === null || (positive && cents === 0n)) {
      throw fieldError(name, positive
        ? "Enter an amount such as 200.00, more than zero, or leave it empty for no daily limit."
        : "Enter an amount such as 50.00 (0 for none): digits, at most two decimals.");
    }
    return centsToText(cents);
  }

  handleSubmit(form, async () => {
    const id = idText();
    if (!/^[1-9]\d{0,15}$/.test(id)) throw fieldError("user_id", "Enter the user's id, a positive number.");
    const loaded = form.dataset.loadedFor === id;
    const body = {};
    const credit = limitFrom("credit_limit", { positive: false });
    const daily = limitFrom("daily_debit_limit", { positive: true });
    if (credit !== undefined) body.credit_limit = credit;
    else if (loaded) body.credit_limit = "0.00";
    if (daily !== undefined) body.daily_debit_limit = daily;
    else if (loaded) body.daily_debit_limit = null;
    if (Object.keys(body).length === 0) {
      throw fieldError("credit_limit", "Enter a credit limit or a daily debit limit (or wait for the user's to load).");
    }
    let user;
    try {
      user = await patch(`/users/${id}`, body);
    } catch (error) {
      // Refused for what the user's money uses now: show what that is, the refusal's words beside it.
      if (error instanceof ApiError && error.status === 409) {
        const now = await get(`/users/${id}`).catch(() => null);
        if (now && idText() === id) current.textContent = describe(now, nameOf);
      }
      throw error;
    }
    remember([user]);
    showLimits(user);
    form.dataset.loadedFor = id;
    current.textContent = describe(user, nameOf);
    const status = form.querySelector(".form-status");
    status.textContent = `Saved. ${describe(user, nameOf)}`;
    status.className = "form-status good";
    onSaved(user);
  });
}

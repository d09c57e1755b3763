// The dashboard: log in, the service view (totals, users, live feed, holds, limits) and a user's page (balance
// and available, chart, history, transfer, deposit, withdraw, holds, alerts). Routes live in the hash: #/login,
// #/service, #/users/ID.

import { ApiError, get, newIdempotencyKey, post, request, session, whenUnauthorized, withExactIntegers } from "./api.js";
import { batchTag, setUpBatchDialog, setUpBatchPanel } from "./batches.js";
import { drawBalanceChart } from "./chart.js";
import { $, el, fill, formatTime } from "./dom.js";
import { holdTag, isSpooled, setUpHoldForms, setUpHoldsPanel } from "./holds.js";
import { limitsText, setUpLimitsPanel } from "./limits.js";
import { centsToText, formatMoney, parseAmount } from "./money.js";
import { reversalTag, reverseButton, setUpReverseDialog } from "./reversals.js";

const POLL_MILLISECONDS = 3000;
const STATS_EVERY_POLLS = 3;
const PAGE_SIZE = 20;
const FEED_SIZE = 10;
const CHART_POINTS = 100;

const ALERT_NAMES = {
  30: "Withdrawals in a row",
  123: "Large deposits within the window",
  300: "Growing deposits",
  1100: "Large withdrawal",
  2000: "Daily debit limit reached",
};
const KIND_NAMES = {
  deposit: "Deposit", withdrawal: "Withdrawal", transfer_in: "Received", transfer_out: "Sent", transfer: "Transfer",
  reversal: "Reversal", reversal_in: "Refund in", reversal_out: "Refund out",
};
/** An alert's movement kind, as its amount is labelled ("Withdrawal 500.00"). */
const ALERT_KIND_NAMES = { deposit: "Deposit", withdrawal: "Withdrawal", transfer: "Transfer", reversal: "Reversal" };
/** History kinds that bring money in, and those with another user on the other side. */
const INCOMING = new Set(["deposit", "transfer_in", "reversal_in"]);
const BETWEEN_USERS = new Set(["transfer_in", "transfer_out", "reversal_in", "reversal_out"]);

/** Who is logged in: {role: "service"} or {role: "user", id, name, ...}; null before log-in. */
let me = null;
/** Names of users seen so far (id -> name), for counterparties and the transfer form's list. */
const knownNames = new Map();
/** The view on screen and its refresh function, called by the poller. */
let current = { name: null, refresh: null };

// --- forms ------------------------------------------------------------------------------------------------

function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  setStatus(form, "");
}

function setStatus(form, text, kind = "") {
  const status = form.querySelector(".form-status");
  if (!status) return;
  status.textContent = text;
  status.className = `form-status ${kind}`;
}

/** Shows an error at the input its field names (data-field), or in the form's status line. */
function showError(form, error) {
  const input = error.field ? form.querySelector(`[data-field="${CSS.escape(error.field)}"]`) : null;
  if (input) {
    const slot = document.getElementById(`${input.id}-error`);
    slot.textContent = error.message;
    input.setAttribute("aria-invalid", "true");
    // The error joins what already describes the input (a hint), once.
    const described = (input.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== slot.id);
    input.setAttribute("aria-describedby", [...described, slot.id].join(" "));
    input.focus();
    setStatus(form, "Not done: see the highlighted field.", "bad");
  } else {
    setStatus(form, error.message, "bad");
  }
}

/** A field error found before asking the API. */
const fieldError = (field, message) => new ApiError(0, "validation_failed", message, field);

/**
 * Runs `action` for a form's submission with its buttons disabled meanwhile. A money-moving form keeps one
 * Idempotency-Key until it gets a definite answer, so a repeat after a lost answer cannot move money twice.
 */
function handleSubmit(form, action, { moving = false } = {}) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.dataset.busy === "true") return;
    form.dataset.busy = "true";
    const buttons = form.querySelectorAll("button");
    buttons.forEach((b) => { b.disabled = true; });
    form.setAttribute("aria-busy", "true");
    clearErrors(form);
    if (moving && !form.dataset.key) form.dataset.key = newIdempotencyKey();
    try {
      await action(form.dataset.key);
      delete form.dataset.key;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      // Only a network failure or a 5xx leaves the outcome unknown: keep the key for the retry.
      if (error.status !== 0 && error.status < 500) delete form.dataset.key;
      if (error.code === "validation_failed" && error.status === 0) delete form.dataset.key;
      showError(form, error);
    } finally {
      form.dataset.busy = "false";
      form.removeAttribute("aria-busy");
      buttons.forEach((b) => { b.disabled = false; });
    }
  });
  // A changed form is a new request: it gets a new key. An edited field's error goes.
  const edited = (event) => {
    delete form.dataset.key;
    const input = event.target;
    if (input.getAttribute && input.getAttribute("aria-invalid")) {
      input.removeAttribute("aria-invalid");
      const slot = document.getElementById(`${input.id}-error`);
      if (slot) slot.textContent = "";
      if (!form.querySelector("[aria-invalid]")) setStatus(form, "");
    }
  };
  form.addEventListener("input", edited);
  form.addEventListener("change", edited);
}

function amountFrom(form, name, { optional = false } = {}) {
  const text = form.elements[name].value;
  if (optional && text.trim() === "") return undefined;
  const cents = parseAmount(text);
  if (cents === null || (!optional && cents === 0n)) {
    throw fieldError(name, "Enter an amount such as 12.50: digits, at most two decimals, more than zero.");
  }
  return centsToText(cents);
}

// --- views -----------------------------------------------------------------------------------------------

function showView(name) {
  for (const view of document.querySelectorAll(".view")) view.hidden = view.id !== `view-${name}`;
  document.body.dataset.view = name;
}

function notice(text, kind = "") {
  const box = $("#notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
}

function nameOf(id) {
  if (id === null || id === undefined) return "Outside world";
  const name = knownNames.get(id);
  return name ? `${name} (#${id})` : `User #${id}`;
}

function remember(users) {
  for (const user of users) knownNames.set(user.id, user.name);
  const list = $("#known-users");
  const others = Array.from(knownNames).filter(([id]) => id !== pageUserID);
  fill(list, ...others.map(([id, name]) => el("option", { value: id }, name)));
}

/** Fetches names the page does not know yet (the service role only: a user may not read others). */
async function learnNames(ids) {
  if (!me || me.role !== "service") return;
  const missing = [...new Set(ids)].filter((id) => id !== null && id !== undefined && !knownNames.has(id));
  const users = await Promise.all(missing.slice(0, 20).map((id) => get(`/users/${id}`).catch(() => null)));
  remember(users.filter(Boolean));
}

// A paged list: a stack of the cursors that led to each page.
function pager(prefix, load) {
  const state = { cursors: [null], index: 0, next: null };
  const prev = $(`#${prefix}-prev`);
  const next = $(`#${prefix}-next`);
  prev.addEventListener("click", () => { if (state.index > 0) { state.index -= 1; load(); } });
  next.addEventListener("click", () => {
    if (!state.next) return;
    state.cursors[state.index + 1] = state.next;
    state.index += 1;
    load();
  });
  return {
    get cursor() { return state.cursors[state.index]; },
    get isFirst() { return state.index === 0; },
    reset() { state.cursors = [null]; state.index = 0; },
    update(nextCursor) {
      state.next = nextCursor;
      prev.disabled = state.index === 0;
      next.disabled = !nextCursor;
      $(`#${prefix}-page`).textContent = `Page ${state.index + 1}`;
    },
  };
}

// --- log in ------------------------------------------------------------------------------------------------

function showLogin(message) {
  me = null;
  stopPolling();
  current = { name: "login", refresh: null };
  $("#who").hidden = true;
  $("#nav-service").hidden = true;
  showView("login");
  notice(message || "", message ? "bad" : "");
}

handleSubmit($("#login-form"), async () => {
  const form = $("#login-form");
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (!username) throw fieldError("username", "Enter your username.");
  if (!password) throw fieldError("password", "Enter your password.");
  const answer = await request("POST", "/auth/login", { body: { username, password }, token: null });
  session.token = answer.token;
  form.reset();
  await start();
});

handleSubmit($("#token-form"), async () => {
  const form = $("#token-form");
  const token = form.elements.token.value.trim();
  if (!token) throw fieldError("token", "Paste the service token.");
  try {
    await request("GET", "/me", { token });
  } catch (error) {
    if (error.status === 401) throw fieldError("token", "This token is not valid (unknown, expired or revoked).");
    throw error;
  }
  session.token = token;
  form.reset();
  await start();
});

/**
 * Ends the session in this tab. A person's token (a log-in, or a user's token pasted in) is always revoked; the
 * service token only when `revoke` is asked for explicitly (the Revoke token button): it is usually shared
 * with other tools, and a casual "Log out" must not lock them all out.
 */
async function logOut(revoke) {
  const buttons = [$("#logout"), $("#revoke")];
  for (const button of buttons) button.disabled = true;
  const isService = me && me.role === "service";
  let revoked = false;
  if (me && (me.role === "user" || revoke)) {
    // A 401: the token no longer works anyway (revoked elsewhere, or expired).
    revoked = await post("/auth/logout").then(() => true, (error) => error.status === 401);
  }
  session.token = null;
  for (const button of buttons) button.disabled = false;
  knownNames.clear();
  history.replaceState(null, "", "#/login");
  showLogin();
  if (isService && revoke && revoked) {
    notice("You are logged out, and the service token is revoked: it no longer works anywhere.", "good");
  } else if (isService && revoke) {
    notice("You are logged out, but the service token could not be revoked: it may still be valid.", "bad");
  } else if (isService) {
    notice("You are logged out of this tab. The service token stays valid: use Revoke token to end it everywhere.",
      "good");
  } else {
    notice("You are logged out.", "good");
  }
}

$("#logout").addEventListener("click", () => { logOut(false).catch(report); });
$("#revoke").addEventListener("click", () => { logOut(true).catch(report); });

whenUnauthorized(() => {
  session.token = null;
  // replaceState, not location.hash: a hashchange would route again and clear the message.
  history.replaceState(null, "", "#/login");
  showLogin("Your session has ended. Please log in again.");
});

// --- the service view ----------------------------------------------------------------------------------------

const usersPager = pager("users", () => loadUsers());
let searchName = "";

function localMidnightSeconds() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  return Math.floor(midnight.getTime() / 1000);
}

async function loadStats() {
  const stats = await get("/stats", { since: localMidnightSeconds() });
  $("#stat-users").textContent = stats.users.toLocaleString();
  $("#stat-money").textContent = formatMoney(stats.balance_total);
  $("#stat-movements").textContent = stats.movements.toLocaleString();
  $("#stat-alerts").textContent = stats.alerts.toLocaleString();
}

/** A user's available amount, and under it what makes it differ from the balance (holds, limits). */
function availableCell(user) {
  if (user.available === undefined) return "—";
  const why = limitsText(user, { short: true });
  return [el("span", { class: "figure" }, formatMoney(user.available)),
    why ? el("span", { class: "cell-note", title: limitsText(user) }, why) : null];
}

async function loadUsers() {
  const form = $("#search-form");
  try {
    const page = await get("/users", { limit: PAGE_SIZE, cursor: usersPager.cursor, name: searchName });
    $("#search-name-error").textContent = "";
    remember(page.items);
    const rows = page.items.map((user) => el("tr", {},
      el("td", { class: "id" }, `#${user.id}`),
      el("td", { class: "name" }, el("a", { href: `#/users/${user.id}` }, user.name)),
      el("td", { class: "muted" }, user.username || "—"),
      el("td", { class: "num user-balance" }, formatMoney(user.balance)),
      el("td", { class: "num user-available" }, availableCell(user)),
      el("td", { class: "actions" }, el("a", { href: `#/users/${user.id}`, class: "button-link",
        "aria-label": `Open ${user.name}` }, "Open")),
    ));
    fill($("#users-table tbody"), ...rows);
    $("#users-empty").hidden = rows.length > 0;
    usersPager.update(page.next_cursor);
  } catch (error) {
    if (error.field === "name") showError(form, error);
    else throw error;
  }
}

function feedMovement(item) {
  const who = item.kind === "transfer" || item.kind === "reversal"
    ? `${nameOf(item.from_user_id)} → ${nameOf(item.to_user_id)}`
    : item.kind === "deposit" ? `${nameOf(item.to_user_id)}` : `${nameOf(item.from_user_id)}`;
  return el("li", { class: `feed-item kind-${item.kind}`, dataset: { id: item.id } },
    el("span", { class: "feed-main" },
      el("span", { class: `tag ${item.kind}` }, KIND_NAMES[item.kind] || item.kind),
      el("span", { class: "feed-who", title: who }, who)),
    el("span", { class: "feed-side" },
      el("span", { class: "amount" }, formatMoney(item.amount)),
      el("time", { datetime: item.created_at }, formatTime(item.created_at))),
    item.memo || item.batch_id || item.hold_id || item.reversal_of
      ? el("span", { class: "feed-memo" }, batchTag(item.batch_id), holdTag(item.hold_id), reversalTag(item.reversal_of),
        item.memo || "")
      : null);
}

function feedAlert(alert, { withUser = true } = {}) {
  const who = nameOf(alert.user_id);
  return el("li", { class: "feed-item alert", dataset: { id: alert.id, code: alert.code } },
    el("span", { class: "feed-main" },
      el("span", { class: "tag alert-code" }, String(alert.code)),
      el("span", { class: "feed-who" }, ALERT_NAMES[alert.code] || "Alert")),
    el("span", { class: "feed-side" },
      el("span", { class: "amount" }, `${ALERT_KIND_NAMES[alert.kind] || "Deposit"} ${formatMoney(alert.amount)}`),
      el("time", { datetime: alert.created_at }, formatTime(alert.created_at))),
    withUser ? el("span", { class: "feed-user", title: who }, who) : null);
}

function fillFeed(list, items, render, emptyText) {
  // Not while the keyboard is on it (a batch tag): a redraw would drop the focus. The next poll catches up.
  if (list.contains(document.activeElement)) return;
  const newest = list.dataset.newest ? Number(list.dataset.newest) : null;
  fill(list, ...items.map((item) => {
    const row = render(item);
    if (newest !== null && item.id > newest) row.classList.add("fresh");
    return row;
  }));
  if (items.length === 0) list.append(el("li", { class: "empty" }, emptyText));
  if (items.length) list.dataset.newest = String(items[0].id);
}

async function loadServiceFeed() {
  const [movements, alerts] = await Promise.all([
    get("/transactions", { limit: FEED_SIZE }), get("/alerts", { limit: FEED_SIZE }),
  ]);
  await learnNames([
    ...movements.items.flatMap((m) => [m.from_user_id, m.to_user_id]), ...alerts.items.map((a) => a.user_id),
  ]);
  fillFeed($("#feed-movements"), movements.items, feedMovement, "No movements yet.");
  fillFeed($("#feed-alerts"), alerts.items, feedAlert, "No alerts yet.");
}

$("#search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  searchName = $("#search-name").value.trim();
  usersPager.reset();
  loadUsers().catch(report);
});

handleSubmit($("#create-form"), async (key) => {
  const form = $("#create-form");
  const name = form.elements.name.value;
  if (!name.trim()) throw fieldError("name", "Enter a name.");
  const body = { name };
  const balance = amountFrom(form, "initial_balance", { optional: true });
  if (balance !== undefined) body.initial_balance = balance;
  const username = form.elements.username.value.trim();
  const password = form.elements.password.value;
  if (username || password) {
    if (!username) throw fieldError("username", "Give a username with the password, or neither.");
    if (!password) throw fieldError("password", "Give a password with the username, or neither.");
    body.username = username;
    body.password = password;
  }
  const user = await post("/users", body, { idempotencyKey: key });
  form.reset();
  remember([user]);
  setStatus(form, "", "good");
  const status = form.querySelector(".form-status");
  fill(status, "Created ", el("a", { href: `#/users/${user.id}` }, `${user.name} (#${user.id})`),
    ` with ${formatMoney(user.balance)}.`);
  status.className = "form-status good";
  // The table and the totals catch up on their own; the form is free again at once.
  loadUsers().catch(report);
  loadStats().catch(report);
}, { moving: true });

// The Batch panel: after money moved, the balances, totals and feed catch up at once.
setUpBatchPanel({
  handleSubmit, fieldError, nameOf,
  onApplied: () => { Promise.all([loadUsers(), loadStats(), loadServiceFeed()]).catch(report); },
});
setUpBatchDialog({ nameOf, report });

// Limits (the service view) and the two hold forms (the service view; a user's page).
setUpLimitsPanel({
  handleSubmit, fieldError, nameOf, remember, report,
  onSaved: () => { loadUsers().catch(report); },
});
setUpHoldForms({
  handleSubmit, fieldError, amountFrom, nameOf, pageUserID: () => pageUserID,
  onPlaced: async (form, hold) => {
    if (form.id === "hold-form") await refreshUser();
    else await Promise.all([loadUsers(), learnNames([hold.from_user_id, hold.to_user_id])]);
  },
  onSpooled: (form, answer) => pending(form, answer),
});

let pollCount = 0;
async function showService() {
  if (!me || me.role !== "service") {
    location.hash = me ? `#/users/${me.id}` : "#/login";
    return;
  }
  showView("service");
  document.title = "Service overview · Tally";
  pollCount = 0;
  current = {
    name: "service",
    refresh: async () => {
      pollCount += 1;
      const work = [loadServiceFeed()];
      if (pollCount % STATS_EVERY_POLLS === 0) work.push(loadStats());
      // The table is redrawn only when nobody is on it with the keyboard (a redraw would drop the focus).
      if (usersPager.isFirst && !$("#users-table").contains(document.activeElement)) work.push(loadUsers());
      await Promise.all(work);
    },
  };
  await Promise.all([loadStats(), loadUsers(), loadServiceFeed()]);
  startPolling();
}

// --- the user page -----------------------------------------------------------------------------------------------

let pageUserID = null;
const historyPager = pager("history", () => loadHistory().catch(report));

async function loadUser() {
  const user = await get(`/users/${pageUserID}`);
  remember([user]);
  $("#user-name").textContent = user.name;
  $("#user-meta").textContent = `User #${user.id}${user.username ? ` · @${user.username}` : ""} · since ${formatTime(user.created_at)}`;
  $("#user-balance").textContent = formatMoney(user.balance);
  $("#user-available").textContent = user.available === undefined ? "–" : formatMoney(user.available);
  const limits = limitsText(user);
  $("#user-limits").textContent = limits;
  $("#user-limits").hidden = limits === "";
  document.title = `${user.name} · Tally`;
  return user;
}

function historyRow(entry) {
  const incoming = INCOMING.has(entry.kind);
  return el("tr", { dataset: { id: entry.id } },
    el("td", { class: "time" }, el("time", { datetime: entry.created_at }, formatTime(entry.created_at))),
    el("td", { class: "kind" }, el("span", { class: `tag ${entry.kind}` }, KIND_NAMES[entry.kind] || entry.kind),
      batchTag(entry.batch_id), holdTag(entry.hold_id), reversalTag(entry.reversal_of)),
    el("td", { class: "name" }, BETWEEN_USERS.has(entry.kind) ? nameOf(entry.counterparty_user_id) : "—"),
    el("td", { class: "memo" }, entry.memo || ""),
    el("td", { class: `num amount ${incoming ? "in" : "out"}` }, `${incoming ? "+" : "−"}${formatMoney(entry.amount)}`),
    el("td", { class: "num" }, formatMoney(entry.balance_after)),
    el("td", { class: "actions" }, reverseButton(entry, () => me)));
}

async function loadHistory() {
  const page = await get(`/users/${pageUserID}/transactions`, { limit: PAGE_SIZE, cursor: historyPager.cursor });
  await learnNames(page.items.map((e) => e.counterparty_user_id));
  const rows = page.items.map(historyRow);
  fill($("#history-table tbody"), ...rows);
  $("#history-empty").hidden = rows.length > 0;
  historyPager.update(page.next_cursor);
}

async function loadChart() {
  const page = await get(`/users/${pageUserID}/transactions`, { limit: CHART_POINTS });
  drawBalanceChart($("#chart"), page.items);
}

async function loadUserAlerts() {
  const page = await get(`/users/${pageUserID}/alerts`, { limit: FEED_SIZE });
  fillFeed($("#user-alerts"), page.items, (a) => feedAlert(a, { withUser: false }), "No alerts.");
}

const holdsPanel = setUpHoldsPanel({
  pager, nameOf, learnNames, report, viewer: () => me, pageUserID: () => pageUserID,
  onSettled: () => refreshUser(),
});

setUpReverseDialog({
  handleSubmit, fieldError, amountFrom, nameOf, report,
  onReversed: () => refreshUser(),
});

async function refreshUser() {
  const work = [loadUser(), loadChart(), loadUserAlerts(), holdsPanel.load()];
  // Not while the keyboard is in the table (a batch tag): a redraw would drop the focus.
  if (historyPager.isFirst && !$("#history-table").contains(document.activeElement)) work.push(loadHistory());
  await Promise.all(work);
}

/** A 202 from a pool that spools while its database is down: stored, not yet applied (docs/operations.md, Store and forward). */
function isPending(answer) {
  return isSpooled(answer);
}

function pending(form, answer) {
  form.reset();
  const status = form.querySelector(".form-status");
  status.textContent = `Pending: the ledger's database is unreachable, so this was stored and will be applied or ` +
    `refused when it is back (reference ${answer.idempotency_key}). The balance shown is from before.`;
  status.className = "form-status";
}

/** After money moved: the new balance in the form's status, and the page brought up to date. */
async function moved(form, text) {
  form.reset();
  await refreshUser();
  const status = form.querySelector(".form-status");
  status.textContent = text;
  status.className = "form-status good";
}

handleSubmit($("#transfer-form"), async (key) => {
  const form = $("#transfer-form");
  const to = form.elements.to_user_id.value.trim().replace(/^#/, "");
  if (!/^[1-9]\d{0,18}$/.test(to)) throw fieldError("to_user_id", "Enter the receiver's user id, a positive number.");
  const amount = amountFrom(form, "amount");
  const body = { from_user_id: pageUserID, amount };
  if (form.elements.memo.value) body.memo = form.elements.memo.value;
  const transfer = await post("/transfers", withExactIntegers(body, { to_user_id: to }), { idempotencyKey: key });
  if (isPending(transfer)) return pending(form, transfer);
  await moved(form, `Sent ${formatMoney(transfer.amount)} to ${nameOf(transfer.to_user_id)}. New balance: ${formatMoney(transfer.from_balance)}.`);
}, { moving: true });

for (const [id, path, verb] of [["deposit", "deposits", "Deposited"], ["withdraw", "withdrawals", "Withdrew"]]) {
  handleSubmit($(`#${id}-form`), async (key) => {
    const form = $(`#${id}-form`);
    const body = { amount: amountFrom(form, "amount") };
    if (form.elements.memo.value) body.memo = form.elements.memo.value;
    const cash = await post(`/users/${pageUserID}/${path}`, body, { idempotencyKey: key });
    if (isPending(cash)) return pending(form, cash);
    const alerts = cash.alert_codes && cash.alert_codes.length
      ? ` Alerts raised: ${cash.alert_codes.map((c) => `${c} (${ALERT_NAMES[c] || "alert"})`).join(", ")}.` : "";
    await moved(form, `${verb} ${formatMoney(cash.amount)}. New balance: ${formatMoney(cash.balance)}.${alerts}`);
  }, { moving: true });
}

async function showUser(id) {
  if (!me) return;
  if (me.role === "user" && me.id !== id) {
    // Back to their own page (no hashchange: the notice stays).
    history.replaceState(null, "", `#/users/${me.id}`);
    await showUser(me.id);
    notice("You can see only your own account.", "bad");
    return;
  }
  if (pageUserID !== id) {
    pageUserID = id;
    historyPager.reset();
    holdsPanel.reset();
    for (const form of ["#transfer-form", "#deposit-form", "#withdraw-form", "#hold-form"]) {
      $(form).reset();
      clearErrors($(form));
      delete $(form).dataset.key;
    }
    fill($("#user-alerts"));
    delete $("#user-alerts").dataset.newest;
    $("#user-name").textContent = "";
    $("#user-balance").textContent = "–";
    $("#user-available").textContent = "–";
    $("#user-limits").hidden = true;
  }
  $("#user-crumbs").hidden = me.role !== "service";
  showView("user");
  current = { name: "user", refresh: refreshUser };
  try {
    await refreshUser();
  } catch (error) {
    if (error.status === 404) {
      fill($("#user-name"), `No user #${id}`);
      notice(`There is no user with id ${id}.`, "bad");
      return;
    }
    throw error;
  }
  startPolling();
}

// --- polling: the live feed ------------------------------------------------------------------------------------------

let timer = null;
let polling = false;

function startPolling() {
  stopPolling();
  if (document.hidden) return;
  timer = setInterval(async () => {
    if (polling || document.hidden || !current.refresh) return;
    polling = true;
    try {
      await current.refresh();
    } catch (error) {
      report(error);
    } finally {
      polling = false;
    }
  }, POLL_MILLISECONDS);
}

function stopPolling() {
  if (timer) clearInterval(timer);
  timer = null;
}

// A hidden tab asks nothing; it catches up at once when it is shown again.
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    stopPolling();
  } else if (current.refresh) {
    current.refresh().catch(report);
    startPolling();
  }
});

// --- start ---------------------------------------------------------------------------------------------------------

function report(error) {
  if (error instanceof ApiError) {
    if (error.status === 401) return; // whenUnauthorized has taken the person to the log-in
    notice(error.message, "bad");
  } else {
    console.error(error);
    notice("Something went wrong on this page; reload it to try again.", "bad");
  }
}

async function route() {
  const hash = location.hash || "#/";
  if (!me) {
    showLogin();
    return;
  }
  notice("");
  const userMatch = /^#\/users\/(\d+)$/.exec(hash);
  if (userMatch) return showUser(Number(userMatch[1]));
  if (hash === "#/service") return showService();
  location.hash = me.role === "service" ? "#/service" : `#/users/${me.id}`;
}

async function start() {
  if (!session.token) {
    showLogin();
    return;
  }
  const answer = await get("/me");
  me = answer.role === "service" ? { role: "service" } : { ...answer, role: "user" };
  $("#who").hidden = false;
  $("#who-name").textContent = me.role === "service" ? "Service role" : `${me.name}`;
  $("#nav-service").hidden = me.role !== "service";
  $("#revoke").hidden = me.role !== "service";
  if (me.role === "user") remember([me]);
  const target = me.role === "service" ? "#/service" : `#/users/${me.id}`;
  if (!location.hash || location.hash === "#/" || location.hash === "#/login") {
    location.hash = target; // hashchange routes
  } else {
    await route();
  }
}

window.addEventListener("hashchange", () => { route().catch(report); });
start().catch((error) => {
  if (error instanceof ApiError && error.status === 401) return;
  showLogin(error.message || "The service could not be reached.");
});

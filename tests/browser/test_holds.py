"""Holds, reversals and limits on the dashboard (issue 26), in headless chromium through nginx: available beside
balance, placing a hold (a person's page and the service view), a user's pending holds with Capture (all or part)
and Void, the "hold N" and "reversal of N" tags, Refund / Reverse from the history, the service view's Limits
panel, and the API's refusals shown where they happen. What the page shows is checked against the API."""

from __future__ import annotations

import re

from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from conftest import DESKTOP, PHONE
from dashboard import Dashboard
from tally_e2e import create_account, unique

HOLDS_STATUS = "#holds-status"


def new_user(api, name: str, balance: str) -> int:
    response = api.create_user(name, balance)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def hold_row(hold_id: int) -> str:
    return f"#holds-table tbody tr[data-id='{hold_id}']"


def history_row(movement_id: int) -> str:
    return f"#history-table tbody tr[data-id='{movement_id}']"


def history(api, user_id: int) -> list[dict]:
    response = api.get(f"/api/users/{user_id}/transactions", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def place_hold(page: Dashboard, form: str, to: int, amount: str, count: str, unit: str, *, from_id: int | None = None,
               memo: str = "") -> int:
    """Fills a Place a hold form (`form` is #hold-form or #service-hold-form) and sends it; the new hold's id."""
    prefix = "#hold" if form == "#hold-form" else "#service-hold"
    if from_id is not None:
        page.type(f"{prefix}-from", str(from_id))
    page.type(f"{prefix}-to", str(to))
    page.type(f"{prefix}-amount", amount)
    page.type(f"{prefix}-expires", count)
    Select(page.find(f"{prefix}-unit")).select_by_visible_text(unit)
    page.type(f"{prefix}-memo", memo)
    previous = page.safe_text(f"{form} .form-status")
    page.submit(form)
    status = page.wait_text(f"{form} .form-status", lambda t: t != "" and t != previous, f"{form} showed no result")
    match = re.match(r"Hold (\d+) placed: ", status)
    assert match, status
    return int(match.group(1))


def holds_status(page: Dashboard, predicate, message: str) -> str:
    return page.wait_text(HOLDS_STATUS, predicate, message)


def test_a_person_holds_money_the_payee_captures_part_and_refunds_some(browser, base_url, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Hold")
    ada = create_account(api, "100.00", name=f"Ada {tag}")
    bob = create_account(api, "0.00", name=f"Bob {tag}")

    # Ada's page: balance and available, the same while nothing is held.
    page.open("/")
    page.log_in(ada.username, ada.password)
    page.wait_text("#user-available", lambda t: t == "100.00", "available did not show")
    assert page.text_of("#user-balance") == "100.00"
    assert not page.find("#user-limits").is_displayed()
    page.wait(lambda: page.find("#holds-empty").is_displayed(), "an empty holds list does not say so")

    # A hold for Bob: nothing moves, but what Ada has available drops at once.
    first = place_hold(page, "#hold-form", bob.id, "30.00", "2", "hours", memo=f"{tag} deposit")
    placed = page.text_of("#hold-form .form-status")
    assert placed.startswith(f"Hold {first} placed: 30.00 from Ada {tag} (#{ada.id}) reserved for User #{bob.id} until "), \
        placed
    page.wait_text("#user-available", lambda t: t == "70.00", "available did not drop by the hold")
    assert page.text_of("#user-balance") == "100.00"
    assert page.text_of("#user-limits") == "Held 30.00"
    second = place_hold(page, "#hold-form", bob.id, "10", "30", "minutes")
    page.wait_text("#user-available", lambda t: t == "60.00", "available did not drop by the second hold")
    user = api.user(ada.id)
    assert (user["balance"], user["available"], user["held"]) == ("100.00", "60.00", "40.00"), user

    # Her pending holds, newest first: the payer may void, not capture.
    rows = page.texts("#holds-table tbody tr", 2)
    assert rows[0].startswith(f"#{second}") and "10.00" in rows[0], rows
    assert rows[1].startswith(f"#{first}") and "30.00" in rows[1] and f"{tag} deposit" in rows[1], rows
    assert "To" in rows[1] and "in 2 h" in rows[1], rows
    assert page.find_all(f"{hold_row(first)} button[data-action=capture]") == []
    assert page.find(f"{hold_row(first)} button[data-action=void]").text == "Void"
    page.screenshot("h1-person-holds")

    # Ada voids the second: released, and gone from the list.
    page.click(f"{hold_row(second)} button[data-action=void]")
    status = holds_status(page, lambda t: t.startswith(f"Hold {second} "), "the void showed no result")
    assert status == f"Hold {second} voided: 10.00 released.", status
    page.wait_text("#user-available", lambda t: t == "70.00", "available did not come back after the void")
    page.wait(lambda: page.find_all(hold_row(second)) == [], "the voided hold is still listed")
    assert api.get(f"/api/holds/{second}").json()["status"] == "voided"
    page.log_out()

    # Bob's page: the hold made out to him, with Capture. He captures part of it.
    page.log_in(bob.username, bob.password)
    row = hold_row(first)
    page.wait(lambda: page.find_all(row), "the payee does not see the hold")
    assert "From" in page.text_of(row)
    page.type(f"{row} input.capture-amount", "12.50")
    page.click(f"{row} button[data-action=capture]")
    status = holds_status(page, lambda t: t.startswith(f"Hold {first} "), "the capture showed no result")
    match = re.fullmatch(rf"Hold {first} captured: 12\.50 moved as transfer #(\d+)\. The other 17\.50 is released\.",
                         status)
    assert match, status
    capture = int(match.group(1))
    page.wait_text("#user-balance", lambda t: t == "12.50", "the payee's balance did not grow by the capture")
    hold = api.get(f"/api/holds/{first}").json()
    assert (hold["status"], hold["captured_amount"], hold["transfer_id"]) == ("captured", "12.50", capture), hold
    user = api.user(ada.id)
    assert (user["balance"], user["available"], user["held"]) == ("87.50", "87.50", "0.00"), user

    # The capture in his history: received, with its hold's tag and a Refund button (he is the payee).
    page.wait(lambda: page.find_all(f"{history_row(capture)} .tag.hold"), "the capture has no hold tag")
    assert page.text_of(f"{history_row(capture)} .tag.hold") == f"hold {first}"
    assert "Received" in page.text_of(history_row(capture))
    page.screenshot("h2-payee-captured")

    # He refunds 5.00 of it.
    page.click(f"{history_row(capture)} button[data-reverse]")
    page.wait_text("#reverse-facts", lambda t: "12.50" in t, "the transfer did not open")
    assert page.text_of("#reverse-dialog-title") == f"Refund transfer {capture}"
    facts = page.text_of("#reverse-facts")
    assert "Left to reverse\n12.50" in facts, facts
    page.type("#reverse-amount", "5")
    page.screenshot("h3-refund-dialog")
    page.submit("#reverse-form")
    status = page.wait_text("#reverse-form .form-status", lambda t: t != "", "the refund showed no result")
    match = re.fullmatch(rf"Reversed 5\.00 of transfer {capture}: .* \(reversal #(\d+)\)\.", status)
    assert match, status
    reversal = int(match.group(1))
    page.wait_text("#reverse-facts", lambda t: "Left to reverse\n7.50" in t, "what is left did not update")
    page.find("#reverse-dialog-close").click()
    page.wait(lambda: not page.find("#reverse-dialog").is_displayed(), "the dialog did not close")
    page.wait_text("#user-balance", lambda t: t == "7.50", "the refund did not leave the payee's balance")
    page.wait(lambda: page.find_all(f"{history_row(reversal)} .tag.reversal-of"), "the refund has no tag")
    assert page.text_of(f"{history_row(reversal)} .tag.reversal-of") == f"reversal of {capture}"
    assert "Refund out" in page.text_of(history_row(reversal))
    assert page.find_all(f"{history_row(reversal)} button[data-reverse]") == [], "a reversal offers a reversal"
    page.screenshot("h4-payee-refunded")

    # The API agrees: what is left, and Ada's side of it.
    transfer = api.get(f"/api/transfers/{capture}").json()
    assert transfer["unreversed_amount"] == "7.50" and [r["id"] for r in transfer["reversals"]] == [reversal]
    assert api.balance_minor(ada.id) == 9250
    back = {entry["id"]: entry for entry in history(api, ada.id)}[reversal]
    assert back["kind"] == "reversal_in" and back["reversal_of"] == capture
    assert page.console_problems() == []


def test_the_service_view_holds_captures_reverses_and_sets_limits(browser, base_url, admin_token, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Limits")
    cy, dan = new_user(api, f"Cy {tag}", "50.00"), new_user(api, f"Dan {tag}", "0.00")
    page.log_in_with_token(admin_token)

    # The users table: available beside balance.
    page.type("#search-name", tag)
    page.find("#search-name").send_keys(Keys.ENTER)
    page.wait(lambda: page.texts("#users-table tbody td.user-available .figure", 2) == ["50.00", "0.00"],
              "the users table does not show what is available")

    # A hold from Cy to Dan, placed by the service.
    hold = place_hold(page, "#service-hold-form", dan, "20.00", "3", "days", from_id=cy, memo=f"{tag} booking")
    assert api.get(f"/api/holds/{hold}").json()["amount"] == "20.00"
    page.wait(lambda: page.texts("#users-table tbody td.user-available .figure", 2) == ["30.00", "0.00"],
              "the users table does not show the hold's effect")
    assert page.texts("#users-table tbody td.user-balance", 2) == ["50.00", "0.00"]

    # More than Cy has available: the API's refusal, at the amount.
    page.type("#service-hold-from", str(cy))
    page.type("#service-hold-to", str(dan))
    page.type("#service-hold-amount", "30.01")
    page.submit("#service-hold-form")
    refused = page.wait_text("#service-hold-amount-error", lambda t: t != "", "an overdrawing hold was not refused")
    answer = api.post("/api/holds", {"from_user_id": cy, "to_user_id": dan, "amount": "30.01", "expires_in": 60})
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "insufficient_funds", answer.text
    assert refused == answer.json()["error"]["message"], (refused, answer.text)
    assert page.find("#service-hold-amount").get_attribute("aria-invalid") == "true"
    assert api.user(cy)["held"] == "20.00"

    # Limits: the user's load with the id; a credit limit and a daily debit limit are set.
    page.type("#limits-user", str(cy))
    page.find("#limits-user").send_keys(Keys.TAB)
    page.wait_text("#limits-current", lambda t: "available 30.00" in t and "daily debit limit none" in t,
                   "the user's limits did not load")
    page.type("#limits-daily", "0")
    page.submit("#limits-form")
    page.wait_text("#limits-daily-error", lambda t: "more than zero" in t, "a zero daily limit was not refused")
    page.type("#limits-credit", "25")
    page.type("#limits-daily", "40.00")
    page.submit("#limits-form")
    saved = page.wait_text("#limits-form .form-status", lambda t: t.startswith("Saved."), "the limits were not saved")
    assert "credit limit 25.00, daily debit limit 40.00" in saved and "available 55.00" in saved, saved
    user = api.user(cy)
    assert (user["credit_limit"], user["daily_debit_limit"], user["available"]) == ("25.00", "40.00", "55.00"), user
    assert page.find("#limits-credit").get_attribute("value") == "25.00", "the saved limit is not shown as saved"
    page.wait(lambda: page.texts("#users-table tbody td.user-available .figure", 2) == ["55.00", "0.00"],
              "the users table does not show the credit limit's effect")
    assert page.texts("#users-table tbody td.user-available .cell-note", 1) == \
        ["held 20.00 · credit 25.00 · daily 40.00"]
    page.screenshot("h5-service-holds-limits")

    # Cy's page as the service sees it: available beside balance, the limits, the hold with both actions.
    page.click(f"#users-table a[href='#/users/{cy}']")
    page.wait_view("user")
    page.wait_text("#user-available", lambda t: t == "55.00", "the user's page does not show available")
    assert page.text_of("#user-balance") == "50.00"
    assert page.text_of("#user-limits") == "Held 20.00 · Credit limit 25.00 · Daily debit limit 40.00 a day"
    row = hold_row(hold)
    page.wait(lambda: page.find_all(f"{row} button[data-action=capture]"), "the service cannot capture")

    # Capture of more than held: the API's refusal, in the panel; then all of it.
    page.type(f"{row} input.capture-amount", "20.01")
    page.click(f"{row} button[data-action=capture]")
    status = holds_status(page, lambda t: t.startswith(f"Hold {hold} was not captured"), "no refusal shown")
    assert "bad" in page.find(HOLDS_STATUS).get_attribute("class")
    assert api.get(f"/api/holds/{hold}").json()["status"] == "pending"
    page.find(f"{row} input.capture-amount").clear()
    page.click(f"{row} button[data-action=capture]")
    status = holds_status(page, lambda t: t.startswith(f"Hold {hold} captured: "), "the capture showed no result")
    match = re.fullmatch(rf"Hold {hold} captured: 20\.00 moved as transfer #(\d+)\.", status)
    assert match, status
    capture = int(match.group(1))
    page.wait_text("#user-balance", lambda t: t == "30.00", "the capture did not leave the payer's balance")
    assert page.text_of("#user-available") == "55.00"

    # The service reverses the capture from the payer's history: all that is left by default.
    page.wait(lambda: page.find_all(f"{history_row(capture)} button[data-reverse]"), "no Reverse on the capture")
    assert page.text_of(f"{history_row(capture)} button[data-reverse]") == "Reverse"
    assert page.text_of(f"{history_row(capture)} .tag.hold") == f"hold {hold}"
    page.click(f"{history_row(capture)} button[data-reverse]")
    page.wait_text("#reverse-facts", lambda t: "Left to reverse\n20.00" in t, "the transfer did not open")
    page.submit("#reverse-form")
    status = page.wait_text("#reverse-form .form-status", lambda t: t != "", "the reversal showed no result")
    assert status.startswith(f"Reversed 20.00 of transfer {capture}:"), status
    page.wait_text("#reverse-note", lambda t: "Nothing is left to reverse" in t, "the dialog still offers a reversal")
    assert not page.find("#reverse-amount").is_displayed()
    page.screenshot("h6-service-reversed")
    page.find("#reverse-dialog-close").click()
    page.wait_text("#user-balance", lambda t: t == "50.00", "the reversal did not bring the money back")
    assert api.get(f"/api/transfers/{capture}").json()["unreversed_amount"] == "0.00"

    # The daily debit limit binds: 20.00 went out today (the capture), so 25.00 more is refused.
    page.type("#transfer-to", str(dan))
    page.type("#transfer-amount", "25.00")
    page.submit("#transfer-form")
    refused = page.wait_text("#transfer-amount-error", lambda t: t != "", "the transfer was not refused")
    assert "bad" in page.find("#transfer-form .form-status").get_attribute("class"), refused
    assert api.balance_minor(cy) == 5000
    answer = api.transfer(cy, dan, "25.00")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "limit_exceeded", answer.text
    assert refused == answer.json()["error"]["message"], (refused, answer.text)
    page.wait(lambda: any(item.get_attribute("data-code") == "2000" for item in page.find_all("#user-alerts li")),
              "the refused movement raised no alert on the page")
    page.screenshot("h7-service-user-page")
    assert page.console_problems() == []


def test_a_stale_hold_shows_the_refusal_and_a_lost_answer_captures_once(browser, base_url, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Stale")
    ada = create_account(api, "40.00", name=f"Ada {tag}")
    bob = create_account(api, "0.00", name=f"Bob {tag}")
    made = []
    for amount in ("10.00", "15.00"):
        answer = api.post("/api/holds", {"from_user_id": ada.id, "to_user_id": bob.id, "amount": amount,
                                         "expires_in": 3600}, headers={"Idempotency-Key": unique("key")})
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    voided, kept = made

    page.open("/")
    page.log_in(bob.username, bob.password)
    page.wait(lambda: len(page.find_all("#holds-table tbody tr")) == 2, "the payee does not see both holds")
    # An amount typed in keeps the list as it is; meanwhile the payer voids that hold elsewhere.
    page.type(f"{hold_row(voided)} input.capture-amount", "10")
    assert ada.api.post(f"/api/holds/{voided}/void").status_code == 200
    page.click(f"{hold_row(voided)} button[data-action=capture]")
    status = holds_status(page, lambda t: t.startswith(f"Hold {voided} was not captured"), "no refusal shown")
    assert status.startswith(f"Hold {voided} was not captured: hold {voided} is voided"), status
    page.wait(lambda: page.find_all(hold_row(voided)) == [], "the voided hold stayed in the list")
    page.screenshot("h8-stale-hold")

    # The first answer to the capture is lost after the server captured: Capture again sends the same key.
    # (An amount typed in keeps the row on the page while the outcome is unknown.)
    page.record_requests(lose_answers_to=f"/api/holds/{kept}/capture", times=1)
    page.type(f"{hold_row(kept)} input.capture-amount", "15")
    page.click(f"{hold_row(kept)} button[data-action=capture]")
    status = holds_status(page, lambda t: "could not be reached" in t, "the lost answer was not said")
    assert "cannot apply twice" in status, status
    page.click(f"{hold_row(kept)} button[data-action=capture]")
    holds_status(page, lambda t: t.startswith(f"Hold {kept} captured: 15.00"), "the retry did not settle it")
    sent = page.api_requests(f"/api/holds/{kept}/capture", "POST")
    assert len(sent) == 2 and sent[0]["key"] and sent[0]["key"] == sent[1]["key"], sent
    assert (api.balance_minor(ada.id), api.balance_minor(bob.id)) == (2500, 1500), "captured twice"
    assert len([entry for entry in history(api, bob.id) if entry.get("hold_id") == kept]) == 1

    # On a phone the holds panel and the forms fit the screen.
    place_hold(page, "#hold-form", ada.id, "1.00", "10", "minutes", memo=f"{tag} a memo long enough to wrap")
    page.driver.set_window_size(*PHONE)
    page.wait(lambda: page.driver.execute_script("return innerWidth") <= PHONE[0], "the window did not shrink")
    assert page.driver.execute_script("return document.documentElement.scrollWidth <= innerWidth + 1"), \
        "the user's page scrolls sideways on a phone"
    page.screenshot("h9-holds-phone")
    page.driver.set_window_size(*DESKTOP)
    assert page.console_problems() == []


def test_a_negative_balance_within_the_credit_limit_and_a_limit_that_is_in_use(browser, base_url, admin_token, api,
                                                                              screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Credit")
    eve, fay = new_user(api, f"Eve {tag}", "0.00"), new_user(api, f"Fay {tag}", "0.00")
    page.log_in_with_token(admin_token)

    # A credit limit of 10.00 set on the page lets Eve pay 8.00 with nothing in her account.
    page.type("#limits-user", f"#{eve}")
    page.find("#limits-user").send_keys(Keys.TAB)
    page.wait_text("#limits-current", lambda t: "available 0.00" in t, "the user's limits did not load")
    page.type("#limits-credit", "10")
    page.submit("#limits-form")
    page.wait_text("#limits-form .form-status", lambda t: t.startswith("Saved."), "the limit was not saved")
    assert api.transfer(eve, fay, "8.00").status_code == 201

    # The users table shows the negative balance and what is left of the limit.
    page.type("#search-name", tag)
    page.find("#search-name").send_keys(Keys.ENTER)
    page.wait(lambda: sorted(page.texts("#users-table tbody td.user-balance", 2)) == ["-8.00", "8.00"],
              f"the users table does not show the negative balance: {page.safe_text('#users-table tbody')!r}")
    row = f"#users-table tbody tr:has(a[href='#/users/{eve}'])"
    assert page.text_of(f"{row} td.user-available .figure") == "2.00"
    assert page.text_of(f"{row} td.user-available .cell-note") == "credit 10.00"

    # Lowering the limit below what the balance already uses is refused with the API's words, and nothing changes.
    page.type("#limits-credit", "5.00")
    page.submit("#limits-form")
    answer = api.request("PATCH", f"/api/users/{eve}", json_body={"credit_limit": "5.00"})
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "credit_limit_in_use", answer.text
    message = answer.json()["error"]["message"]
    page.wait(lambda: message in (page.text_of("#limits-form .form-status"), page.text_of("#limits-credit-error")),
              f"the refusal was not shown: {message!r}")
    assert "bad" in page.find("#limits-form .form-status").get_attribute("class")
    page.wait_text("#limits-current", lambda t: "balance -8.00, available 2.00" in t,
                   "the refusal did not bring the user's figures up to date")
    assert api.user(eve)["credit_limit"] == "10.00"
    page.screenshot("h10-credit-limit-in-use")

    # Eve's page: the negative balance beside what is still available.
    page.click(f"{row} a")
    page.wait_view("user")
    page.wait_text("#user-balance", lambda t: t == "-8.00", "the user's page does not show the negative balance")
    assert page.text_of("#user-available") == "2.00"
    assert page.text_of("#user-limits") == "Credit limit 10.00"
    assert page.console_problems() == []

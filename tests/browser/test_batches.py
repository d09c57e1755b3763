"""Batches on the dashboard (issue 25), in headless chromium through nginx: the service view's Batch panel
(pasted CSV lines, the preview, all or nothing and item by item, each line's result, the 1,000-line limit, a
resend after a lost answer) and the "batch N" tag in a person's history and in the live feed, which opens the
batch. What the page shows is checked against the API."""

from __future__ import annotations

import re

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys

from conftest import PHONE, DESKTOP
from dashboard import Dashboard
from tally_e2e import create_account, unique

RESULTS = "#batch-table tbody td.result"
STATUS = "#batch-form .form-status"


def new_user(api, name: str, balance: str) -> int:
    response = api.create_user(name, balance)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def history(api, user_id: int) -> list[dict]:
    response = api.get(f"/api/users/{user_id}/transactions", params={"limit": 100})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def open_batch_panel(page: Dashboard, admin_token: str):
    page.log_in_with_token(admin_token)
    page.visible("#batch-csv")


def send_batch(page: Dashboard, until) -> str:
    """Clicks Send batch and waits until the panel's status says `until(text)`; returns the status."""
    page.submit("#batch-form")
    return page.wait_text(STATUS, until, "the batch panel showed no result")


def movement_ids(results: list[str]) -> list[int | None]:
    return [int(m.group(1)) if (m := re.search(r"movement #(\d+)", text)) else None for text in results]


def batch_id_of(status: str) -> int:
    match = re.match(r"Batch (\d+) ", status)
    assert match, status
    return int(match.group(1))


def test_an_atomic_batch_of_three_pasted_lines_applies_them_in_order(browser, base_url, admin_token, api,
                                                                      screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Batch")
    ada, bob, cy = (new_user(api, f"{name} {tag}", balance)
                    for name, balance in (("Ada", "100.00"), ("Bob", "0.00"), ("Cy", "0.00")))
    open_batch_panel(page, admin_token)
    assert "At most 1,000 lines" in page.text_of("#batch-help")
    assert page.find("#batch-form input[value=atomic]").is_selected(), "all or nothing is the default"

    # Typed, not pasted: a header, a blank line, a quoted memo with a comma and a quote in it. Bob pays Cy
    # out of what Ada's line gave him (lines apply in order).
    page.find("#batch-csv").send_keys(
        "from,to,amount,memo\n"
        f"{ada},{bob},10.00,{tag} pay\n"
        "\n"
        f'{bob}, {cy}, 4,"{tag} rent, May ""late"""\n'
        f"#{ada},{cy},2.50\n")
    rows = page.texts("#batch-table tbody tr", 3)
    assert [row.split()[0] for row in rows] == ["2", "4", "5"], rows  # the lines' numbers in the pasted text
    assert f"#{ada}" in rows[0] and f"#{bob}" in rows[0] and "10.00" in rows[0] and f"{tag} pay" in rows[0]
    assert f'{tag} rent, May "late"' in rows[1] and "4.00" in rows[1]
    assert page.texts(RESULTS, 3) == ["Ready"] * 3
    assert page.text_of("#batch-summary") == "3 lines ready to send. The header on line 1 is skipped."
    page.screenshot("b1-batch-preview")

    status = send_batch(page, lambda t: t.startswith("Batch "))
    assert "(all or nothing): 3 lines applied." in status, status
    batch = batch_id_of(status)
    results = page.texts(RESULTS, 3)
    assert all(text.startswith("Applied · movement #") for text in results), results
    ids = movement_ids(results)

    # The API agrees: the balances moved, and each line's movement is in the batch, in order.
    assert (api.balance_minor(ada), api.balance_minor(bob), api.balance_minor(cy)) == (8750, 600, 650)
    ada_moves = {entry["id"]: entry for entry in history(api, ada)}
    assert ada_moves[ids[0]]["memo"] == f"{tag} pay" and ada_moves[ids[0]]["batch_id"] == batch
    assert ada_moves[ids[2]]["amount"] == "2.50" and ada_moves[ids[2]]["batch_id"] == batch
    cy_moves = {entry["id"]: entry for entry in history(api, cy)}
    assert cy_moves[ids[1]]["memo"] == f'{tag} rent, May "late"' and cy_moves[ids[1]]["counterparty_user_id"] == bob
    shown = api.get(f"/api/batches/{batch}").json()
    assert shown["atomic"] is True and [item["movement_id"] for item in shown["items"]] == ids

    # The page's own balances caught up: the users found by the tag show their new balances.
    page.type("#search-name", tag)
    page.find("#search-name").send_keys(Keys.ENTER)
    page.wait(lambda: page.texts("#users-table tbody td.user-balance", 3) == ["87.50", "6.00", "6.50"],
              "the users table does not show the new balances")
    page.screenshot("b2-batch-applied")
    assert page.console_problems() == []


def test_an_atomic_batch_with_an_overdraft_applies_nothing_and_marks_the_line(browser, base_url, admin_token, api,
                                                                              screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Overdraft")
    ada, bob = new_user(api, f"Ada {tag}", "5.00"), new_user(api, f"Bob {tag}", "0.00")
    open_batch_panel(page, admin_token)
    page.paste("#batch-csv", f"{ada},{bob},3.00,{tag}\n{ada},{bob},3.00,{tag}\n{bob},{ada},1.00,{tag}\n")
    page.texts("#batch-table tbody tr", 3)

    status = send_batch(page, lambda t: t.startswith("Nothing was applied"))
    assert "all or nothing" in status and "line 2 was refused" in status and "Insufficient funds" in status, status
    results = page.texts(RESULTS, 3)
    assert results[0] == "Not applied" and results[2] == "Not applied", results
    assert results[1].startswith("Refused: Insufficient funds"), results
    assert "row-bad" in page.find("#batch-table tbody tr:nth-child(2)").get_attribute("class")
    page.screenshot("b3-batch-atomic-refused")

    # Nothing of it reached the ledger.
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (500, 0)
    assert [entry for entry in history(api, ada) + history(api, bob) if entry["memo"] == tag] == []
    assert page.console_problems() == []


def test_item_by_item_applies_the_other_lines_when_one_is_refused(browser, base_url, admin_token, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Items")
    ada, bob = new_user(api, f"Ada {tag}", "5.00"), new_user(api, f"Bob {tag}", "0.00")
    open_batch_panel(page, admin_token)
    page.paste("#batch-csv", f"{ada},{bob},2.00,{tag} one\n{ada},{bob},50.00,{tag} two\n{ada},{bob},1.00,{tag} three")
    page.texts("#batch-table tbody tr", 3)
    page.click("#batch-form input[value=items]")

    status = send_batch(page, lambda t: t.startswith("Batch "))
    assert "(item by item): 2 lines applied, 1 refused" in status, status
    results = page.texts(RESULTS, 3)
    assert results[0].startswith("Applied") and results[2].startswith("Applied"), results
    assert results[1].startswith("Refused: Insufficient funds"), results
    page.screenshot("b4-batch-item-by-item")

    assert (api.balance_minor(ada), api.balance_minor(bob)) == (200, 300)
    memos = sorted(entry["memo"] for entry in history(api, bob))
    assert memos == [f"{tag} one", f"{tag} three"]
    batch = api.get(f"/api/batches/{batch_id_of(status)}").json()
    assert batch["atomic"] is False and [item["status"] for item in batch["items"]] == ["applied", "refused", "applied"]
    assert page.console_problems() == []


def test_lines_that_cannot_be_read_are_marked_and_nothing_is_sent(browser, base_url, admin_token, api, screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Malformed")
    ada, bob = new_user(api, f"Ada {tag}", "50.00"), new_user(api, f"Bob {tag}", "0.00")
    open_batch_panel(page, admin_token)
    page.record_requests()
    page.paste("#batch-csv", "\n".join([
        f"{ada},{bob},1.00,{tag}",
        f"{ada},bob,1.00",                 # not a user id
        f"{ada},{bob},1.005",              # three decimals
        f'{ada},{bob},1.00,"{tag} open',   # a quote never closed
        f"{ada},{bob}",                    # too few fields
        f"{ada},{bob},1.00,{tag},extra",   # a memo with a comma, unquoted
        f"{ada},{bob},2.00,{tag}",
    ]))
    results = page.texts(RESULTS, 7)
    assert results[0] == "Ready" and results[6] == "Ready", results
    for text, why in zip(results[1:6], ("receiver (to)", "two decimals", "quote is not closed", "2 fields",
                                        "in quotes")):
        assert text.startswith("Cannot be read:") and why in text, (text, why)
    assert "of which 5 cannot be read" in page.text_of("#batch-summary")

    page.submit("#batch-form")
    error = page.wait_text("#batch-csv-error", lambda t: t != "", "the unreadable lines did not stop the send")
    assert error.startswith("Nothing was sent: lines 2, 3, 4, 5, 6 cannot be read"), error
    assert page.find("#batch-csv").get_attribute("aria-invalid") == "true"
    assert "batch-help" in page.find("#batch-csv").get_attribute("aria-describedby")
    page.screenshot("b5-batch-unreadable")
    assert page.api_requests("/api/batches") == []
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (5000, 0)

    # More than 1,000 lines: said at once, and not sent either.
    page.paste("#batch-csv", "\n".join([f"{ada},{bob},0.01,{tag}"] * 1001))
    page.wait_text("#batch-summary", lambda t: "1,001 lines ready" in t and "more than 1,000" in t,
                   "the summary did not say the batch is too long")
    page.submit("#batch-form")
    error = page.wait_text("#batch-csv-error", lambda t: t != "", "1,001 lines were not stopped")
    assert "1,001 lines" in error and "at most 1,000" in error, error
    assert page.api_requests("/api/batches") == []
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (5000, 0)

    # Exactly 1,000 lines is one batch (nginx takes its body on this route), applied whole.
    page.paste("#batch-csv", "\n".join([f"{ada},{bob},0.01,{tag}"] * 1000))
    status = send_batch(page, lambda t: t.startswith("Batch "))
    assert "1,000 lines applied" in status, status
    assert len(page.api_requests("/api/batches", "POST")) == 1
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (4000, 1000)
    assert page.console_problems() == []


def test_a_resend_after_a_lost_answer_sends_the_same_key_and_applies_once(browser, base_url, admin_token, api,
                                                                          screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Resend")
    ada, bob = new_user(api, f"Ada {tag}", "10.00"), new_user(api, f"Bob {tag}", "0.00")
    open_batch_panel(page, admin_token)
    # The first answer to POST /api/batches is lost after the server applied the batch.
    page.record_requests(lose_answers_to="/api/batches", times=1)
    page.paste("#batch-csv", f"{ada},{bob},4.00,{tag}")
    page.texts("#batch-table tbody tr", 1)

    status = send_batch(page, lambda t: "could not be reached" in t)
    assert "cannot apply twice" in status, status
    assert api.balance_minor(ada) == 600  # it did apply

    status = send_batch(page, lambda t: t.startswith("Batch "))
    assert "1 line applied" in status, status
    sent = page.api_requests("/api/batches", "POST")
    assert len(sent) == 2 and sent[0]["key"] and sent[0]["key"] == sent[1]["key"], sent
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (600, 400), "the resend applied the batch again"
    assert [entry["memo"] for entry in history(api, bob)] == [tag]

    # A definite answer ends the key: the next send is a new request with a new key.
    status = send_batch(page, lambda t: t.startswith("Batch ") and batch_id_of(t) != batch_id_of(status))
    sent = page.api_requests("/api/batches", "POST")
    assert len(sent) == 3 and sent[2]["key"] != sent[0]["key"], sent
    assert (api.balance_minor(ada), api.balance_minor(bob)) == (200, 800)
    assert page.console_problems() == []


def test_the_batch_tag_in_the_history_and_the_feed_opens_the_batch(browser, base_url, admin_token, api,
                                                                   screenshots):
    page = Dashboard(browser, base_url, screenshots)
    tag = unique("Tag")
    ada = create_account(api, "20.00", name=f"Ada {tag}")
    bob, cy, dan = (new_user(api, f"{name} {tag}", "5.00") for name in ("Bob", "Cy", "Dan"))
    answer = api.post("/api/batches", {"atomic": True, "movements": [
        {"type": "transfer", "from_user_id": ada.id, "to_user_id": bob, "amount": "3.00", "memo": tag},
        {"type": "transfer", "from_user_id": cy, "to_user_id": dan, "amount": "1.00", "memo": tag},
    ]}, headers={"Idempotency-Key": unique("key")})
    assert answer.status_code == 201, answer.text
    batch = answer.json()["id"]
    ada_movement = answer.json()["results"][0]["movement"]["id"]

    # Ada's own page: the movement carries the tag; the dialog shows her item only.
    page.open("/")
    page.log_in(ada.username, ada.password)
    row = f"#history-table tbody tr[data-id='{ada_movement}']"
    page.wait(lambda: page.find_all(f"{row} button.tag.batch"), "the movement has no batch tag in the history")
    button = page.find(f"{row} button.tag.batch")
    assert button.text == f"batch {batch}"
    # With the keyboard: the tag is a button, Enter opens the dialog and Escape closes it.
    page.driver.execute_script("arguments[0].focus()", button)
    ActionChains(page.driver).send_keys(Keys.ENTER).perform()
    page.wait_text("#batch-dialog", lambda t: "Item by item" in t or "All or nothing" in t, "the batch did not open")
    assert page.text_of("#batch-dialog-title") == f"Batch {batch}"
    facts = page.text_of("#batch-facts")
    assert "Service role" in facts and "All or nothing" in facts and "2 items" in facts, facts
    assert page.text_of("#batch-dialog-note") == "You see the 1 item of this batch that concerns you."
    items = page.texts("#batch-items tbody tr", 1)
    assert items[0].split() == ["1", "Applied", f"#{ada_movement}"], items
    page.screenshot("b6-batch-dialog-person")
    ActionChains(page.driver).send_keys(Keys.ESCAPE).perform()
    page.wait(lambda: not page.find("#batch-dialog").is_displayed(), "Escape did not close the dialog")
    assert page.driver.execute_script("return document.activeElement.dataset.batch") == str(batch), \
        "the focus did not go back to the batch tag"
    page.log_out()

    # The service view's live feed: the same tag, every item.
    page.log_in_with_token(admin_token)
    feed_tag = f"#feed-movements button.tag.batch[data-batch='{batch}']"
    page.wait(lambda: len(page.find_all(feed_tag)) == 2, "the feed does not tag the batch's two movements")
    page.click(feed_tag)
    page.wait_text("#batch-facts", lambda t: "2 items" in t, "the batch did not open from the feed")
    assert page.text_of("#batch-dialog-note") == ""
    assert [row.split()[:2] for row in page.texts("#batch-items tbody tr", 2)] == [["1", "Applied"], ["2", "Applied"]]
    page.screenshot("b7-batch-dialog-service")
    page.click("#batch-dialog-close")
    page.wait(lambda: not page.find("#batch-dialog").is_displayed(), "Close did not close the dialog")

    # On a phone the panel and the feed fit the screen.
    page.driver.set_window_size(*PHONE)
    page.wait(lambda: page.driver.execute_script("return innerWidth") <= PHONE[0], "the window did not shrink")
    page.paste("#batch-csv", f"{ada.id},{bob},1.00,{tag} a memo long enough to need some room on a phone\n{bob},x,1")
    page.texts("#batch-table tbody tr", 2)
    assert page.driver.execute_script("return document.documentElement.scrollWidth <= innerWidth + 1"), \
        "the service view scrolls sideways on a phone"
    page.screenshot("b8-batch-phone")
    page.driver.set_window_size(*DESKTOP)
    assert page.console_problems() == []

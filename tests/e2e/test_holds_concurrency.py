"""Issue 26, "Tests that would have caught the anchors' bugs": many clients place, capture and void holds on a few
hot payers at once, let some expire, and send transfers and batches that draw on the same balances (hold_load.py),
while a monitor reads the payers' money again and again. Afterwards: no hold captured twice, after a void or after its
expiry; every capture's movement in the journal once and as its hold says; every transfer answered 201 and every
batch item answered applied in it once;
nobody's available balance below zero, or balance below minus the credit limit, at any reading; every balance what
the answers add up to, the money of the ledger conserved, each user's movements chained, `tally verify` clean."""

from __future__ import annotations

import pytest

from batch_load import ledger_total, pool_counters
from hold_load import HoldLoad, Monitor, check_hold_load, judge_answers

PAYERS, PAYEES = 3, 5


@pytest.mark.parametrize("credit_limit", ["0.00", "15.00"])
def test_concurrent_holds_captures_voids_and_transfers_keep_every_hold_once_and_the_books(
        credit_limit, api, db, new_user, base_url, verify, figures):
    # Little money for much traffic: the payers run out of available money often, so that the check of every
    # debit against it is made under contention, where the anchors' bugs were.
    payers = [new_user("30.00", credit_limit=credit_limit)["id"] for _ in range(PAYERS)]
    payees = [new_user("5.00")["id"] for _ in range(PAYEES)]
    users = payers + payees
    before = {user: db.balance(user) for user in users}
    total_before = ledger_total(db)
    counters_before = pool_counters(api)

    load = HoldLoad(base_url, payers, payees, threads=12, per_thread=60, max_amount_minor=600)
    monitor = Monitor(base_url, payers).start()
    try:
        load.run()
    finally:
        monitor.stop()
    counters_after = pool_counters(api)

    judge_answers(load)
    found = check_hold_load(api, db, verify, load, before, total_before, ledger_total)
    assert not monitor.broken, f"a user's money read below the limit while the load ran: {monitor.broken[:3]}"
    assert monitor.readings > 0
    statuses = load.statuses()
    # The load did what it is for: holds placed and captured, voided and refused for want of money.
    for wanted in ("hold 201", "capture 200", "void 200", "hold 409 insufficient_funds"):
        assert statuses.get(wanted), f"no {wanted} in {statuses}"
    assert statuses.get("batch 200") or statuses.get("batch 201"), f"no batch applied: {statuses}"
    assert found["expired"] and any("expired" in label for label in statuses), f"no hold expired: {statuses}"
    retries = counters_after["serialization_retries"] - counters_before["serialization_retries"]
    assert counters_after["retries_exhausted"] == counters_before["retries_exhausted"], "retries exhausted"
    figures(f"holds concurrent, credit limit {credit_limit}: {load.threads} clients, {found['requests']} requests "
            f"({statuses}); {found['holds']} holds: {found['captured']} captured, {found['voided']} voided, "
            f"{found['expired']} expired, {found['pending']} pending; {found['transfers']} transfers and "
            f"{found['batches']} batches ({found['batch items']} items applied) beside; "
            f"{monitor.readings} readings of the payers, least available {monitor.least_available}, least "
            f"balance + limit {monitor.least_headroom}; serialization retries {retries}")

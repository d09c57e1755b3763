"""Deposits, withdrawals and transfers: what they answer, what the journal holds, and the histories."""

from tally_e2e import assert_error, assert_recent_timestamp, unique

TRANSFER_KEYS = {"id", "kind", "from_user_id", "to_user_id", "amount", "amount_minor", "memo", "created_at",
                 "from_balance", "from_balance_minor", "to_balance", "to_balance_minor", "batch_id", "hold_id",
                 "reversal_of"}
CASH_KEYS = {"id", "kind", "user_id", "amount", "amount_minor", "memo", "created_at", "balance", "balance_minor",
             "alert_codes", "batch_id", "hold_id", "reversal_of"}
ENTRY_KEYS = {"id", "kind", "amount", "amount_minor", "counterparty_user_id", "memo", "created_at",
              "balance_after", "balance_after_minor", "batch_id", "hold_id", "reversal_of"}
FEED_KEYS = {"id", "kind", "from_user_id", "to_user_id", "amount", "amount_minor", "memo", "created_at",
             "batch_id", "hold_id", "reversal_of"}


def test_deposit_adds_to_the_balance_and_answers_the_movement(api, db, new_user):
    user = new_user("1.00")
    response = api.deposit(user["id"], "24.99", memo="salary")
    assert response.status_code == 201, response.text
    deposit = response.json()
    assert set(deposit) == CASH_KEYS
    assert deposit["kind"] == "deposit"
    assert deposit["user_id"] == user["id"]
    assert deposit["amount"] == "24.99" and deposit["amount_minor"] == 2499
    assert deposit["memo"] == "salary"
    assert deposit["balance"] == "25.99" and deposit["balance_minor"] == 2599
    assert deposit["alert_codes"] == []
    assert isinstance(deposit["id"], int) and deposit["id"] > 0
    assert_recent_timestamp(deposit["created_at"])
    assert api.user(user["id"])["balance"] == "25.99"
    assert db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount, credit_balance_after, memo "
                   f"FROM movements WHERE id = {deposit['id']}") == [
        ["deposit", "0", str(user["id"]), "2499", "2599", "salary"]]


def test_withdrawal_takes_from_the_balance_and_answers_the_movement(api, db, new_user):
    user = new_user("10.00")
    response = api.withdraw(user["id"], "3.50")
    assert response.status_code == 201, response.text
    withdrawal = response.json()
    assert set(withdrawal) == CASH_KEYS
    assert withdrawal["kind"] == "withdrawal"
    assert withdrawal["user_id"] == user["id"]
    assert withdrawal["amount"] == "3.50" and withdrawal["amount_minor"] == 350
    assert withdrawal["memo"] is None
    assert withdrawal["balance"] == "6.50" and withdrawal["balance_minor"] == 650
    assert withdrawal["alert_codes"] == []
    assert_recent_timestamp(withdrawal["created_at"])
    assert db.balance(user["id"]) == 650
    assert db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount, debit_balance_after, memo IS NULL "
                   f"FROM movements WHERE id = {withdrawal['id']}") == [
        ["withdrawal", str(user["id"]), "0", "350", "650", "t"]]


def test_withdrawing_the_whole_balance_leaves_zero(api, new_user):
    user = new_user("4.20")
    response = api.withdraw(user["id"], "4.20")
    assert response.status_code == 201, response.text
    assert response.json()["balance"] == "0.00"
    assert api.balance_minor(user["id"]) == 0


def test_transfer_moves_money_and_answers_both_balances_after_it(api, db, new_user):
    alice, bob = new_user("50.00"), new_user("5.00")
    response = api.transfer(alice["id"], bob["id"], "12.34", memo="lunch")
    assert response.status_code == 201, response.text
    transfer = response.json()
    assert set(transfer) == TRANSFER_KEYS
    assert transfer["kind"] == "transfer"
    assert transfer["from_user_id"] == alice["id"] and transfer["to_user_id"] == bob["id"]
    assert transfer["amount"] == "12.34" and transfer["amount_minor"] == 1234
    assert transfer["memo"] == "lunch"
    assert transfer["from_balance"] == "37.66" and transfer["from_balance_minor"] == 3766
    assert transfer["to_balance"] == "17.34" and transfer["to_balance_minor"] == 1734
    assert_recent_timestamp(transfer["created_at"])
    assert api.balance_minor(alice["id"]) == 3766
    assert api.balance_minor(bob["id"]) == 1734
    assert db.rows(f"SELECT kind, debit_user_id, credit_user_id, amount, debit_balance_after, "
                   f"credit_balance_after, memo FROM movements WHERE id = {transfer['id']}") == [
        ["transfer", str(alice["id"]), str(bob["id"]), "1234", "3766", "1734", "lunch"]]


def test_transferring_the_whole_balance_is_allowed(api, new_user):
    alice, bob = new_user("0.01"), new_user()
    response = api.transfer(alice["id"], bob["id"], "0.01")
    assert response.status_code == 201, response.text
    assert response.json()["from_balance"] == "0.00"
    assert response.json()["to_balance"] == "0.01"


def test_getting_a_transfer_returns_what_creating_it_returned(api, new_user):
    alice, bob = new_user("10.00"), new_user()
    created = api.transfer(alice["id"], bob["id"], "2.00", memo="gift").json()
    api.transfer(alice["id"], bob["id"], "1.00")  # later movements do not change the stored balances
    response = api.get(f"/api/transfers/{created['id']}")
    assert response.status_code == 200
    # With what its reversals (none yet) left of it.
    assert response.json() == {**created, "reversals": [], "unreversed_amount": "2.00", "unreversed_amount_minor": 200}


def test_a_deposit_or_withdrawal_is_not_a_transfer(api, new_user):
    user = new_user("5.00")
    deposit = api.deposit(user["id"], "1.00").json()
    withdrawal = api.withdraw(user["id"], "1.00").json()
    assert_error(api.get(f"/api/transfers/{deposit['id']}"), 404, "not_found")
    assert_error(api.get(f"/api/transfers/{withdrawal['id']}"), 404, "not_found")


def test_unknown_transfer_is_not_found(api):
    assert_error(api.get("/api/transfers/9223372036854775807"), 404, "not_found")
    assert_error(api.get("/api/transfers/abc"), 404, "not_found")
    assert_error(api.get("/api/transfers/0"), 404, "not_found")


def test_memo_is_null_when_absent_or_null_and_kept_verbatim_otherwise(api, new_user):
    alice, bob = new_user("10.00"), new_user()
    assert api.transfer(alice["id"], bob["id"], "1.00").json()["memo"] is None
    assert api.post("/api/transfers", {"from_user_id": alice["id"], "to_user_id": bob["id"], "amount": "1.00",
                                       "memo": None}).json()["memo"] is None
    assert api.transfer(alice["id"], bob["id"], "1.00", memo="").json()["memo"] == ""
    for memo in ("  coffee ☕ ", "a\nb\t\"c\"", "m" * 500):
        response = api.transfer(alice["id"], bob["id"], "0.01", memo=memo)
        assert response.status_code == 201, response.text
        assert response.json()["memo"] == memo
    assert api.deposit(bob["id"], "1.00").json()["memo"] is None
    assert api.deposit(bob["id"], "1.00", memo="cash").json()["memo"] == "cash"


def test_user_history_is_newest_first_with_kind_counterparty_and_balance_after(api, new_user):
    alice, bob = new_user("100.00"), new_user("1.00")
    deposit = api.deposit(alice["id"], "10.00", memo="top-up").json()
    out = api.transfer(alice["id"], bob["id"], "30.00", memo="rent").json()
    back = api.transfer(bob["id"], alice["id"], "5.55").json()
    withdrawal = api.withdraw(alice["id"], "0.45", memo="atm").json()

    response = api.get(f"/api/users/{alice['id']}/transactions")
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    items = page["items"]
    assert all(set(item) == ENTRY_KEYS for item in items)
    assert [item["id"] for item in items][:4] == [withdrawal["id"], back["id"], out["id"], deposit["id"]]
    assert len(items) == 5  # and the initial balance's deposit, oldest
    w, t_in, t_out, d, initial = items
    assert (w["kind"], w["amount"], w["amount_minor"], w["counterparty_user_id"], w["memo"],
            w["balance_after"], w["balance_after_minor"]) == ("withdrawal", "0.45", 45, None, "atm", "85.10", 8510)
    assert (t_in["kind"], t_in["amount"], t_in["counterparty_user_id"], t_in["memo"],
            t_in["balance_after"]) == ("transfer_in", "5.55", bob["id"], None, "85.55")
    assert (t_out["kind"], t_out["amount"], t_out["counterparty_user_id"], t_out["memo"],
            t_out["balance_after_minor"]) == ("transfer_out", "30.00", bob["id"], "rent", 8000)
    assert (d["kind"], d["amount"], d["counterparty_user_id"], d["memo"],
            d["balance_after"]) == ("deposit", "10.00", None, "top-up", "110.00")
    assert (initial["kind"], initial["amount"], initial["counterparty_user_id"],
            initial["balance_after"]) == ("deposit", "100.00", None, "100.00")
    for item in items:
        assert_recent_timestamp(item["created_at"])
    assert [item["created_at"] for item in items] == sorted((item["created_at"] for item in items), reverse=True)
    assert t_in["created_at"] == back["created_at"]

    # Bob sees the same transfers from the other side.
    bob_items = api.get(f"/api/users/{bob['id']}/transactions").json()["items"]
    assert [(item["id"], item["kind"], item["counterparty_user_id"], item["balance_after"])
            for item in bob_items[:2]] == [
        (back["id"], "transfer_out", alice["id"], "25.45"),
        (out["id"], "transfer_in", alice["id"], "31.00")]


def test_user_history_pages_follow_next_cursor(api, new_user):
    user = new_user("1.00")
    ids = [api.deposit(user["id"], f"{i}.00", memo=f"d{i}").json()["id"] for i in range(1, 8)]
    whole = api.get(f"/api/users/{user['id']}/transactions", params={"limit": 100}).json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 8
    assert [item["id"] for item in whole["items"]][:7] == list(reversed(ids))

    paged = api.all_pages(f"/api/users/{user['id']}/transactions", limit=3)
    assert paged == whole["items"]

    first = api.get(f"/api/users/{user['id']}/transactions", params={"limit": 3}).json()
    assert len(first["items"]) == 3 and isinstance(first["next_cursor"], str)
    last = api.get(f"/api/users/{user['id']}/transactions", params={"limit": 8}).json()
    assert last["next_cursor"] is None, "a page that holds exactly the rest has no next page"


def test_user_history_balances_after_chain_through_amounts(api, new_user):
    alice, bob = new_user("20.00"), new_user("20.00")
    for amount in ("1.11", "2.22", "3.33"):
        api.transfer(alice["id"], bob["id"], amount)
        api.transfer(bob["id"], alice["id"], "0.50")
    api.deposit(alice["id"], "0.07")
    items = list(reversed(api.get(f"/api/users/{alice['id']}/transactions").json()["items"]))
    balance = 0
    for item in items:
        sign = -1 if item["kind"] in ("withdrawal", "transfer_out") else 1
        balance += sign * item["amount_minor"]
        assert item["balance_after_minor"] == balance, item
    assert balance == api.balance_minor(alice["id"])


def test_unknown_user_history_is_not_found(api):
    assert_error(api.get("/api/users/9223372036854775807/transactions"), 404, "not_found")


def test_global_feed_is_newest_first_with_null_for_the_outside_world(api, new_user):
    alice, bob = new_user("10.00"), new_user()
    memo = unique("feed")
    deposit = api.deposit(alice["id"], "1.00", memo=memo).json()
    transfer = api.transfer(alice["id"], bob["id"], "2.00", memo=memo).json()
    withdrawal = api.withdraw(bob["id"], "0.50", memo=memo).json()

    # Tests run one at a time: these three are the newest movements.
    response = api.get("/api/transactions", params={"limit": 2})
    assert response.status_code == 200
    first = response.json()
    assert all(set(item) == FEED_KEYS for item in first["items"])
    assert isinstance(first["next_cursor"], str)
    second = api.get("/api/transactions", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    items = first["items"] + second["items"]
    assert [item["id"] for item in items[:3]] == [withdrawal["id"], transfer["id"], deposit["id"]]
    assert items[3]["id"] < deposit["id"]
    w, t, d = items[:3]
    assert (w["kind"], w["from_user_id"], w["to_user_id"], w["amount"], w["amount_minor"], w["memo"]) == \
        ("withdrawal", bob["id"], None, "0.50", 50, memo)
    assert (t["kind"], t["from_user_id"], t["to_user_id"], t["amount"], t["memo"], t["created_at"]) == \
        ("transfer", alice["id"], bob["id"], "2.00", memo, transfer["created_at"])
    assert (d["kind"], d["from_user_id"], d["to_user_id"], d["amount"]) == ("deposit", None, alice["id"], "1.00")
    for item in items:
        assert_recent_timestamp(item["created_at"])


def test_global_feed_default_page_is_20_and_ids_descend_across_pages(api, new_user):
    user = new_user("1.00")
    for _ in range(21):
        api.deposit(user["id"], "0.01")
    first = api.get("/api/transactions").json()
    assert len(first["items"]) == 20 and isinstance(first["next_cursor"], str)
    second = api.get("/api/transactions", params={"cursor": first["next_cursor"], "limit": 100}).json()
    ids = [item["id"] for item in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids))


def test_money_is_neither_created_nor_lost_by_a_sequence_of_movements(api, db, new_user, verify):
    alice, bob, carol = new_user("10.00"), new_user("20.00"), new_user("30.00")
    api.transfer(alice["id"], bob["id"], "5.00")
    api.transfer(bob["id"], carol["id"], "25.00")
    api.transfer(carol["id"], alice["id"], "0.01")
    api.deposit(bob["id"], "1.00")
    api.withdraw(carol["id"], "2.00")
    total = sum(db.balance(u["id"]) for u in (alice, bob, carol))
    assert total == 6000 + 100 - 200
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr

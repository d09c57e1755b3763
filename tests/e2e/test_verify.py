"""`tally verify` recomputes every balance from the journal: clean books pass, books changed by hand do not."""

from tally_e2e import unique


def test_verify_passes_on_books_kept_by_the_api_and_says_what_it_checked(verify, new_user, api):
    alice, bob = new_user("3.00"), new_user()
    api.transfer(alice["id"], bob["id"], "1.00")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip(), "verify prints what it checked"


def test_verify_detects_a_balance_tampered_with_by_hand(db, new_user, verify):
    user = new_user("10.00")
    assert verify().returncode == 0
    db.execute(f"UPDATE users SET balance = balance + 1 WHERE id = {user['id']}")
    try:
        result = verify()
        output = result.stdout + result.stderr
        assert result.returncode == 1, f"verify exited {result.returncode} on a tampered balance:\n{output}"
        assert str(user["id"]) in output, output
    finally:
        db.execute(f"UPDATE users SET balance = balance - 1 WHERE id = {user['id']}")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_detects_a_journal_entry_tampered_with_by_hand(db, api, new_user, verify):
    user = new_user()
    memo = unique("tamper")
    deposit = api.deposit(user["id"], "2.00", memo=memo).json()
    db.execute(f"UPDATE movements SET amount = amount + 5 WHERE id = {deposit['id']}")
    try:
        result = verify()
        output = result.stdout + result.stderr
        assert result.returncode == 1, f"verify exited {result.returncode} on a tampered journal:\n{output}"
        assert str(user["id"]) in output, output
    finally:
        db.execute(f"UPDATE movements SET amount = amount - 5 WHERE id = {deposit['id']}")
    assert verify().returncode == 0

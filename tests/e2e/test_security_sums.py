"""Issue 23, item 4: sums over balances are exact. Each balance may reach 92233720368547758.07 (the largest
bigint in minor units), so the users' money together, and the outside world's balance (minus all of it), leave
the bigint range on books that are right: GET /api/stats still answers the exact total, `tally verify` still
passes, and the alert rules' window sum neither fails nor wraps around."""

from tally_e2e import minor, text, unique

LARGEST = "92233720368547758.07"
LARGEST_MINOR = 2**63 - 1


def stats(api) -> dict:
    response = api.get("/api/stats", params={"since": 0})
    assert response.status_code == 200, response.text
    return response.json()


def test_money_beyond_a_bigint_is_an_exact_total_and_clean_books(api, db, new_user, verify):
    rich = new_user(LARGEST)
    new_user("1.00")
    try:
        # The users' money now exceeds a bigint (other tests' users hold money too).
        held = int(db.value("SELECT sum(balance) FROM users WHERE NOT is_system"))
        assert held > LARGEST_MINOR
        totals = stats(api)
        assert totals["balance_total_minor"] == held  # Python reads every digit of the JSON number
        assert totals["balance_total"] == text(held)
        assert int(totals["balance_total"].replace(".", "")) == held
        result = verify()
        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "out of range" not in output
        assert f"outside world balance (from the journal): {-held} minor units" in output, output
    finally:
        # Leave the totals as they were for the other tests.
        assert api.withdraw(rich["id"], LARGEST, memo=unique("back")).status_code == 201
    assert stats(api)["balance_total_minor"] == held - LARGEST_MINOR
    assert verify().returncode == 0


def test_the_alert_window_sum_beyond_a_bigint_neither_fails_nor_wraps(api, db, new_user):
    user = new_user()
    answers = [
        api.deposit(user["id"], LARGEST, t=1000),
        api.withdraw(user["id"], LARGEST, t=1001),
        # Two deposits of the largest amount in the window: a bigint sum wrapped to -2 and raised nothing.
        api.deposit(user["id"], LARGEST, t=1002),
        # Now the window's sum itself is beyond a bigint: PostgreSQL said "bigint out of range".
        api.withdraw(user["id"], "0.01", t=1003),
    ]
    assert [answer.status_code for answer in answers] == [201] * 4, [answer.text for answer in answers]
    assert [answer.json()["alert_codes"] for answer in answers] == [[123], [123, 1100], [123], [123]]
    assert db.balance(user["id"]) == LARGEST_MINOR - minor("0.01")
    assert api.withdraw(user["id"], text(LARGEST_MINOR - 1), t=1004).status_code == 201

"""Limits that bind (issue 26) through nginx: a credit limit lets a balance go below zero down to minus the limit and
not a cent further; PATCH /api/users/{id} sets the limits (the service role only) and refuses a credit limit lower
than what is in use; a daily debit limit sums a user's debits since their local midnight, refuses the one that would
pass it (409 limit_exceeded) and stores an alert of code 2000 with no movement; time zones are validated; and
`tally verify` stays clean with negative balances in the books."""

from __future__ import annotations

import random
import threading

import pytest

from tally_e2e import Api, assert_error, assert_forbidden, text, unique

LIMIT_EXCEEDED_ALERT = 2000


def signed_text(minor_units: int) -> str:
    sign = "-" if minor_units < 0 else ""
    units = abs(minor_units)
    return f"{sign}{units // 100}.{units % 100:02d}"


def state(api, user) -> dict:
    """The user's money as GET /api/users/{id} shows it, in minor units."""
    shown = api.user(user["id"])
    for name in ("balance", "available", "held", "credit_limit"):
        assert shown[name] == signed_text(shown[f"{name}_minor"]), (name, shown)
    return {name: shown[f"{name}_minor"] for name in ("balance", "available", "held", "credit_limit")}


def assert_verify_clean(verify) -> None:
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_new_user_has_no_credit_no_daily_limit_and_the_utc_day(api):
    response = api.create_user(unique("plain"), "1.00")
    assert response.status_code == 201, response.text
    user = response.json()
    assert (user["credit_limit"], user["credit_limit_minor"], user["daily_debit_limit"],
            user["daily_debit_limit_minor"], user["time_zone"]) == ("0.00", 0, None, None, "UTC")
    assert (user["available"], user["available_minor"], user["held"], user["held_minor"]) == ("1.00", 100, "0.00", 0)
    assert api.user(user["id"]) == user


def test_a_credit_limit_lets_the_balance_go_down_to_minus_the_limit_and_no_further(api, db, new_user, verify):
    user, payee = new_user(credit_limit="50.00"), new_user()
    assert (user["credit_limit"], user["credit_limit_minor"], user["available_minor"]) == ("50.00", 5000, 5000)
    assert api.withdraw(user["id"], "30.00").status_code == 201
    response = api.transfer(user["id"], payee["id"], "20.00")
    assert response.status_code == 201, response.text
    assert (response.json()["from_balance"], response.json()["from_balance_minor"]) == ("-50.00", -5000)
    newest = api.get(f"/api/users/{user['id']}/transactions").json()["items"]
    assert [(entry["balance_after"], entry["balance_after_minor"]) for entry in newest[:2]] == [
        ("-50.00", -5000), ("-30.00", -3000)]
    assert state(api, user) == {"balance": -5000, "available": 0, "held": 0, "credit_limit": 5000}
    assert api.user(user["id"])["balance"] == "-50.00"
    for refused in (api.transfer(user["id"], payee["id"], "0.01"), api.withdraw(user["id"], "0.01"),
                    api.hold(user["id"], payee["id"], "0.01")):
        assert_error(refused, 409, "insufficient_funds")
    assert db.balance(user["id"]) == -5000
    # The database itself refuses a balance below minus the limit, whoever writes it.
    assert db_refuses(db, f"UPDATE users SET balance = -5001 WHERE id = {user['id']}"), (
        "the database let a balance go below minus the credit limit")
    # Money paid in brings it back up; the books are whole with a negative balance in them.
    api.deposit(user["id"], "60.00")
    assert state(api, user)["balance"] == 1000
    assert_verify_clean(verify)


def db_refuses(db, sql: str) -> bool:
    """Whether the database refuses a statement (made in a transaction rolled back, so that it changes nothing
    even when it is not refused)."""
    try:
        db.execute(f"BEGIN; {sql}; ROLLBACK;")
    except AssertionError:
        return True
    return False


def test_a_credit_limit_counts_pending_holds(api, new_user):
    user, payee = new_user("10.00", credit_limit="5.00"), new_user()
    hold = api.hold(user["id"], payee["id"], "12.00")
    assert hold.status_code == 201, hold.text
    assert state(api, user) == {"balance": 1000, "available": 300, "held": 1200, "credit_limit": 500}
    assert_error(api.transfer(user["id"], payee["id"], "3.01"), 409, "insufficient_funds")
    assert api.capture(hold.json()["id"]).status_code == 200
    assert state(api, user) == {"balance": -200, "available": 300, "held": 0, "credit_limit": 500}


@pytest.mark.parametrize("body,field", [({"credit_limit": "-1.00"}, "credit_limit"),
                                        ({"credit_limit": "1.001"}, "credit_limit"),
                                        ({"daily_debit_limit": "0"}, "daily_debit_limit"),
                                        ({"daily_debit_limit": "-5.00"}, "daily_debit_limit"),
                                        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
                                        ({"time_zone": ""}, "time_zone"),
                                        ({"time_zone": 5}, "time_zone")])
def test_bad_limits_on_create_are_refused_naming_the_field(api, body, field):
    assert_error(api.post("/api/users", {"name": unique("bad"), **body}), 422, "validation_failed", field)


def test_the_service_role_sets_and_unsets_limits_with_patch(api, new_user):
    user = new_user("10.00")
    response = api.patch(f"/api/users/{user['id']}", {"credit_limit": "25.00", "daily_debit_limit": "7.50",
                                                      "time_zone": "Europe/Berlin"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert (patched["credit_limit_minor"], patched["daily_debit_limit"], patched["daily_debit_limit_minor"],
            patched["time_zone"], patched["available_minor"]) == (2500, "7.50", 750, "Europe/Berlin", 3500)
    assert api.user(user["id"]) == patched
    unset = api.patch(f"/api/users/{user['id']}", {"daily_debit_limit": None})
    assert unset.status_code == 200 and unset.json()["daily_debit_limit"] is None, unset.text
    assert unset.json()["credit_limit_minor"] == 2500 and unset.json()["time_zone"] == "Europe/Berlin"


def test_patch_is_for_the_service_role_and_refuses_bad_bodies(api, new_account):
    alice = new_account("10.00")
    path = f"/api/users/{alice.id}"
    assert_forbidden(alice.api.patch(path, {"credit_limit": "1000.00"}))
    assert api.user(alice.id)["credit_limit_minor"] == 0
    assert_error(api.patch("/api/users/999999999", {"credit_limit": "1.00"}), 404, "not_found")
    assert_error(api.patch(path, {}), 422, "validation_failed")
    assert_error(api.patch(path, {"colour": "red"}), 422, "validation_failed", "colour")
    assert_error(api.patch(path, {"credit_limit": "-0.01"}), 422, "validation_failed", "credit_limit")
    assert_error(api.patch(path, {"time_zone": "Nowhere/Land"}), 422, "validation_failed", "time_zone")
    assert_error(api.patch(path, {"balance": "1000.00"}), 422, "validation_failed", "balance")
    assert api.user(alice.id)["time_zone"] == "UTC"


def test_a_credit_limit_cannot_be_lowered_below_what_is_in_use(api, new_user, verify):
    user, payee = new_user(credit_limit="50.00"), new_user()
    assert api.transfer(user["id"], payee["id"], "30.00").status_code == 201
    assert api.hold(user["id"], payee["id"], "10.00").status_code == 201
    path = f"/api/users/{user['id']}"
    error = assert_error(api.patch(path, {"credit_limit": "39.99"}), 409, "credit_limit_in_use")
    assert "40.00" in error["message"], error
    assert_error(api.patch(path, {"credit_limit": "0"}), 409, "credit_limit_in_use")
    assert state(api, user)["credit_limit"] == 5000
    response = api.patch(path, {"credit_limit": "40.00"})
    assert response.status_code == 200, response.text
    assert state(api, user) == {"balance": -3000, "available": 0, "held": 1000, "credit_limit": 4000}
    assert_verify_clean(verify)


def limit_alerts(api, db, user_id: int) -> list[dict]:
    listed = [alert for alert in api.all_pages(f"/api/users/{user_id}/alerts", 100)
              if alert["code"] == LIMIT_EXCEEDED_ALERT]
    stored = db.integer(f"SELECT count(*) FROM alerts WHERE user_id = {int(user_id)} AND code = "
                        f"{LIMIT_EXCEEDED_ALERT} AND movement_id IS NULL")
    assert stored == len(listed), (stored, listed)
    return listed


def test_a_daily_debit_limit_sums_the_days_debits_and_refuses_the_one_past_it(api, db, new_user, verify):
    user, payee = new_user("100.00", daily_debit_limit="20.00"), new_user("10.00")
    assert user["daily_debit_limit_minor"] == 2000
    assert api.transfer(user["id"], payee["id"], "8.00").status_code == 201
    assert api.withdraw(user["id"], "5.00").status_code == 201
    # Money in is no debit, and a hold is not one until it is captured.
    assert api.transfer(payee["id"], user["id"], "3.00").status_code == 201
    hold = api.hold(user["id"], payee["id"], "6.00").json()
    assert api.capture(hold["id"], "4.00").status_code == 200          # 17.00 of 20.00 debited today
    before = db.snapshot(user["id"], payee["id"])
    refused = assert_error(api.transfer(user["id"], payee["id"], "3.01"), 409, "limit_exceeded")
    assert "3.00" in refused["message"], refused
    assert_error(api.withdraw(user["id"], "3.01"), 409, "limit_exceeded")
    assert db.snapshot(user["id"], payee["id"]) == before
    alerts = limit_alerts(api, db, user["id"])
    assert [(a["kind"], a["amount"], a["amount_minor"], a["movement_id"], a["user_id"]) for a in alerts] == [
        ("withdrawal", "3.01", 301, None, user["id"]), ("transfer", "3.01", 301, None, user["id"])]
    listed = api.get("/api/alerts", params={"limit": 100}).json()["items"]
    assert [a["id"] for a in listed if a["user_id"] == user["id"] and a["code"] == LIMIT_EXCEEDED_ALERT] == [
        a["id"] for a in alerts]
    # Exactly what is left passes; then nothing more today.
    assert api.transfer(user["id"], payee["id"], "3.00").status_code == 201
    assert_error(api.transfer(user["id"], payee["id"], "0.01"), 409, "limit_exceeded")
    assert_verify_clean(verify)


def test_a_capture_and_a_reversal_are_debits_for_the_daily_limit(api, db, new_user):
    payer, payee = new_user("50.00", daily_debit_limit="5.00"), new_user("50.00", daily_debit_limit="5.00")
    hold = api.hold(payer["id"], payee["id"], "6.00").json()        # a hold is not a debit: it is allowed
    assert_error(api.capture(hold["id"]), 409, "limit_exceeded")
    assert api.get(f"/api/holds/{hold['id']}").json()["status"] == "pending"
    assert limit_alerts(api, db, payer["id"])[0]["kind"] == "transfer"
    transfer = api.post("/api/transfers", {"from_user_id": payer["id"], "to_user_id": payee["id"],
                                           "amount": "5.00"}).json()
    assert api.transfer(payee["id"], payer["id"], "4.00").status_code == 201
    error = assert_error(api.reverse(transfer["id"], "1.01"), 409, "limit_exceeded")
    assert "1.00" in error["message"], error
    alerts = limit_alerts(api, db, payee["id"])
    assert [(a["kind"], a["amount_minor"], a["movement_id"]) for a in alerts] == [("reversal", 101, None)]
    assert api.reverse(transfer["id"], "1.00").status_code == 201


def test_batch_items_are_held_to_the_daily_limit_item_by_item(api, db, new_user):
    user, payee = new_user("100.00", daily_debit_limit="10.00"), new_user()
    item = {"type": "transfer", "from_user_id": user["id"], "to_user_id": payee["id"], "amount": "4.00"}
    response = api.post("/api/batches", {"atomic": False, "movements": [item, item, item, dict(item, amount="2.00")]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["applied", "applied", "refused", "applied"]
    assert results[2]["error"]["code"] == "limit_exceeded"
    assert [(a["kind"], a["amount_minor"]) for a in limit_alerts(api, db, user["id"])] == [("transfer", 400)]
    atomic = api.post("/api/batches", {"movements": [dict(item, amount="0.01")]})
    assert assert_error(atomic, 409, "limit_exceeded")["index"] == 0
    assert api.balance_minor(user["id"]) == 9000


def test_an_unset_daily_limit_binds_no_more_and_a_user_in_another_time_zone_is_limited_the_same(api, new_user):
    user, payee = new_user("100.00", daily_debit_limit="1.00", time_zone="Pacific/Kiritimati"), new_user()
    assert user["time_zone"] == "Pacific/Kiritimati"
    assert api.transfer(user["id"], payee["id"], "1.00").status_code == 201
    assert_error(api.transfer(user["id"], payee["id"], "0.01"), 409, "limit_exceeded")
    other = api.patch(f"/api/users/{user['id']}", {"time_zone": "America/Adak"})
    assert other.status_code == 200 and other.json()["time_zone"] == "America/Adak", other.text
    # Whatever the zone, the debit made a moment ago is today's.
    assert_error(api.transfer(user["id"], payee["id"], "0.01"), 409, "limit_exceeded")
    assert api.patch(f"/api/users/{user['id']}", {"daily_debit_limit": None}).status_code == 200
    assert api.transfer(user["id"], payee["id"], "50.00").status_code == 201


def test_a_user_sees_their_own_limits_in_me(new_account):
    alice = new_account("10.00", credit_limit="5.00", daily_debit_limit="3.00", time_zone="Asia/Tokyo")
    me = alice.api.me().json()
    assert (me["credit_limit"], me["daily_debit_limit"], me["time_zone"], me["available"]) == (
        "5.00", "3.00", "Asia/Tokyo", "15.00")


def test_a_daily_limit_set_later_counts_the_days_earlier_debits(api, new_user):
    user, payee = new_user("100.00"), new_user()
    assert api.transfer(user["id"], payee["id"], "8.00").status_code == 201
    assert api.withdraw(user["id"], "1.00").status_code == 201
    response = api.patch(f"/api/users/{user['id']}", {"daily_debit_limit": "10.00"})
    assert response.status_code == 200, response.text
    error = assert_error(api.transfer(user["id"], payee["id"], "1.01"), 409, "limit_exceeded")
    assert "1.00" in error["message"], error
    assert api.transfer(user["id"], payee["id"], "1.00").status_code == 201


def test_the_day_of_the_daily_limit_starts_at_midnight_in_the_users_time_zone(api, db, new_user, verify):
    """A debit made a minute before midnight UTC (moved there by hand in the journal) is yesterday's for a user
    whose day is UTC's, and today's for a user in a zone whose midnight came earlier: setting a daily limit of
    10.00 leaves the first 10.00 for today and the second 2.00."""
    before_midnight = "date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 minute'"
    # A zone whose day began before that minute (every zone's day began within the last 24 hours; one of the
    # whole-hour zones west of UTC began it before UTC's midnight).
    zone = db.value(
        "SELECT z FROM (SELECT 'Etc/GMT+' || n AS z FROM generate_series(1, 12) n) zones "
        f"WHERE ((now() AT TIME ZONE z)::date)::timestamp AT TIME ZONE z <= {before_midnight} LIMIT 1")
    users = {"UTC": new_user("100.00"), zone: new_user("100.00", time_zone=zone)}
    payee = new_user()
    originals = {}
    for user in users.values():
        movement = api.transfer(user["id"], payee["id"], "8.00").json()
        originals[movement["id"]] = db.value(f"SELECT created_at FROM movements WHERE id = {movement['id']}")
    try:
        db.execute(f"UPDATE movements SET created_at = {before_midnight} "
                   f"WHERE id IN ({','.join(str(i) for i in originals)})")
        for user in users.values():
            assert api.patch(f"/api/users/{user['id']}", {"daily_debit_limit": "10.00"}).status_code == 200
        assert_error(api.transfer(users[zone]["id"], payee["id"], "2.01"), 409, "limit_exceeded")
        assert api.transfer(users[zone]["id"], payee["id"], "2.00").status_code == 201
        assert api.transfer(users["UTC"]["id"], payee["id"], "10.00").status_code == 201
        assert_error(api.transfer(users["UTC"]["id"], payee["id"], "0.01"), 409, "limit_exceeded")
    finally:
        for movement_id, created_at in originals.items():
            db.execute(f"UPDATE movements SET created_at = :'t' WHERE id = {movement_id}", t=created_at)
    assert_verify_clean(verify)


def test_concurrent_debits_never_add_up_past_the_daily_limit(api, db, new_user, base_url, verify):
    """Twelve clients at once send transfers, withdrawals and captures of holds that debit one user under a daily
    limit of 50.00 (with money for far more): the debits applied add up to 50.00 at most, every refusal says
    limit_exceeded (a capture may also find its hold settled by another client), each one stored one alert of
    code 2000, and what is left of the day is exactly 50.00 less what was applied."""
    user, payee = new_user("1000.00", daily_debit_limit="50.00"), new_user()
    holds = [api.hold(user["id"], payee["id"], "3.00").json() for _ in range(4)]
    answers: list[tuple[str, object]] = []
    lock, start = threading.Lock(), threading.Barrier(12)

    def client(number: int) -> None:
        own, chooser = Api(base_url), random.Random(number)
        try:
            start.wait(30)
            for _ in range(8):
                roll = chooser.random()
                amount = text(chooser.randint(1, 400))
                if roll < 0.5:
                    kind, response = "transfer", own.transfer(user["id"], payee["id"], amount)
                elif roll < 0.85:
                    kind, response = "withdrawal", own.withdraw(user["id"], amount)
                else:
                    kind, response = "capture", own.capture(chooser.choice(holds)["id"])
                with lock:
                    answers.append((kind, response))
        finally:
            own.close()

    clients = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(12)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(120)
    assert len(answers) == 96
    applied, limited = 0, 0
    for kind, response in answers:
        if response.status_code in (200, 201):
            body = response.json()
            applied += body["transfer"]["amount_minor"] if kind == "capture" else body["amount_minor"]
        elif kind == "capture" and response.json()["error"]["code"] == "hold_not_pending":
            continue
        else:
            assert_error(response, 409, "limit_exceeded")
            limited += 1
    debited = db.integer(f"SELECT COALESCE(sum(amount), 0) FROM movements WHERE debit_user_id = {user['id']}")
    assert debited == applied <= 5000, (debited, applied)
    assert limited > 0, "the limit never bound"
    assert db.integer(f"SELECT count(*) FROM alerts WHERE user_id = {user['id']} AND code = 2000 "
                      "AND movement_id IS NULL") == limited
    left = 5000 - applied
    assert_error(api.transfer(user["id"], payee["id"], text(left + 1)), 409, "limit_exceeded")
    if left:
        assert api.transfer(user["id"], payee["id"], text(left)).status_code == 201
    assert_verify_clean(verify)

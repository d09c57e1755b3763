"""Many clients at once doing random transfers among a few hot users, through nginx: the books stay right,
with the service token (never throttled by nginx) and with each user's own token."""

import threading
import time
import uuid

from tally_e2e import (Api, Load, check_balance_chains, check_hot_users, check_journal_against_answers,
                       new_password, new_username, unique)


def test_concurrent_transfers_among_hot_users_keep_the_books_balanced(api, db, new_user, base_url, verify):
    # The service role's token: clients pay from any of the users. (A 429 would be an "unexpected answer".)
    users = [new_user("100.00")["id"] for _ in range(5)]
    total_before = sum(db.balance(user_id) for user_id in users)

    load = Load(base_url, users, threads=32, per_thread=50, max_amount_minor=2500)
    load.run(deadline_seconds=240)

    statuses = load.by_status()
    print(f"\n{len(load.outcomes)} transfers: {statuses}")
    assert len(load.outcomes) == 32 * 50, "every client sent all its requests in time"
    odd = [(o.status, o.body, o.error) for o in load.outcomes if o.status not in (201, 409, 503)]
    assert not odd, f"{len(odd)} unexpected answers, e.g. {odd[:3]}"
    # 503 (retries exhausted) is an honest answer under contention, but it must stay the exception.
    assert statuses.get(201, 0) >= len(load.outcomes) // 2, statuses
    for outcome in load.outcomes:
        if outcome.status == 409:
            assert outcome.body["error"]["code"] == "insufficient_funds", outcome.body
        elif outcome.status == 503:
            assert outcome.body["error"]["code"] == "unavailable", outcome.body
        else:
            body = outcome.body
            assert (body["from_user_id"], body["to_user_id"], body["amount_minor"], body["memo"]) == (
                outcome.from_id, outcome.to_id, outcome.amount_minor, outcome.memo)
            assert body["from_balance_minor"] >= 0 and body["to_balance_minor"] >= 0

    check_journal_against_answers(load, db)
    check_hot_users(api, db, users, total_before)
    check_balance_chains(db, users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_concurrent_replays_of_one_key_move_money_once(api, db, new_user, base_url):
    """Many clients sending the same request with the same key at the same moment: one transfer."""
    alice, bob = new_user("50.00"), new_user()
    key, memo = f"race-{uuid.uuid4()}", unique("race")
    answers, lock = [], threading.Lock()
    start = threading.Barrier(16)

    def client():
        own = Api(base_url)
        try:
            start.wait(timeout=30)
            response = own.transfer(alice["id"], bob["id"], "3.00", memo=memo, headers={"Idempotency-Key": key})
            with lock:
                answers.append((response.status_code, response.json(),
                                response.headers.get("Idempotency-Replayed")))
        finally:
            own.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 16
    statuses = {status for status, _, _ in answers}
    assert statuses <= {201, 503}, answers
    created = [body for status, body, _ in answers if status == 201]
    assert created and all(body == created[0] for body in created)
    assert sum(1 for status, _, replayed in answers if status == 201 and replayed != "true") == 1
    assert db.integer("SELECT count(*) FROM movements WHERE memo = :'memo'", memo=memo) == 1
    assert (db.balance(alice["id"]), db.balance(bob["id"])) == (4700, 300)


def test_concurrent_transfers_by_users_with_their_own_tokens_keep_the_books_balanced(api, db, new_account, base_url,
                                                                                      verify):
    """Each client is one of the users, with that user's log-in token (renewed by logging in again before it
    expires), and pays from their own account to the others; every 8th request tries to take money from
    another user's account instead, which must be refused with 403 and leave no trace."""
    accounts = [new_account("100.00") for _ in range(5)]
    users = [account.id for account in accounts]
    total_before = sum(db.balance(user_id) for user_id in users)

    load = Load(base_url, users, threads=20, per_thread=40, max_amount_minor=2500, accounts=accounts,
                forbidden_every=8)
    started = time.monotonic()
    load.run(deadline_seconds=240)
    took = time.monotonic() - started

    statuses = load.by_status()
    tokens = db.integer(f"SELECT count(*) FROM tokens WHERE user_id IN ({','.join(map(str, users))})")
    print(f"\n{len(load.outcomes)} transfers with user tokens in {took:.1f} s ({tokens} log-ins): {statuses}")
    assert len(load.outcomes) == 20 * 40, "every client sent all its requests in time"
    assert all(outcome.caller in users for outcome in load.outcomes)
    attempts = [o for o in load.outcomes if o.from_id != o.caller]
    assert len(attempts) == 20 * (40 // 8)
    for outcome in attempts:
        assert outcome.status == 403 and outcome.body["error"]["code"] == "forbidden", (outcome.status, outcome.body)
        assert outcome.to_id == outcome.caller
    own = [o for o in load.outcomes if o.from_id == o.caller]
    odd = [(o.status, o.body, o.error) for o in own if o.status not in (201, 409, 503)]
    assert not odd, f"{len(odd)} unexpected answers (an expired token would be 401), e.g. {odd[:3]}"
    assert sum(1 for o in own if o.status == 201) >= len(own) // 2, statuses
    for outcome in own:
        if outcome.status == 201:
            body = outcome.body
            assert (body["from_user_id"], body["to_user_id"], body["amount_minor"], body["memo"]) == (
                outcome.from_id, outcome.to_id, outcome.amount_minor, outcome.memo)

    check_journal_against_answers(load, db)
    check_hot_users(api, db, users, total_before)
    check_balance_chains(db, users)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_concurrent_sign_ups_of_one_username_make_one_user(base_url, db):
    """Many people registering the same name (in any case) at the same moment: one user, the rest 409."""
    username = new_username()
    answers, lock = [], threading.Lock()
    start = threading.Barrier(12)

    def client(n: int):
        own = Api(base_url, token=None)
        try:
            start.wait(timeout=30)
            spelling = username.upper() if n % 2 else username
            response = own.register(spelling, new_password())
            with lock:
                answers.append((response.status_code, response.json()))
        finally:
            own.close()

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 12
    assert sorted(status for status, _ in answers) == [201] + [409] * 11, answers
    assert all(body["error"]["code"] == "username_taken" for status, body in answers if status == 409)
    assert db.integer("SELECT count(*) FROM users WHERE lower(username) = lower(:'u')", u=username) == 1

"""Many clients at once doing random transfers among a few hot users, through nginx: the books stay right."""

import threading
import uuid

from tally_e2e import Api, Load, check_balance_chains, check_hot_users, check_journal_against_answers, unique


def test_concurrent_transfers_among_hot_users_keep_the_books_balanced(api, db, new_user, base_url, verify):
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

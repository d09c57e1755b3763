"""Store and forward: with the pool started with a spool (TALLY_SPOOL), keyed money-moving requests made while
PostgreSQL is down are answered 202 pending, survive the pool's kill -9, and are applied or refused exactly once
when the database is back. The module restarts the pool with a spool and the database stopped (so it is in the
fault suite); every test leaves the database running and the pool as test.sh started it."""

import os
import random
import signal
import subprocess
import threading

from openapi_contract import check_against_document, load_spec
from outages import database_stopped, spool_status, spooling_pool
from tally_e2e import Api, assert_error, env, run_verify, unique, wait_for

SPEC = load_spec()


def make_known_to_the_spool(api) -> None:
    """One request the database accepts with the client's token: only such tokens are spooled in an outage."""
    response = api.get("/api/me")
    assert response.status_code == 200, response.text


def kill_pool_and_start_again(pool) -> None:
    """kill -9 to the supervisor and every process of its group (workers and replayer), then a new pool, which
    cannot be healthy yet: the database is down. Waits until it answers /api/ping."""
    supervisor = pool.supervisor_pid()
    os.killpg(supervisor, signal.SIGKILL)
    assert wait_for(lambda: not pool.workers(), 10)
    subprocess.run(os.environ["TALLY_POOL_START"].split(), check=True, capture_output=True, timeout=120)
    assert pool.supervisor_pid() != supervisor
    assert wait_for(lambda: ping_answers(pool.base_url), 30), "the restarted pool does not answer"


def ping_answers(base_url: str) -> bool:
    try:
        return Api(base_url).get("/api/ping").status_code == 200
    except Exception:
        return False


def transfer_body(from_id, to_id, amount_minor, memo):
    return {"from_user_id": from_id, "to_user_id": to_id, "amount": f"{amount_minor // 100}.{amount_minor % 100:02d}",
            "memo": memo}


def test_requests_spooled_while_the_database_is_down_are_applied_or_refused_exactly_once(
        pool, api, db, new_user):
    users = [new_user("30.00") for _ in range(4)]
    ids = [user["id"] for user in users]
    before = {user_id: db.balance(user_id) for user_id in ids}
    prefix = unique("spool")
    # Each client's own transfers: amounts up to 12.00 among four users of 30.00, so that some will not be covered.
    plans = [[(random.sample(ids, 2), random.randint(100, 1200), f"{prefix}-{client}-{number}")
              for number in range(15)] for client in range(8)]
    accepted: dict[str, dict] = {}
    lock = threading.Lock()
    errors: list[str] = []

    def client(plan):
        session = Api(api.base_url)
        for (from_id, to_id), amount, key in plan:
            response = session.post("/api/transfers", transfer_body(from_id, to_id, amount, key),
                                    headers={"Idempotency-Key": key})
            if response.status_code != 202 or response.json() != {"status": "pending", "idempotency_key": key}:
                with lock:
                    errors.append(f"{key}: {response.status_code} {response.text}")
                continue
            with lock:
                accepted[key] = {"from": from_id, "to": to_id, "amount": amount}
        session.close()

    with spooling_pool(pool):
        make_known_to_the_spool(api)
        with database_stopped():
            threads = [threading.Thread(target=client, args=(plan,)) for plan in plans]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
            assert not errors, errors[:5]
            assert len(accepted) == 120

            some_key = next(iter(accepted))
            check_against_document(SPEC, "GET", f"/api/requests/{some_key}", pending := api.get(
                f"/api/requests/{some_key}"))
            assert pending.status_code == 200 and pending.json()["status"] == "pending", pending.text
            # The same request again: the same 202, stored once.
            spec = accepted[some_key]
            repeat = api.post("/api/transfers", transfer_body(spec["from"], spec["to"], spec["amount"], some_key),
                              headers={"Idempotency-Key": some_key})
            check_against_document(SPEC, "POST", "/api/transfers", repeat)
            assert repeat.status_code == 202 and repeat.headers.get("Idempotency-Replayed") == "true"
            # The same key for something else: refused at once.
            other = api.post("/api/transfers", transfer_body(spec["from"], spec["to"], spec["amount"] + 1, some_key),
                             headers={"Idempotency-Key": some_key})
            assert_error(other, 422, "idempotency_key_reused", "Idempotency-Key")
            # Another caller's key is not theirs to read, even while the database is down.
            stranger = Api(api.base_url, token="tly_" + "A" * 43)
            assert stranger.get(f"/api/requests/{some_key}").status_code == 503
            # A malformed amount is refused at once, never stored.
            malformed = api.post("/api/transfers", {"from_user_id": ids[0], "to_user_id": ids[1], "amount": "1.001"},
                                 headers={"Idempotency-Key": unique("bad")})
            assert_error(malformed, 422, "validation_failed", "amount")
            # Reads still fail: Tally does not guess balances.
            assert api.get(f"/api/users/{ids[0]}").status_code == 503
            assert wait_for(lambda: spool_status(api)["depth"] == 120, 10), spool_status(api)

            kill_pool_and_start_again(pool)
            assert wait_for(lambda: spool_status(api)["depth"] == 120, 10), spool_status(api)
            assert spool_status(api)["oldest_age"] >= 0
            assert api.get(f"/api/requests/{some_key}").json()["status"] == "pending"

        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        outcomes = {key: api.get(f"/api/requests/{key}") for key in accepted}

    for key, response in outcomes.items():
        check_against_document(SPEC, "GET", f"/api/requests/{key}", response)
    statuses = {key: response.json()["status"] for key, response in outcomes.items()}
    applied = [key for key, status in statuses.items() if status == "applied"]
    refused = [key for key, status in statuses.items() if status == "refused"]
    assert len(applied) + len(refused) == 120, statuses
    assert all(outcomes[key].json()["error"]["code"] == "insufficient_funds" for key in refused)
    assert refused, "no transfer went beyond a balance: the scenario did not test refusals"

    journal = db.movements_with_memo_prefix(prefix)
    assert set(journal) == set(applied), "the journal holds exactly the applied requests"
    assert all(len(rows) == 1 for rows in journal.values()), "a request was applied twice"
    expected = dict(before)
    for key in applied:
        spec = accepted[key]
        movement = outcomes[key].json()["movement"]
        assert (movement["from_user_id"], movement["to_user_id"], movement["amount_minor"]) == (
            spec["from"], spec["to"], spec["amount"])
        assert movement["id"] == journal[key][0]["id"]
        expected[spec["from"]] -= spec["amount"]
        expected[spec["to"]] += spec["amount"]
    assert {user_id: db.balance(user_id) for user_id in ids} == expected
    assert all(balance >= 0 for balance in expected.values())
    verified = run_verify(env("TALLY_BIN"), env("TALLY_DATABASE"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # Repeating the original request now answers its stored outcome.
    key = applied[0]
    spec = accepted[key]
    repeat = api.post("/api/transfers", transfer_body(spec["from"], spec["to"], spec["amount"], key),
                      headers={"Idempotency-Key": key})
    assert repeat.status_code == 201 and repeat.headers.get("Idempotency-Replayed") == "true", repeat.text
    print(f"\nspool: 120 accepted (202) with the database down, the pool killed with kill -9 and restarted; "
          f"{len(applied)} applied, {len(refused)} refused (insufficient_funds)")


def test_without_an_idempotency_key_or_with_the_spool_full_the_answer_stays_503(pool, api, new_user):
    alice, bob = new_user("50.00"), new_user()
    with spooling_pool(pool, TALLY_SPOOL_MAX_BYTES="1024"):
        make_known_to_the_spool(api)
        with database_stopped():
            unkeyed = api.transfer(alice["id"], bob["id"], "1.00")
            assert_error(unkeyed, 503, "unavailable")
            assert unkeyed.headers.get("Retry-After", "").isdigit()
            answers = [api.post(f"/api/users/{alice['id']}/withdrawals", {"amount": "1.00"},
                                headers={"Idempotency-Key": unique("full")}) for _ in range(10)]
            statuses = [answer.status_code for answer in answers]
            assert statuses[0] == 202, answers[0].text
            assert 503 in statuses, statuses
            first_full = statuses.index(503)
            assert all(status == 503 for status in statuses[first_full:]), statuses
            assert_error(answers[first_full], 503, "unavailable")
            assert answers[first_full].headers.get("Retry-After", "").isdigit()
            check_against_document(SPEC, "POST", f"/api/users/{alice['id']}/withdrawals", answers[0])
            check_against_document(SPEC, "POST", f"/api/users/{alice['id']}/withdrawals", answers[first_full])
            # The replayer counts the spool every 0.2 s: wait until it has counted these, or a depth of 0 read
            # right after the database is back may be the count from before they were spooled.
            assert wait_for(lambda: spool_status(api)["depth"] == first_full, 10), spool_status(api)
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        assert api.balance_minor(alice["id"]) == 5000 - 100 * first_full

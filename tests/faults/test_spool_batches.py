"""Store and forward for batches: with the pool started with a spool, a keyed POST /api/batches made while
PostgreSQL is down is answered 202 pending like a single movement, and applied (or refused whole) exactly once,
through the same ledger call as a live batch, when the database is back. Leaves the database running and the pool
as test.sh started it."""

from openapi_contract import check_against_document, load_spec
from outages import database_stopped, spool_status, spooling_pool
from tally_e2e import assert_error, env, run_verify, unique, wait_for

SPEC = load_spec()


def transfer(from_id, to_id, amount, memo):
    return {"type": "transfer", "from_user_id": from_id, "to_user_id": to_id, "amount": amount, "memo": memo}


def test_keyed_batches_spooled_while_the_database_is_down_are_applied_or_refused_once(
        pool, api, db, new_user, new_account):
    a, b, c = new_user("30.00"), new_user(), new_user()
    ids = [a["id"], b["id"], c["id"]]
    other = new_account("5.00")
    prefix = unique("spoolbatch")
    # Atomic: b pays c out of what a paid b just before (items apply in order).
    paid_on = {"atomic": True, "movements": [transfer(a["id"], b["id"], "10.00", f"{prefix}-1-0"),
                                             transfer(b["id"], c["id"], "5.00", f"{prefix}-1-1")]}
    # Item by item: the middle item overdraws c and is refused on its own.
    item_by_item = {"atomic": False, "movements": [
        transfer(a["id"], c["id"], "5.00", f"{prefix}-2-0"),
        transfer(c["id"], b["id"], "100.00", f"{prefix}-2-1"),
        {"type": "withdrawal", "user_id": b["id"], "amount": "1.00", "memo": f"{prefix}-2-2"}]}
    # Atomic with an overdraft at index 1: refused whole at replay, its first item with it.
    overdrawn = {"atomic": True, "movements": [transfer(a["id"], b["id"], "1.00", f"{prefix}-3-0"),
                                               transfer(b["id"], a["id"], "1000.00", f"{prefix}-3-1")]}
    batches = {f"{prefix}-paid-on": paid_on, f"{prefix}-items": item_by_item, f"{prefix}-overdrawn": overdrawn}

    with spooling_pool(pool):
        assert api.get("/api/me").status_code == 200  # the service token, known to the spool
        assert other.api.get("/api/me").status_code == 200
        with database_stopped():
            for key, body in batches.items():
                response = api.post("/api/batches", body, headers={"Idempotency-Key": key})
                assert response.status_code == 202, response.text
                assert response.json() == {"status": "pending", "idempotency_key": key}
                check_against_document(SPEC, "POST", "/api/batches", response)
            key = f"{prefix}-paid-on"
            repeat = api.post("/api/batches", paid_on, headers={"Idempotency-Key": key})
            assert repeat.status_code == 202 and repeat.headers.get("Idempotency-Replayed") == "true", repeat.text
            pending = api.get(f"/api/requests/{key}")
            assert pending.status_code == 200 and pending.json()["status"] == "pending", pending.text
            # The same key for another batch: refused at once.
            assert_error(api.post("/api/batches", overdrawn, headers={"Idempotency-Key": key}),
                         422, "idempotency_key_reused", "Idempotency-Key")
            # Unkeyed: 503 as for a single movement.
            unkeyed = api.post("/api/batches", paid_on)
            assert_error(unkeyed, 503, "unavailable")
            assert unkeyed.headers.get("Retry-After", "").isdigit()
            # Malformed: refused at once with the item's field, never stored.
            malformed = {"movements": [transfer(a["id"], b["id"], "1.001", "x")]}
            error = assert_error(api.post("/api/batches", malformed, headers={"Idempotency-Key": unique("bad")}),
                                 422, "validation_failed", "movements[0].amount")
            assert error["index"] == 0
            # A user's atomic batch debiting someone else's account: 403 at once, with the item's index.
            theirs = {"movements": [transfer(other.id, a["id"], "1.00", "mine"), transfer(a["id"], other.id, "1.00",
                                                                                            "theirs")]}
            error = assert_error(other.api.post("/api/batches", theirs, headers={"Idempotency-Key": unique("f")}),
                                 403, "forbidden")
            assert error["index"] == 1
            assert wait_for(lambda: spool_status(api)["depth"] == 3, 10), spool_status(api)
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        outcomes = {key: api.get(f"/api/requests/{key}") for key in batches}

    for key, response in outcomes.items():
        assert response.status_code == 200, response.text
        check_against_document(SPEC, "GET", f"/api/requests/{key}", response)
    paid_on_outcome = outcomes[f"{prefix}-paid-on"].json()
    items_outcome = outcomes[f"{prefix}-items"].json()
    assert paid_on_outcome["status"] == "applied" and items_outcome["status"] == "applied"
    refused = outcomes[f"{prefix}-overdrawn"].json()
    assert refused["status"] == "refused" and refused["error"]["code"] == "insufficient_funds", refused

    # Each applied item is in the journal exactly once; nothing of the refused atomic batch or refused item is.
    journal = db.movements_with_memo_prefix(prefix)
    assert set(journal) == {f"{prefix}-1-0", f"{prefix}-1-1", f"{prefix}-2-0", f"{prefix}-2-2"}, journal
    assert all(len(rows) == 1 for rows in journal.values()), "an item was applied twice"
    assert {user_id: db.balance(user_id) for user_id in ids} == {a["id"]: 1500, b["id"]: 400, c["id"]: 1000}

    # The original requests now answer the batches' outcomes, as live ones would.
    again = api.post("/api/batches", paid_on, headers={"Idempotency-Key": f"{prefix}-paid-on"})
    assert again.status_code == 201 and again.headers.get("Idempotency-Replayed") == "true", again.text
    assert again.json()["id"] == paid_on_outcome["batch_id"]
    assert [result["movement"]["id"] for result in again.json()["results"]] == [
        journal[f"{prefix}-1-0"][0]["id"], journal[f"{prefix}-1-1"][0]["id"]]
    again = api.post("/api/batches", item_by_item, headers={"Idempotency-Key": f"{prefix}-items"})
    assert again.status_code == 200 and again.json()["id"] == items_outcome["batch_id"], again.text
    assert [result["status"] for result in again.json()["results"]] == ["applied", "refused", "applied"]
    assert again.json()["results"][1]["error"]["code"] == "insufficient_funds"
    again = api.post("/api/batches", overdrawn, headers={"Idempotency-Key": f"{prefix}-overdrawn"})
    assert assert_error(again, 409, "insufficient_funds", replayed=True)["index"] == 1
    recorded = api.get(f"/api/batches/{paid_on_outcome['batch_id']}")
    assert recorded.status_code == 200, recorded.text
    assert [item["status"] for item in recorded.json()["items"]] == ["applied", "applied"]

    verified = run_verify(env("TALLY_BIN"), env("TALLY_DATABASE"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print("\nspool: 3 keyed batches accepted (202) with the database down; 2 applied once (atomic, item by item), "
          "1 atomic refused whole (insufficient_funds at index 1)")

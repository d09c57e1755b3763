"""Store and forward for holds, captures, voids and reversals: with the pool started with a spool, each keyed
request made while PostgreSQL is down is answered 202 pending and applied (or refused) exactly once when the
database is back, as its caller, through the same ledger call as a live one. Leaves the database running and the
pool as test.sh started it."""

from openapi_contract import check_against_document, load_spec
from outages import database_stopped, spool_status, spooling_pool
from tally_e2e import assert_error, env, run_verify, unique, wait_for

SPEC = load_spec()


def hold_body(payer, payee, amount, memo):
    return {"from_user_id": payer, "to_user_id": payee, "amount": amount, "memo": memo, "expires_in": 3600}


def test_keyed_holds_captures_voids_and_reversals_spooled_while_the_database_is_down_apply_once(
        pool, api, db, new_account):
    payer, payee = new_account("50.00"), new_account()
    prefix = unique("spoolhold")
    # Made live: a hold for the payee to capture, one for the payer to void, a transfer for the payee to refund.
    to_capture = api.post("/api/holds", hold_body(payer.id, payee.id, "10.00", f"{prefix}-c")).json()
    to_void = api.post("/api/holds", hold_body(payer.id, payee.id, "5.00", f"{prefix}-v")).json()
    untouched = api.post("/api/holds", hold_body(payer.id, payee.id, "2.00", f"{prefix}-u")).json()
    paid = api.transfer(payer.id, payee.id, "8.00", memo=f"{prefix}-t").json()
    requests = {
        f"{prefix}-hold": (payer.api, "/api/holds", hold_body(payer.id, payee.id, "4.00", f"{prefix}-h")),
        f"{prefix}-capture": (payee.api, f"/api/holds/{to_capture['id']}/capture", {"amount": "6.00"}),
        f"{prefix}-void": (payer.api, f"/api/holds/{to_void['id']}/void", None),
        f"{prefix}-refund": (payee.api, f"/api/transfers/{paid['id']}/reversals", {"amount": "3.00"}),
        # The payer may not capture: stored (the spool cannot tell whose hold it is), refused at replay.
        f"{prefix}-own-capture": (payer.api, f"/api/holds/{untouched['id']}/capture", None),
    }

    with spooling_pool(pool):
        for account in (payer, payee):
            assert account.api.get("/api/me").status_code == 200  # their tokens, known to the spool
        with database_stopped():
            for key, (client, path, body) in requests.items():
                response = client.post(path, body, headers={"Idempotency-Key": key})
                assert response.status_code == 202, (path, response.text)
                assert response.json() == {"status": "pending", "idempotency_key": key}
                check_against_document(SPEC, "POST", path, response)
            # A hold on someone else's account: 403 at once, never stored.
            assert_error(payee.api.post("/api/holds", hold_body(payer.id, payee.id, "1.00", "x"),
                                        headers={"Idempotency-Key": unique("theirs")}), 403, "forbidden")
            # A bad capture body: 422 at once; unkeyed: 503.
            assert_error(payee.api.post(f"/api/holds/{to_capture['id']}/capture", {"amount": "0"},
                                        headers={"Idempotency-Key": unique("bad")}), 422, "validation_failed", "amount")
            assert_error(payer.api.post(f"/api/holds/{to_void['id']}/void"), 503, "unavailable")
            assert wait_for(lambda: spool_status(api)["depth"] == len(requests), 10), spool_status(api)
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        outcomes = {key: client.get(f"/api/requests/{key}") for key, (client, _, _) in requests.items()}

    for key, response in outcomes.items():
        assert response.status_code == 200, response.text
        check_against_document(SPEC, "GET", f"/api/requests/{key}", response)
    outcome = {key: response.json() for key, response in outcomes.items()}
    assert outcome[f"{prefix}-hold"]["status"] == "applied", outcome
    placed = api.get(f"/api/holds/{outcome[f'{prefix}-hold']['hold_id']}").json()
    assert (placed["status"], placed["amount_minor"], placed["memo"]) == ("pending", 400, f"{prefix}-h"), placed
    capture = outcome[f"{prefix}-capture"]["movement"]
    assert (capture["hold_id"], capture["amount_minor"]) == (to_capture["id"], 600), capture
    assert outcome[f"{prefix}-void"] == {"status": "applied", "idempotency_key": f"{prefix}-void",
                                         "hold_id": to_void["id"]}, outcome
    refund = outcome[f"{prefix}-refund"]["movement"]
    assert (refund["kind"], refund["reversal_of"], refund["amount_minor"]) == ("reversal", paid["id"], 300), refund
    refused = outcome[f"{prefix}-own-capture"]
    assert refused["status"] == "refused" and refused["error"]["code"] == "forbidden", refused

    # Each applied once: the payer paid 8.00 and 6.00 and got 3.00 back; 4.00 and 2.00 are held; the voided hold
    # is gone.
    assert db.balance(payer.id) == 5000 - 800 - 600 + 300
    assert db.balance(payee.id) == 800 + 600 - 300
    shown = api.get(f"/api/users/{payer.id}").json()
    assert (shown["held_minor"], shown["available_minor"]) == (600, 3900 - 600), shown
    assert api.get(f"/api/holds/{untouched['id']}").json()["status"] == "pending"
    assert api.get(f"/api/holds/{to_void['id']}").json()["status"] == "voided"
    assert api.get(f"/api/holds/{to_capture['id']}").json()["status"] == "captured"
    # The requests sent again answer their outcomes, as live ones would.
    again = payee.api.post(f"/api/holds/{to_capture['id']}/capture", {"amount": "6.00"},
                           headers={"Idempotency-Key": f"{prefix}-capture"})
    assert again.status_code == 200 and again.headers.get("Idempotency-Replayed") == "true", again.text
    assert again.json()["transfer"]["id"] == capture["id"]
    verified = run_verify(env("TALLY_BIN"), env("TALLY_DATABASE"))
    assert verified.returncode == 0, verified.stdout + verified.stderr

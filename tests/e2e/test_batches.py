"""POST /api/batches and GET /api/batches/{id} through nginx: atomic and item-by-item batches, in-order
balances, roles, idempotency of the request and of each item, the body limit, and a batch's record."""

from __future__ import annotations

import json
import uuid

from tally_e2e import assert_error, minor


def transfer(from_id, to_id, amount, memo=None, key=None):
    item = {"type": "transfer", "from_user_id": from_id, "to_user_id": to_id, "amount": amount}
    if memo is not None:
        item["memo"] = memo
    if key is not None:
        item["idempotency_key"] = key
    return item


def cash(kind, user_id, amount, key=None):
    item = {"type": kind, "user_id": user_id, "amount": amount}
    if key is not None:
        item["idempotency_key"] = key
    return item


def send(api, movements, atomic=None, **kwargs):
    body = {"movements": movements}
    if atomic is not None:
        body["atomic"] = atomic
    return api.post("/api/batches", body, **kwargs)


def balance(api, user):
    return api.balance_minor(user["id"])


def test_an_atomic_batch_applies_every_item_in_order_and_answers_each_movement(api, new_user):
    a, b, c = new_user("10.00"), new_user(), new_user()
    response = send(api, [transfer(a["id"], b["id"], "10.00", "first"), transfer(b["id"], c["id"], "4.00"),
                          cash("deposit", c["id"], "1.50"), cash("withdrawal", b["id"], "6.00")])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["atomic"] is True and isinstance(body["id"], int)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert [r["status"] for r in results] == ["applied"] * 4
    first = results[0]["movement"]
    assert first["kind"] == "transfer" and first["from_user_id"] == a["id"] and first["memo"] == "first"
    assert first["from_balance_minor"] == 0 and first["to_balance_minor"] == 1000
    assert first["batch_id"] == body["id"]
    assert results[1]["movement"]["from_balance_minor"] == 600
    assert results[2]["movement"]["kind"] == "deposit" and results[2]["movement"]["balance_minor"] == 550
    assert results[2]["movement"]["alert_codes"] == []
    assert results[3]["movement"]["balance_minor"] == 0
    assert (balance(api, a), balance(api, b), balance(api, c)) == (0, 0, 550)
    # The history carries the batch.
    history = api.get(f"/api/users/{c['id']}/transactions").json()["items"]
    assert {entry["batch_id"] for entry in history} == {body["id"]}
    assert api.get(f"/api/transfers/{first['id']}").json()["batch_id"] == body["id"]


def test_an_atomic_batch_with_one_refused_item_applies_nothing_and_answers_that_items_error(api, new_user):
    a, b = new_user("5.00"), new_user()
    response = send(api, [transfer(a["id"], b["id"], "3.00"), transfer(a["id"], b["id"], "3.00"),
                          transfer(a["id"], 999_999_999, "1.00")])
    error = assert_error(response, 409, "insufficient_funds", "movements[1].amount")
    assert error["index"] == 1
    assert "2.00" in error["message"]  # the balance the item saw: after the item before it
    assert (balance(api, a), balance(api, b)) == (500, 0)
    assert api.get(f"/api/users/{a['id']}/transactions").json()["items"][0]["kind"] == "deposit"

    missing = send(api, [transfer(a["id"], b["id"], "1.00"), transfer(a["id"], 999_999_999, "1.00")])
    assert assert_error(missing, 404, "not_found")["index"] == 1
    assert balance(api, a) == 500


def test_an_item_by_item_batch_applies_what_it_can_and_refuses_the_rest(api, new_user):
    a, b = new_user("5.00"), new_user()
    response = send(api, [transfer(a["id"], b["id"], "3.00"), transfer(a["id"], b["id"], "3.00"),
                          transfer(a["id"], 999_999_999, "1.00"), transfer(a["id"], b["id"], "2.00")],
                    atomic=False)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["atomic"] is False
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["applied", "refused", "refused", "applied"]
    assert body["results"][1]["error"]["code"] == "insufficient_funds"
    assert body["results"][1]["error"]["field"] == "movements[1].amount"
    assert body["results"][2]["error"]["code"] == "not_found"
    assert (balance(api, a), balance(api, b)) == (0, 500)

    record = api.get(f"/api/batches/{body['id']}")
    assert record.status_code == 200, record.text
    record = record.json()
    assert record["atomic"] is False and record["item_count"] == 4 and record["sender"] == {"role": "service"}
    assert [item["status"] for item in record["items"]] == statuses
    assert record["items"][0]["movement_id"] == body["results"][0]["movement"]["id"]
    assert record["items"][1] == {"index": 1, "status": "refused", "movement_id": None,
                                  "error": {"code": "insufficient_funds"}}


def test_a_user_may_debit_only_their_own_account_in_a_batch(api, new_account, new_user):
    alice, bob = new_account("10.00"), new_user("10.00")
    response = send(alice.api, [transfer(alice.id, bob["id"], "1.00"), transfer(bob["id"], alice.id, "5.00")])
    assert assert_error(response, 403, "forbidden")["index"] == 1
    assert balance(api, bob) == 1000

    mixed = send(alice.api, [transfer(alice.id, bob["id"], "1.00"), cash("deposit", bob["id"], "1.00"),
                             cash("withdrawal", alice.id, "1.00")], atomic=False)
    assert mixed.status_code == 200, mixed.text
    results = mixed.json()["results"]
    assert [r["status"] for r in results] == ["applied", "refused", "applied"]
    assert results[1]["error"]["code"] == "forbidden"
    # A user sees only their own balance after a transfer.
    assert results[0]["movement"]["from_balance_minor"] == 900 and results[0]["movement"]["to_balance_minor"] is None
    assert (balance(api, bob), api.balance_minor(alice.id)) == (1100, 800)


def test_a_user_sees_a_batch_they_sent_or_are_party_to_and_only_their_items(api, new_account, new_user):
    alice, bob, carol = new_account(), new_account(), new_user("10.00")
    response = send(api, [transfer(carol["id"], alice.id, "1.00"), transfer(carol["id"], bob.id, "2.00")])
    assert response.status_code == 201, response.text
    batch_id = response.json()["id"]
    seen = alice.api.get(f"/api/batches/{batch_id}")
    assert seen.status_code == 200, seen.text
    assert [item["index"] for item in seen.json()["items"]] == [0]
    assert seen.json()["item_count"] == 2
    stranger = new_account()
    assert_error(stranger.api.get(f"/api/batches/{batch_id}"), 404, "not_found")
    assert_error(api.get("/api/batches/999999999"), 404, "not_found")


def test_a_repeated_request_key_answers_the_first_response_and_moves_nothing_again(api, new_user):
    a, b = new_user("10.00"), new_user()
    key = f"batch-{uuid.uuid4()}"
    movements = [transfer(a["id"], b["id"], "1.00"), transfer(a["id"], b["id"], "2.00")]
    first = send(api, movements, headers={"Idempotency-Key": key})
    again = send(api, movements, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotency-Replayed") == "true"
    assert again.json() == first.json()
    assert balance(api, a) == 700
    assert_error(send(api, movements[:1], headers={"Idempotency-Key": key}), 422, "idempotency_key_reused")

    refused_key = f"batch-{uuid.uuid4()}"
    overdraft = [transfer(a["id"], b["id"], "1.00"), transfer(a["id"], b["id"], "100.00")]
    refused = send(api, overdraft, headers={"Idempotency-Key": refused_key})
    assert assert_error(refused, 409, "insufficient_funds")["index"] == 1
    api.post(f"/api/users/{a['id']}/deposits", {"amount": "1000.00"})
    repeated = send(api, overdraft, headers={"Idempotency-Key": refused_key})
    assert repeated.status_code == 409 and repeated.json() == refused.json()
    assert balance(api, a) == 100_700


def test_item_keys_replay_items_applied_before_and_refuse_other_content(api, new_user):
    a, b = new_user("10.00"), new_user()
    k1, k2 = f"item-{uuid.uuid4()}", f"item-{uuid.uuid4()}"
    first = send(api, [transfer(a["id"], b["id"], "1.00", key=k1)], atomic=False)
    assert first.status_code == 200, first.text
    movement = first.json()["results"][0]["movement"]
    resent = send(api, [transfer(a["id"], b["id"], "1.00", key=k1), transfer(a["id"], b["id"], "2.00", key=k2)],
                  atomic=False)
    results = resent.json()["results"]
    assert [r["status"] for r in results] == ["replayed", "applied"]
    assert results[0]["movement"]["id"] == movement["id"]
    assert results[0]["movement"]["batch_id"] == first.json()["id"]
    assert balance(api, a) == 700
    other = send(api, [transfer(a["id"], b["id"], "5.00", key=k1)])
    error = assert_error(other, 422, "idempotency_key_reused", "movements[0].idempotency_key")
    assert error["index"] == 0
    # An item key is the caller's key like a request's: a single transfer with it replays the item.
    single = api.transfer(a["id"], b["id"], "2.00", headers={"Idempotency-Key": k2})
    assert single.status_code == 201 and single.headers.get("Idempotency-Replayed") == "true"
    assert single.json() == dict(results[1]["movement"], batch_id=resent.json()["id"])
    assert balance(api, a) == 700


def test_an_atomic_batch_resent_after_its_money_moved_on_is_replayed_by_its_item_keys(api, new_user):
    a, b = new_user("1.00"), new_user()
    movements = [transfer(a["id"], b["id"], "1.00", key=f"item-{uuid.uuid4()}")]
    first = send(api, movements)
    assert first.status_code == 201, first.text
    # The payer has nothing left: the resent item would be refused as a new payment, but its key says it is done.
    again = send(api, movements + [transfer(b["id"], a["id"], "0.50")])
    assert again.status_code == 201, again.text
    results = again.json()["results"]
    assert [r["status"] for r in results] == ["replayed", "applied"]
    assert results[0]["movement"]["id"] == first.json()["results"][0]["movement"]["id"]
    other = send(api, [dict(movements[0], memo="changed"), transfer(a["id"], b["id"], "5.00")])
    assert assert_error(other, 422, "idempotency_key_reused", "movements[0].idempotency_key")["index"] == 0
    assert (balance(api, a), balance(api, b)) == (50, 50)


def test_bad_input_is_422_with_the_items_index_in_field(api, new_user):
    a, b = new_user("10.00"), new_user()
    cases = [
        ({"movements": []}, "movements"),
        ({"movements": [transfer(a["id"], b["id"], "1.00")] * 1001}, "movements"),
        ({"movements": [transfer(a["id"], b["id"], "1.00"), {"type": "refund", "user_id": 1, "amount": 1}]},
         "movements[1].type"),
        ({"movements": [dict(transfer(a["id"], b["id"], "1.00"), colour="red")]}, "movements[0].colour"),
        ({"movements": [transfer(a["id"], b["id"], "1.001")]}, "movements[0].amount"),
        ({"movements": [transfer(a["id"], a["id"], "1.00")]}, "movements[0].to_user_id"),
        ({"movements": [transfer(a["id"], b["id"], "1.00")], "colour": "red"}, "colour"),
        ({"movements": [transfer(a["id"], b["id"], "1.00", key="k"), transfer(a["id"], b["id"], "1.00", key="k")]},
         "movements[1].idempotency_key"),
        ({"movements": [transfer(a["id"], b["id"], "1.00")], "atomic": "yes"}, "atomic"),
        ({"movements": "all of them"}, "movements"),
        ({"movements": [5]}, "movements[0]"),
    ]
    for body, field in cases:
        response = api.post("/api/batches", body)
        assert_error(response, 422, "validation_failed", field)
    assert balance(api, a) == 1000


def test_a_thousand_items_fit_the_body_limit_and_more_bytes_do_not(api, new_user):
    a, b = new_user("1000.00"), new_user()
    response = send(api, [transfer(a["id"], b["id"], "0.01", memo="x" * 400) for _ in range(1000)])
    assert response.status_code == 201, response.text[:300]
    assert len(response.json()["results"]) == 1000
    assert balance(api, b) == 1000
    huge = json.dumps({"movements": [transfer(a["id"], b["id"], "0.01", memo="x" * 500)] * 10, "pad": "x" * 5_000_000})
    assert_error(api.post("/api/batches", data=huge), 413, "payload_too_large")
    # Elsewhere the limit stays 64 KiB.
    assert_error(api.post("/api/transfers", data=json.dumps({"memo": "x" * 70_000})), 413, "payload_too_large")


def test_deposits_in_a_batch_are_judged_by_the_alert_rules_in_item_order(api, new_user):
    user = new_user()
    response = send(api, [cash("withdrawal", user["id"], "1.00"), cash("deposit", user["id"], "10.00"),
                          cash("deposit", user["id"], "20.00"), cash("deposit", user["id"], "30.00")],
                    atomic=False)
    body = response.json()
    assert response.status_code == 200, response.text
    assert body["results"][0]["status"] == "refused"
    assert [r["status"] for r in body["results"][1:]] == ["applied"] * 3
    codes = [r["movement"]["alert_codes"] for r in body["results"][1:]]
    # Three increasing deposits in a row raise code 300 on the third (docs/alerts.md).
    assert 300 in codes[2], codes
    alerts = api.get(f"/api/users/{user['id']}/alerts").json()["items"]
    assert {alert["movement_id"] for alert in alerts} >= {body["results"][3]["movement"]["id"]}
    assert minor("60.00") == balance(api, user)


def test_transfers_chain_within_a_batch_and_keep_their_memos_exactly(api, new_user):
    a, b, c = new_user("10.00"), new_user(), new_user()
    memos = ['quote " and backslash \\', "comma, {brace}", "NULL", "", "ünïcødé 🎉", None]
    movements = [transfer(a["id"], b["id"], "1.00", memo=memos[0]), transfer(b["id"], c["id"], "1.00", memo=memos[1])]
    movements += [transfer(a["id"], c["id"], "0.50", memo=memo) for memo in memos[2:]]
    response = send(api, movements)
    assert response.status_code == 201, response.text
    results = response.json()["results"]
    assert [r["movement"]["memo"] for r in results] == memos[:2] + memos[2:]
    assert [r["movement"]["from_balance_minor"] for r in results] == [900, 0, 850, 800, 750, 700]
    assert [r["movement"]["to_balance_minor"] for r in results] == [100, 100, 150, 200, 250, 300]
    ids = [r["movement"]["id"] for r in results]
    assert ids == sorted(ids)
    for result in results:
        stored = api.get(f"/api/transfers/{result['movement']['id']}").json()
        # With what its reversals (none) left of it.
        assert stored == {**result["movement"], "reversals": [], "unreversed_amount": result["movement"]["amount"],
                          "unreversed_amount_minor": result["movement"]["amount_minor"]}
    # In the other order, B pays before it is paid: the first item is refused and nothing moves.
    reversed_order = send(api, [transfer(c["id"], a["id"], "5.00"), transfer(a["id"], c["id"], "1.00")])
    error = assert_error(reversed_order, 409, "insufficient_funds", "movements[0].amount")
    assert error["index"] == 0 and "3.00" in error["message"]
    assert (balance(api, a), balance(api, b), balance(api, c)) == (700, 0, 300)


def test_an_item_by_item_batch_of_transfers_refused_in_the_middle_applies_the_rest_in_order(api, new_user):
    a, b = new_user("1.00"), new_user()
    response = send(api, [transfer(a["id"], b["id"], "1.00"), transfer(a["id"], b["id"], "1.00"),
                          transfer(b["id"], a["id"], "0.50"), transfer(a["id"], b["id"], "0.50")], atomic=False)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["applied", "refused", "applied", "applied"]
    assert results[1]["error"]["message"].startswith("Insufficient funds: the available balance is 0.00")
    assert [r["movement"]["from_balance_minor"] for r in results if r["status"] == "applied"] == [0, 50, 0]
    assert (balance(api, a), balance(api, b)) == (0, 100)


def test_a_keyed_item_by_item_batch_with_a_refused_item_replays_its_first_answer(api, new_user):
    a, b = new_user("1.00"), new_user()
    key = f"batch-{uuid.uuid4()}"
    movements = [transfer(a["id"], b["id"], "1.00"), transfer(a["id"], b["id"], "1.00"),
                 transfer(b["id"], a["id"], "0.25", key=f"item-{uuid.uuid4()}")]
    first = send(api, movements, atomic=False, headers={"Idempotency-Key": key})
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == ["applied", "refused", "applied"]
    again = send(api, movements, atomic=False, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.headers.get("Idempotency-Replayed") == "true"
    assert again.json() == first.json()
    assert (balance(api, a), balance(api, b)) == (25, 75)
    status = api.get(f"/api/requests/{key}").json()
    assert status == {"status": "applied", "idempotency_key": key, "batch_id": first.json()["id"]}

"""Issue 23, item 5: nobody fills the spool during an outage. While PostgreSQL is down, only a token the pool saw
the database accept lately is spooled (202); any other, well-formed or not, is answered 503 as without a spool.
What is stored is the parsed request, so padding a body costs the spool nothing; one token may hold at most 100
requests (429 rate_limited with Retry-After beyond), and others are still spooled. Each test restarts the pool
with a fresh spool and stops the database like test_spool.py, and leaves both as test.sh started them."""

import base64
import json
import os
import secrets

from openapi_contract import check_against_document, load_spec
from outages import database_stopped, spool_status, spooling_pool
from tally_e2e import Api, assert_error, create_account, unique, wait_for

SPEC = load_spec()
# Log-in tokens live 8 s in the test stack; these tests need them across an outage and its replay.
LONG_TOKEN_TTL = {"TALLY_TOKEN_TTL": "600"}
PER_TOKEN_REQUESTS = 100


def never_issued_token() -> str:
    return "tly_" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def logged_in(account) -> Api:
    """A client with a token of its own from one log-in (no renewal: there is none while the database is down)."""
    return Api(account.base_url, token=account.log_in()["token"])


def padded(body: dict, size: int = 60_000) -> str:
    """The body's JSON with whitespace after each member's colon, to `size` bytes (nginx takes up to 64 KiB)."""
    text = json.dumps(body, separators=(",", ":"))
    padding = " " * ((size - len(text)) // max(len(body), 1))
    return text.replace('":', '":' + padding)


def spool_bytes(directory: str) -> int:
    return os.path.getsize(os.path.join(directory, "spool"))


def post_raw(client: Api, path: str, text: str, key: str):
    return client.request("POST", path, data=text, headers={"Idempotency-Key": key})


def test_in_an_outage_only_tokens_seen_accepted_are_spooled_and_padding_takes_no_space(
        pool, api, db, new_user, mint_service_token):
    alice = create_account(api, "50.00")
    bob = new_user()
    with spooling_pool(pool, **LONG_TOKEN_TTL) as directory:
        alice_api = logged_in(alice)  # known from its log-in
        # A service token first used for a movement: known from that movement's success.
        mover = Api(api.base_url, token=mint_service_token())
        assert mover.transfer(alice.id, bob["id"], "1.00").status_code == 201
        # Issued, but never presented to the pool: as unknown to it as a made-up one.
        unseen = Api(api.base_url, token=mint_service_token())
        strangers = [Api(api.base_url, token=never_issued_token()) for _ in range(20)] + [unseen]
        transfer = {"from_user_id": alice.id, "to_user_id": bob["id"], "amount": "2.00"}
        with database_stopped():
            for stranger in strangers:
                for path, body in [("/api/transfers", transfer), (f"/api/users/{alice.id}/withdrawals",
                                                                 {"amount": "1.00"})]:
                    refused = post_raw(stranger, path, padded(body), unique("garbage"))
                    assert_error(refused, 503, "unavailable")
                    assert refused.headers.get("Retry-After", "").isdigit()
                    check_against_document(SPEC, "POST", path, refused)
            assert spool_bytes(directory) == 0, "a refused request was stored"

            key = unique("padded")
            accepted = post_raw(alice_api, "/api/transfers", padded(transfer), key)
            assert accepted.status_code == 202, accepted.text
            assert accepted.json() == {"status": "pending", "idempotency_key": key}
            check_against_document(SPEC, "POST", "/api/transfers", accepted)
            stored = spool_bytes(directory)
            assert stored < 1024, f"a 60 KB padded body took {stored} bytes"
            print(f"\nspool: a transfer padded to {len(padded(transfer))} bytes took {stored} bytes of the spool")
            # The same request again, padded differently: the same pending request, not a different one.
            again = post_raw(alice_api, "/api/transfers", json.dumps(transfer, indent=7), key)
            assert again.status_code == 202 and again.headers.get("Idempotency-Replayed") == "true", again.text

            service_key = unique("mover")
            by_mover = mover.transfer(alice.id, bob["id"], "3.00", headers={"Idempotency-Key": service_key})
            assert by_mover.status_code == 202, by_mover.text
            # A known user token is spooled only for what its user may do.
            not_hers = alice_api.transfer(bob["id"], alice.id, "1.00", headers={"Idempotency-Key": unique("x")})
            assert_error(not_hers, 403, "forbidden")
            event = alice_api.event("deposit", "1.00", alice.id, 1, headers={"Idempotency-Key": unique("x")})
            assert_error(event, 403, "forbidden")
            assert wait_for(lambda: spool_status(api)["depth"] == 2, 10), spool_status(api)
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)

        outcome = alice_api.get(f"/api/requests/{key}")
        assert outcome.status_code == 200 and outcome.json()["status"] == "applied", outcome.text
        assert mover.get(f"/api/requests/{service_key}").json()["status"] == "applied"
        assert db.balance(alice.id) == 5000 - 100 - 200 - 300
        assert db.balance(bob["id"]) == 100 + 200 + 300
        # After the outage the client repeats its raw request, padding and all, or a compact one: the stored
        # outcome both times, never idempotency_key_reused, and nothing moves twice.
        for text in [padded(transfer), json.dumps(transfer)]:
            repeat = post_raw(alice_api, "/api/transfers", text, key)
            assert repeat.status_code == 201 and repeat.headers.get("Idempotency-Replayed") == "true", repeat.text
        assert db.balance(alice.id) == 5000 - 600
        for client in strangers + [alice_api, mover]:
            client.close()


def test_one_token_holds_at_most_its_quota_and_other_tokens_are_still_spooled(pool, api, db):
    greedy, modest = create_account(api, "10.00"), create_account(api, "10.00")
    with spooling_pool(pool, **LONG_TOKEN_TTL):
        greedy_api, modest_api = logged_in(greedy), logged_in(modest)
        keys = [unique("quota") for _ in range(PER_TOKEN_REQUESTS)]
        with database_stopped():
            for key in keys:
                response = greedy_api.withdraw(greedy.id, "0.01", headers={"Idempotency-Key": key})
                assert response.status_code == 202, response.text
            over = greedy_api.withdraw(greedy.id, "0.01", headers={"Idempotency-Key": unique("over")})
            assert_error(over, 429, "rate_limited")
            assert over.headers.get("Retry-After", "").isdigit()
            check_against_document(SPEC, "POST", f"/api/users/{greedy.id}/withdrawals", over)
            # A repeat of a request already waiting is not a new one: still its 202.
            repeat = greedy_api.withdraw(greedy.id, "0.01", headers={"Idempotency-Key": keys[0]})
            assert repeat.status_code == 202 and repeat.headers.get("Idempotency-Replayed") == "true", repeat.text
            other = modest_api.withdraw(modest.id, "0.01", headers={"Idempotency-Key": unique("other")})
            assert other.status_code == 202, other.text
            assert wait_for(lambda: spool_status(api)["depth"] == PER_TOKEN_REQUESTS + 1, 10), spool_status(api)
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
    assert db.balance(greedy.id) == 1000 - PER_TOKEN_REQUESTS
    assert db.balance(modest.id) == 1000 - 1
    greedy_api.close()
    modest_api.close()


def test_a_token_logged_out_is_refused_and_one_revoked_unseen_is_spooled_but_never_applied(pool, api, db):
    leaver, revoked = create_account(api, "10.00"), create_account(api, "10.00")
    with spooling_pool(pool, **LONG_TOKEN_TTL):
        leaver_api, revoked_api = logged_in(leaver), logged_in(revoked)
        assert leaver_api.logout().status_code == 200
        # Revoked behind the pool's back (as by another pool on the same database): the pool still knows it.
        token = revoked_api.authorization().removeprefix("Bearer ")
        db.execute("UPDATE tokens SET revoked_at = now() WHERE hash = sha256(convert_to(:'token', 'UTF8'))",
                   token=token)
        key = unique("revoked")
        with database_stopped():
            gone = leaver_api.withdraw(leaver.id, "1.00", headers={"Idempotency-Key": unique("gone")})
            assert_error(gone, 503, "unavailable")
            spooled = revoked_api.withdraw(revoked.id, "1.00", headers={"Idempotency-Key": key})
            assert spooled.status_code == 202, spooled.text
        # Replay checks the token again, in the movement's own transaction: nothing is applied.
        assert wait_for(lambda: spool_status(api)["depth"] == 0, 60), spool_status(api)
        assert_error(revoked_api.get(f"/api/requests/{key}"), 401, "unauthorized")
    assert db.balance(leaver.id) == 1000 and db.balance(revoked.id) == 1000
    assert db.integer("SELECT count(*) FROM movements WHERE debit_user_id = :'id'", id=str(revoked.id)) == 0
    leaver_api.close()
    revoked_api.close()

"""The stored alerts through their listings: GET /api/users/{id}/alerts (the user or the service role) and
GET /api/alerts (the service role), newest first, paged like the other lists."""

import pytest

from tally_e2e import LARGEST_ID, assert_error, assert_forbidden, assert_recent_timestamp, assert_unauthorized

ALERT_KEYS = {"id", "code", "user_id", "movement_id", "kind", "amount", "amount_minor", "created_at"}


def raise_alerts(api, user_id: int, start_t: int = 1) -> None:
    """Events that raise seven alerts for the user, in four movements: 123; 123; 123 and 1100; 30, 123 and 1100
    (the deposit stays in the 30-second window of the withdrawals after it)."""
    for kind, amount, t in (("deposit", "200.01", 0), ("withdraw", "1.00", 1), ("withdraw", "150.00", 2),
                            ("withdraw", "101.00", 3)):
        response = api.event(kind, amount, user_id, start_t + t)
        assert response.status_code == 200, response.text


def stored_alerts(db, user_id: int) -> list[dict]:
    """The alerts table's rows for a user joined with their movements, newest first."""
    rows = db.rows(f"SELECT a.id, a.code, a.movement_id, m.kind, m.amount FROM alerts a "
                   f"JOIN movements m ON m.id = a.movement_id WHERE a.user_id = {int(user_id)} ORDER BY a.id DESC")
    return [{"id": int(i), "code": int(code), "movement_id": int(movement), "kind": kind, "amount_minor": int(amount)}
            for i, code, movement, kind, amount in rows]


def test_a_users_alerts_are_listed_newest_first_with_the_movements_that_raised_them(api, db, new_user):
    user = new_user("1000.00")
    uid = user["id"]
    raise_alerts(api, uid)
    response = api.get(f"/api/users/{uid}/alerts")
    assert response.status_code == 200, response.text
    page = response.json()
    assert set(page) == {"items", "next_cursor"} and page["next_cursor"] is None, page
    items = page["items"]
    assert all(set(item) == ALERT_KEYS for item in items), items
    assert [item["id"] for item in items] == sorted((item["id"] for item in items), reverse=True)
    stored = stored_alerts(db, uid)
    assert [{key: item[key] for key in ("id", "code", "movement_id", "kind", "amount_minor")} for item in items] \
        == stored
    assert sorted(item["code"] for item in items) == [30, 123, 123, 123, 123, 1100, 1100]
    events = {e["movement_id"]: e for e in db.cash_events(uid)}
    for item in items:
        assert item["user_id"] == uid
        assert item["code"] in events[item["movement_id"]]["codes"]
        assert item["amount"] == f"{item['amount_minor'] // 100}.{item['amount_minor'] % 100:02d}"
        assert_recent_timestamp(item["created_at"])
    # Newest first: the last movement's alerts come before the first movement's.
    assert items[0]["movement_id"] == max(events) and items[-1]["movement_id"] == min(events)
    assert items[-1] == {**items[-1], "code": 123, "kind": "deposit", "amount": "200.01", "amount_minor": 200_01}
    assert [item["kind"] for item in items[:3]] == ["withdrawal"] * 3


def test_a_user_without_alerts_has_an_empty_list(api, new_user):
    user = new_user("10.00")
    assert api.event("deposit", "1.00", user["id"], 1).status_code == 200
    response = api.get(f"/api/users/{user['id']}/alerts")
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


def test_alert_listings_page_like_the_other_lists(api, db, new_user):
    user = new_user("1000.00")
    uid = user["id"]
    raise_alerts(api, uid)
    path = f"/api/users/{uid}/alerts"
    everything = api.get(path, params={"limit": 100}).json()["items"]
    assert len(everything) == 7
    for limit in (1, 2, 3, 7):
        assert api.all_pages(path, limit) == everything
    first = api.get(path, params={"limit": 7}).json()
    assert first["next_cursor"] is None, "a page that ends the list has no cursor"
    assert api.get(path).json()["items"] == everything   # the default limit (20) holds them all
    for params, field in (({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "x"}, "limit"),
                          ({"cursor": "nope"}, "cursor")):
        assert_error(api.get(path, params=params), 422, "validation_failed", field)
        assert_error(api.get("/api/alerts", params=params), 422, "validation_failed", field)


def test_the_global_alert_list_is_newest_first_across_users(api, db, new_user):
    alice, bob = new_user("1000.00"), new_user("1000.00")
    raise_alerts(api, alice["id"])
    raise_alerts(api, bob["id"])
    response = api.event("withdraw", "500.00", alice["id"], 40)   # the deposit at t=1 is out of the window
    assert response.status_code == 200 and response.json()["alert_codes"] == [30, 1100], response.text
    newest = api.get("/api/alerts", params={"limit": 16}).json()
    ids = [item["id"] for item in newest["items"]]
    assert ids == sorted(ids, reverse=True)
    assert all(set(item) == ALERT_KEYS for item in newest["items"])
    # Tests run one at a time: the newest 16 alerts are these users' (2 + 7 of bob's + 7 of alice's).
    assert [item["user_id"] for item in newest["items"]] == [alice["id"]] * 2 + [bob["id"]] * 7 + [alice["id"]] * 7
    assert newest["items"][:2] == api.get(f"/api/users/{alice['id']}/alerts", params={"limit": 2}).json()["items"]
    assert newest["next_cursor"] is not None
    # Pages follow on without gaps or repeats.
    first = api.get("/api/alerts", params={"limit": 5}).json()
    second = api.get("/api/alerts", params={"limit": 11, "cursor": first["next_cursor"]}).json()
    assert first["items"] + second["items"] == newest["items"]


def test_a_user_reads_their_own_alerts_and_no_one_elses(api, new_account, new_user):
    alice, bob = new_account("1000.00"), new_account("1000.00")
    carol = new_user("1000.00")
    for user_id in (alice.id, bob.id, carol["id"]):
        raise_alerts(api, user_id)
    own = alice.api.get(f"/api/users/{alice.id}/alerts", params={"limit": 3})
    assert own.status_code == 200, own.text
    assert own.json() == api.get(f"/api/users/{alice.id}/alerts", params={"limit": 3}).json()
    assert alice.api.all_pages(f"/api/users/{alice.id}/alerts", 3) == \
        api.get(f"/api/users/{alice.id}/alerts").json()["items"]
    for other in (bob.id, carol["id"], LARGEST_ID):   # another user, one without credentials, nobody
        assert_forbidden(alice.api.get(f"/api/users/{other}/alerts"))
    assert_forbidden(alice.api.get("/api/alerts"))
    assert_forbidden(alice.api.get("/api/alerts", params={"limit": 1}))


def test_the_service_role_reads_anyones_alerts_and_404s_an_unknown_user(api, new_user):
    user = new_user("1000.00")
    raise_alerts(api, user["id"])
    assert len(api.get(f"/api/users/{user['id']}/alerts").json()["items"]) == 7
    for unknown in (LARGEST_ID, LARGEST_ID - 1):
        error = assert_error(api.get(f"/api/users/{unknown}/alerts"), 404, "not_found")
        assert str(unknown) in error["message"], error
    for path in ("/api/users/0/alerts", "/api/users/abc/alerts", "/api/users/-1/alerts"):
        assert_error(api.get(path), 404, "not_found")


@pytest.mark.parametrize("path", ["/api/alerts", "/api/users/1/alerts"])
def test_without_a_valid_token_the_listings_are_401(anonymous, path):
    assert_unauthorized(anonymous.get(path))
    assert_unauthorized(anonymous.get(path, token="tly_" + "B" * 43))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_listings_are_read_only(api, method):
    for path in ("/api/alerts", "/api/users/1/alerts"):
        response = api.request(method, path, data="{}")
        assert_error(response, 405, "method_not_allowed")
        assert "GET" in response.headers.get("Allow", ""), response.headers
    assert_error(api.get("/api/event"), 405, "method_not_allowed")

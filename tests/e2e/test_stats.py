"""GET /api/stats (the dashboard's totals) and GET /api/users?name= (its search), through nginx."""

import time

from tally_e2e import minor, unique


def stats(api, since=None) -> dict:
    response = api.get("/api/stats", params=None if since is None else {"since": since})
    assert response.status_code == 200, response.text
    return response.json()


def test_the_totals_follow_users_money_movements_and_alerts(api, db, new_user):
    # Other tests run alongside only in this process, one at a time: the totals move exactly by what this does.
    since = int(time.time()) - 1
    before = stats(api, since)
    ada = new_user("300.00")
    bob = new_user()
    assert api.transfer(ada["id"], bob["id"], "10.00").status_code == 201
    assert api.withdraw(ada["id"], "150.00").status_code == 201  # a withdrawal over 100.00 raises 1100
    after = stats(api, since)
    assert after["users"] == before["users"] + 2
    assert after["balance_total_minor"] == before["balance_total_minor"] + minor("150.00")
    assert after["balance_total"] == f"{after['balance_total_minor'] // 100}.{after['balance_total_minor'] % 100:02d}"
    # The initial balance, the transfer and the withdrawal.
    assert after["movements"] == before["movements"] + 3
    assert after["alerts"] == before["alerts"] + 1
    # The database agrees on the whole.
    users, money = db.rows("SELECT count(*), coalesce(sum(balance), 0) FROM users WHERE NOT is_system")[0]
    assert (after["users"], after["balance_total_minor"]) == (int(users), int(money))


def test_since_counts_from_that_second_and_defaults_to_the_utc_day(api, new_user):
    new_user("1.00")
    assert stats(api, 253402300799)["movements"] == 0
    everything = stats(api, 0)
    assert everything["since"] == "1970-01-01T00:00:00.000Z"
    today = stats(api)
    now = int(time.time())
    midnight = now - now % 86400
    assert today["since"] == time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(midnight))
    assert 1 <= today["movements"] <= everything["movements"]


def test_only_the_service_role_reads_the_totals(anonymous, new_account):
    account = new_account("1.00")
    assert account.api.get("/api/stats").status_code == 403
    assert anonymous.get("/api/stats").status_code == 401


def test_a_bad_since_is_422_naming_it(api):
    for since in ("-1", "1.5", "soon", "253402300800"):
        response = api.get("/api/stats", params={"since": since})
        assert response.status_code == 422, since
        assert response.json()["error"]["field"] == "since"


def test_the_users_list_searches_names_ignoring_case_and_pages(api, new_user):
    tag = unique("Searchable")
    made = [new_user(name=f"{tag} {n}")["id"] for n in range(3)]
    new_user(name="someone else")
    found = api.all_pages(f"/api/users?name={tag.upper()}", limit=2)
    assert [user["id"] for user in found] == made
    first = api.get("/api/users", params={"name": tag.lower(), "limit": 2}).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    # Text with LIKE's wildcards is searched for as it is.
    assert api.get("/api/users", params={"name": "%_%" + tag}).json()["items"] == []

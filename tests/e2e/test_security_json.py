"""Issue 23, item 8: a \\u escape in a request body takes exactly four hex digits. The parser read "\\u+041" as
"A" and "\\u-000" as NUL (a sign went through as if it were a digit); now both are malformed JSON, refused 400
with nothing changed. (tests/fuzz/ runs the parser under libFuzzer in `make test`.)"""

import pytest

from tally_e2e import assert_error, unique


@pytest.mark.parametrize("escape", [r"\u+041", r"\u-000", r"\u+0041", r"\u 041"])
def test_a_signed_or_short_unicode_escape_is_malformed_json(api, db, escape):
    name = unique("json")
    users_before = db.integer("SELECT count(*) FROM users")
    body = '{"name": "%s %s"}' % (name, escape)
    response = api.request("POST", "/api/users", data=body.encode(), headers={"Content-Type": "application/json"})
    assert_error(response, 400, "malformed_json")
    assert db.integer("SELECT count(*) FROM users") == users_before


def test_four_hex_digits_of_either_case_are_read(api):
    name = unique("json")
    body = '{"name": "%s \\u0041\\u00e9\\u00E9"}' % name
    response = api.request("POST", "/api/users", data=body.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == f"{name} Aéé"

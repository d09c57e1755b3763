"""The fault suite uses the end-to-end suite's fixtures and helpers as they are: tests/e2e is on the module path
(pytest.ini's `pythonpath`), and its tally_fixtures.py is loaded as a plugin. The fixtures of its own: `stage`,
the bank load's users and books (bank_load.py), and `stack`, the database and the pool up and healthy around a
test that disrupts them (outages.py)."""

import pytest

from bank_load import HOT_BALANCE, HOT_USERS, OTHER_USERS, Stage, read_books
from outages import restore

pytest_plugins = ["tally_fixtures"]


@pytest.fixture
def stage(new_user, db) -> Stage:
    hot = [new_user(HOT_BALANCE)["id"] for _ in range(HOT_USERS)]
    others = [new_user()["id"] for _ in range(OTHER_USERS)]
    return Stage(hot, others, read_books(db, hot + others))


@pytest.fixture
def stack(pool):
    """The pool and the database, up and healthy before the test and again after it, whatever it did."""
    restore(pool)
    yield pool
    restore(pool)

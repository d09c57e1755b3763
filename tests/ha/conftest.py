"""The HA suite uses the end-to-end suite's fixtures as they are (tally_fixtures, loaded as a plugin) and the fault
suite's bank load (bank_load.py). Its own fixtures: `cluster`, the database's three nodes, healthy before and
after each test whatever it did to them (cluster.py), and `stage`, the bank load's users and books."""

import pytest

from bank_load import HOT_BALANCE, HOT_USERS, OTHER_USERS, Stage, read_books
from cluster import Cluster

pytest_plugins = ["tally_fixtures"]


@pytest.fixture
def cluster():
    nodes = Cluster()
    nodes.restore()
    yield nodes
    nodes.restore()


@pytest.fixture
def stage(cluster, new_user, db) -> Stage:
    hot = [new_user(HOT_BALANCE)["id"] for _ in range(HOT_USERS)]
    others = [new_user()["id"] for _ in range(OTHER_USERS)]
    return Stage(hot, others, read_books(db, hot + others))

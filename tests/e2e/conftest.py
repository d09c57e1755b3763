"""The end-to-end suite's fixtures are in tally_fixtures.py, which the fault suite (tests/faults) shares."""

pytest_plugins = ["tally_fixtures"]

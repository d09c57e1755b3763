"""The fault suite uses the end-to-end suite's fixtures and helpers as they are: tests/e2e is on the module path
(pytest.ini's `pythonpath`), and its tally_fixtures.py is loaded as a plugin."""

pytest_plugins = ["tally_fixtures"]

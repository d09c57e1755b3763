"""`tally import` through outages: the pool stopped (nginx answers 502) or the database stopped (503 with
Retry-After) in the middle of an import. The import waits and sends again, finishes on its own once the stack is
back, and every row is applied exactly once (docs/operations.md, "Import and export")."""

from __future__ import annotations

import time
import uuid

from import_files import (assert_balances, assert_each_row_applied_once, csv_file, import_counts, ring_rows,
                          start_import, wait_until_movements)
from import_files import token_file  # noqa: F401 (a fixture)
from outages import database_stopped


def run_through(api, token_file, tmp_path, outage) -> None:
    """Imports a ring of transfers, runs `outage` once some batches are in, and checks the import rode it out."""
    prefix = f"outage-{uuid.uuid4().hex[:10]}"
    rows = ring_rows(prefix, users=3, movements=3000)
    path = csv_file(tmp_path / f"{prefix}.csv", rows)
    process = start_import(path, token_file, "--batch-size", "10")
    try:
        wait_until_movements(api, prefix, process, f"{prefix}-0", 20)
        outage()
        stdout, stderr = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stdout + stderr
    assert "trying again" in stderr, f"the outage went unnoticed: {stderr}"
    applied, replayed, refused = import_counts(stdout)
    assert applied + replayed == 3000 and refused == 0, stdout
    assert_each_row_applied_once(api, assert_balances(api, prefix, rows), rows)


def test_an_import_rides_out_the_pool_stopped_and_started_again(api, pool, token_file, tmp_path, verify):
    def restart_pool():
        pool.stop()
        try:
            time.sleep(1)
        finally:
            pool.start()

    run_through(api, token_file, tmp_path, restart_pool)
    assert verify().returncode == 0


def test_an_import_rides_out_the_database_stopped_and_started_again(api, pool, token_file, tmp_path, verify):
    def stop_database():
        with database_stopped():
            time.sleep(2)
        pool.wait_until_healthy(30)

    run_through(api, token_file, tmp_path, stop_database)
    assert verify().returncode == 0

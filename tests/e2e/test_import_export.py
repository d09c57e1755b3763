"""`tally import` and `tally export`, the built binary against the running stack through nginx, as an operator
runs them: an import's users and movements end up in the ledger (balances and history checked through the API),
its refusals are listed by line, an import interrupted (SIGKILL) or run again on a grown file applies nothing
twice, and an export is the API's history, row for row (docs/operations.md, "Import and export")."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import signal
import subprocess
import uuid

from import_files import (assert_balances, assert_each_row_applied_once, csv_file, history, import_counts,
                          ring_rows, run_tally, server, start_import, tally_import, users_named,
                          wait_until_movements)
from import_files import token_file  # noqa: F401 (a fixture)
from tally_e2e import env


# --- import ------------------------------------------------------------------------------------------------


def test_an_import_creates_the_users_applies_the_movements_and_lists_the_refused_rows_by_line(api, token_file,
                                                                                              tmp_path):
    prefix = f"imp-{uuid.uuid4().hex[:10]}"
    memo = 'lunch, with "friends"\nand a second line'
    rows = [
        {"type": "user", "id": "A-1", "name": f"{prefix}-ada", "balance": "100.00"},   # line 2
        {"type": "user", "id": "B-2", "name": f"{prefix}-bob", "balance": ""},         # line 3
        {"type": "transfer", "from": "A-1", "to": "B-2", "amount": "12.34", "memo": memo},  # lines 4-5
        {"type": "deposit", "to": "B-2", "amount": "5"},                                # line 6
        {"type": "withdrawal", "from": "B-2", "amount": "1.00", "memo": "atm"},         # line 7
        {"type": "transfer", "from": "B-2", "to": "A-1", "amount": "999.00"},           # line 8: overdraft
        {"type": "transfer", "from": "A-1", "to": "nobody", "amount": "1.00"},          # line 9: unknown user
        {"type": "transfer", "from": "A-1", "to": "B-2", "amount": "1.005"},            # line 10: 3 decimals
    ]
    path = csv_file(tmp_path / f"{prefix}.csv", rows)
    result = tally_import(path, token_file)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "movements: 3 applied, 0 replayed (applied before), 3 refused" in result.stdout, result.stdout
    assert "users: 2 created, 0 found (created before)" in result.stdout, result.stdout
    assert "refused line 8: insufficient_funds:" in result.stdout, result.stdout
    assert "refused line 9: unknown_user:" in result.stdout, result.stdout
    assert "refused line 10: invalid_row:" in result.stdout, result.stdout

    users = users_named(api, prefix)
    ada, bob = users[f"{prefix}-ada"], users[f"{prefix}-bob"]
    assert ada["balance"] == "87.66" and bob["balance"] == "16.34"
    entries = history(api, bob["id"])
    assert [(e["kind"], e["amount"], e["memo"]) for e in entries] == [
        ("withdrawal", "1.00", "atm"), ("deposit", "5.00", None), ("transfer_in", "12.34", memo)]
    assert entries[2]["counterparty_user_id"] == ada["id"]
    assert all(isinstance(e.get("batch_id"), int) for e in entries), "the movements came in a batch"


def test_an_ndjson_import_with_nothing_refused_exits_0(api, token_file, tmp_path):
    prefix = f"nd-{uuid.uuid4().hex[:10]}"
    rows = ring_rows(prefix, users=4, movements=40)
    path = tmp_path / "export.jsonl"
    lines = []
    for row in rows:
        item = {key: value for key, value in row.items() if value != ""}
        if "amount" in item:
            item["amount"] = float(item["amount"]) if row["type"] == "deposit" else item["amount"]
        lines.append(json.dumps(item))
    path.write_text("\n".join(lines) + "\n")

    result = tally_import(path, token_file, "--batch-size", "7", "--import-id", prefix)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "movements: 40 applied, 0 replayed (applied before), 0 refused" in result.stdout, result.stdout
    assert "users: 4 created" in result.stdout, result.stdout
    assert_balances(api, prefix, rows)


def test_an_import_run_again_on_its_grown_file_applies_only_the_new_rows(api, token_file, tmp_path):
    prefix = f"grow-{uuid.uuid4().hex[:10]}"
    rows = ring_rows(prefix, users=5, movements=300)
    path = tmp_path / f"{prefix}.csv"

    csv_file(path, rows[:150])
    first = tally_import(path, token_file, "--batch-size", "40")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "movements: 145 applied, 0 replayed" in first.stdout, first.stdout
    assert_balances(api, prefix, rows[:150])

    csv_file(path, rows)
    second = tally_import(path, token_file, "--batch-size", "40")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "movements: 155 applied, 145 replayed (applied before), 0 refused" in second.stdout, second.stdout
    assert "users: 0 created, 5 found (created before)" in second.stdout, second.stdout
    assert_each_row_applied_once(api, assert_balances(api, prefix, rows), rows)


def test_an_import_killed_mid_way_and_run_again_applies_nothing_twice(api, token_file, tmp_path):
    prefix = f"kill-{uuid.uuid4().hex[:10]}"
    rows = ring_rows(prefix, users=3, movements=3000)
    path = csv_file(tmp_path / f"{prefix}.csv", rows)
    process = start_import(path, token_file, "--batch-size", "10")
    try:
        # Killed once some batches are in: the first user's history has grown past their opening deposit.
        wait_until_movements(api, prefix, process, f"{prefix}-0", 40)
        process.send_signal(signal.SIGKILL)
    finally:
        stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL, f"the import ended before it was killed: {stdout} {stderr}"

    again = tally_import(path, token_file, "--batch-size", "10")
    assert again.returncode == 0, again.stdout + again.stderr
    applied, replayed, refused = import_counts(again.stdout)
    assert replayed > 0 and applied > 0 and refused == 0, again.stdout
    assert applied + replayed == 3000, again.stdout
    assert "users: 0 created, 3 found (created before)" in again.stdout, again.stdout
    assert_each_row_applied_once(api, assert_balances(api, prefix, rows), rows)


def test_on_a_terminal_the_progress_is_a_bar_with_the_count_the_rate_and_the_time_left(token_file, tmp_path):
    prefix = f"tty-{uuid.uuid4().hex[:10]}"
    path = csv_file(tmp_path / f"{prefix}.csv", ring_rows(prefix, users=2, movements=30))
    controller, terminal = pty.openpty()
    try:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
        result = subprocess.run([env("TALLY_BIN"), "import", str(path), *server(token_file)], env=clean,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, text=True,
                                timeout=120)
        os.close(terminal)
        terminal = None
        shown = b""
        while True:
            try:
                piece = os.read(controller, 65536)
            except OSError:  # the terminal's other end is closed: all read
                break
            if not piece:
                break
            shown += piece
    finally:
        if terminal is not None:
            os.close(terminal)
        os.close(controller)
    assert result.returncode == 0, result.stdout
    last = shown.decode().replace("\r\n", "\n").split("\r")[-1]
    assert re.search(r"import \[#{24}\] 100% 32/32 rows, [\d,]+ rows/s, 0:00 left", last), shown


def test_off_a_terminal_the_progress_is_plain_lines(token_file, tmp_path):
    prefix = f"plain-{uuid.uuid4().hex[:10]}"
    path = csv_file(tmp_path / f"{prefix}.csv", ring_rows(prefix, users=2, movements=30))
    result = tally_import(path, token_file)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^import: 32 of 32 rows \(100%\), [\d,]+ rows/s, about 0:00 left$", result.stderr, re.M), \
        result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr


def test_a_broken_file_stops_before_anything_is_sent(api, token_file, tmp_path):
    prefix = f"broken-{uuid.uuid4().hex[:10]}"
    path = tmp_path / "broken.csv"
    path.write_text(f'type,id,name,amount\nuser,a,{prefix}-a,\ntransfer,,,"1.00\n')
    result = tally_import(path, token_file)
    assert result.returncode == 1
    assert "line 3" in result.stderr and "nothing was sent" in result.stderr, result.stderr
    assert users_named(api, prefix) == {}


def test_an_unknown_column_stops_the_import_naming_it(token_file, tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("type,id,name,amout\nuser,a,A,\n")
    result = tally_import(path, token_file)
    assert result.returncode == 1
    assert '"amout"' in result.stderr, result.stderr


def test_import_without_a_token_it_can_read_is_a_usage_error(tmp_path):
    path = csv_file(tmp_path / "x.csv", [])
    result = run_tally("import", str(path), "--url", env("TALLY_URL"), "--token-file", str(tmp_path / "missing"))
    assert result.returncode == 2
    assert "token file" in result.stderr, result.stderr


def test_a_token_refused_by_the_api_stops_the_import_with_the_reason(tmp_path):
    prefix = f"tok-{uuid.uuid4().hex[:10]}"
    path = csv_file(tmp_path / "x.csv", [{"type": "user", "id": "a", "name": prefix}])
    result = run_tally("import", str(path), "--url", env("TALLY_URL"),
                       environment={"TALLY_TOKEN": "tly_" + "A" * 43})
    assert result.returncode == 1
    assert "STOPPED" in result.stdout and "401 unauthorized" in result.stdout, result.stdout


# --- export ------------------------------------------------------------------------------------------------


def cell(value) -> str:
    return "" if value is None else str(value)


def read_csv(data: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data, newline="")))
    return rows[0], rows[1:]


def test_the_export_of_a_user_is_their_history_row_for_row(api, new_user, token_file, tmp_path):
    ada, bob = new_user("500.00"), new_user("1.00")
    memos = ['a, "quoted" memo', "two\nlines", None, "plain"]
    for n in range(105):
        response = api.transfer(ada["id"], bob["id"], "0.01" if n % 2 else "1.25", memo=memos[n % 4])
        assert response.status_code == 201, response.text

    output = tmp_path / "ada.csv"
    result = run_tally("export", "--user", str(ada["id"]), "--output", str(output), *server(token_file))
    assert result.returncode == 0, result.stderr
    assert "106 movements written" in result.stderr, result.stderr
    assert not (tmp_path / "ada.csv.partial").exists()

    header, rows = read_csv(output.read_text())
    columns = ["id", "created_at", "kind", "amount", "counterparty_user_id", "balance_after", "memo", "batch_id"]
    assert header == columns
    expected = [[cell(entry.get(column)) for column in columns] for entry in history(api, ada["id"])]
    assert len(expected) == 106
    assert rows == expected


def test_the_export_of_everyone_is_the_feed_row_for_row(api, new_user, token_file):
    ada, bob = new_user("5.00"), new_user()
    assert api.transfer(ada["id"], bob["id"], "2.00", memo="x,\"y\"").status_code == 201

    result = run_tally("export", *server(token_file))
    assert result.returncode == 0, result.stderr
    header, rows = read_csv(result.stdout)
    columns = ["id", "created_at", "kind", "from_user_id", "to_user_id", "amount", "memo", "batch_id"]
    assert header == columns
    feed = api.all_pages("/api/transactions", 100, max_pages=100_000)
    assert rows == [[cell(entry.get(column)) for column in columns] for entry in feed]
    assert rows[0][2:7] == ["transfer", str(ada["id"]), str(bob["id"]), "2.00", 'x,"y"']


def test_the_export_of_an_unknown_user_fails_and_leaves_no_file(token_file, tmp_path):
    output = tmp_path / "nobody.csv"
    result = run_tally("export", "--user", "9223372036854775806", "--output", str(output), *server(token_file))
    assert result.returncode == 1
    assert "404 not_found" in result.stderr, result.stderr
    assert not output.exists() and not (tmp_path / "nobody.csv.partial").exists()


def test_a_user_exports_their_own_history_with_their_token(new_account, tmp_path):
    account = new_account("3.00")
    token = tmp_path / "user-token"
    token.write_text(account.current_token())
    result = run_tally("export", "--user", str(account.user["id"]), "--url", env("TALLY_URL"),
                       "--token-file", str(token))
    assert result.returncode == 0, result.stderr
    header, rows = read_csv(result.stdout)
    assert [row[2:4] for row in rows] == [["deposit", "3.00"]]

"""`tally verify` recomputes every balance from the journal: clean books pass, books changed by hand do not."""

import os
import pty
import re
import subprocess
import threading

from tally_e2e import env, unique


def test_verify_passes_on_books_kept_by_the_api_and_says_what_it_checked(verify, new_user, api):
    alice, bob = new_user("3.00"), new_user()
    api.transfer(alice["id"], bob["id"], "1.00")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr
    assert (result.stdout + result.stderr).strip(), "verify prints what it checked"


def test_verify_detects_a_balance_tampered_with_by_hand(db, new_user, verify):
    user = new_user("10.00")
    assert verify().returncode == 0
    db.execute(f"UPDATE users SET balance = balance + 1 WHERE id = {user['id']}")
    try:
        result = verify()
        output = result.stdout + result.stderr
        assert result.returncode == 1, f"verify exited {result.returncode} on a tampered balance:\n{output}"
        assert str(user["id"]) in output, output
    finally:
        db.execute(f"UPDATE users SET balance = balance - 1 WHERE id = {user['id']}")
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr


def test_verify_detects_a_journal_entry_tampered_with_by_hand(db, api, new_user, verify):
    user = new_user()
    memo = unique("tamper")
    deposit = api.deposit(user["id"], "2.00", memo=memo).json()
    db.execute(f"UPDATE movements SET amount = amount + 5 WHERE id = {deposit['id']}")
    try:
        result = verify()
        output = result.stdout + result.stderr
        assert result.returncode == 1, f"verify exited {result.returncode} on a tampered journal:\n{output}"
        assert str(user["id"]) in output, output
    finally:
        db.execute(f"UPDATE movements SET amount = amount - 5 WHERE id = {deposit['id']}")
    assert verify().returncode == 0


def verify_on_a_terminal(plain: subprocess.CompletedProcess) -> tuple[int, str, str]:
    """`tally verify` with its stderr on a terminal (a pseudo-terminal), reading the journal in about eight slices
    as it reads a large one a million movements at a time (`plain`, a run off the terminal, says how many
    movements there are): (exit code, stdout, what the terminal showed)."""
    movements_per_slice = max(1, int(re.search(r"against (\d+) movements", plain.stdout).group(1)) // 8)
    controller, terminal = pty.openpty()
    shown = bytearray()

    def read_the_terminal():  # as it writes: a full terminal would stop verify
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the other end is closed and everything was read
                return
            if not chunk:
                return
            shown.extend(chunk)

    reader = threading.Thread(target=read_the_terminal, daemon=True)
    reader.start()
    try:
        process = subprocess.run([env("TALLY_BIN"), "verify", "--database", env("TALLY_DATABASE"),
                                  "--movements-per-slice", str(movements_per_slice)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=terminal, timeout=120)
    finally:
        os.close(terminal)
        reader.join(timeout=10)
        os.close(controller)
    return process.returncode, process.stdout.decode(), shown.decode()


def test_verify_on_a_terminal_shows_progress_and_a_summary_and_reports_the_same(verify):
    plain = verify()
    code, stdout, shown = verify_on_a_terminal(plain)
    assert code == plain.returncode == 0, stdout + shown
    assert stdout == plain.stdout, "the report on stdout is the same on a terminal"
    assert plain.stderr == "", "off a terminal verify shows no progress"
    assert re.search(r"verify: [\d,]+ movements read \(\d+%\), [\d,]+/s", shown), shown
    movements = re.search(r"against (\d+) movements", stdout).group(1)
    assert re.search(rf"verify: {int(movements):,} movements and [\d,]+ users checked in [\d.]+ s", shown), shown


def test_verify_on_a_terminal_finds_a_journal_entry_tampered_with_by_hand(db, api, new_user, verify):
    user = new_user()
    deposit = api.deposit(user["id"], "2.00", memo=unique("tamper")).json()
    db.execute(f"UPDATE movements SET amount = amount + 5 WHERE id = {deposit['id']}")
    try:
        plain = verify()
        code, stdout, _ = verify_on_a_terminal(plain)
        assert code == plain.returncode == 1, stdout
        assert stdout == plain.stdout and str(user["id"]) in stdout, stdout
    finally:
        db.execute(f"UPDATE movements SET amount = amount - 5 WHERE id = {deposit['id']}")


def test_verify_detects_a_batch_item_and_a_movement_taken_out_of_their_batch_by_hand(db, api, new_user, verify):
    alice, bob = new_user("3.00"), new_user()
    batch = api.post("/api/batches", {"movements": [
        {"type": "transfer", "from_user_id": alice["id"], "to_user_id": bob["id"], "amount": "1.00"}]}).json()
    movement_id = batch["results"][0]["movement"]["id"]
    assert verify().returncode == 0
    db.execute(f"UPDATE movements SET batch_id = NULL WHERE id = {movement_id}")
    try:
        result = verify()
        assert result.returncode == 1 and "MISSING: 1 applied batch item" in result.stdout, result.stdout
    finally:
        db.execute(f"UPDATE movements SET batch_id = {batch['id']} WHERE id = {movement_id}")
    db.execute(f"UPDATE movements SET batch_id = 999999999 WHERE id = {movement_id}")
    try:
        result = verify()
        assert result.returncode == 1 and "UNBATCHED: 1 movements" in result.stdout, result.stdout
    finally:
        db.execute(f"UPDATE movements SET batch_id = {batch['id']} WHERE id = {movement_id}")
    assert verify().returncode == 0


def test_the_database_refuses_a_movement_naming_a_user_who_does_not_exist_and_any_user_deleted(db, new_user):
    user = new_user("1.00")
    for sql in (f"INSERT INTO movements (kind, debit_user_id, credit_user_id, amount) "
                f"VALUES ('transfer', {user['id']}, 999999999, 1)",
                f"UPDATE movements SET credit_user_id = 999999999 WHERE credit_user_id = {user['id']}",
                f"DELETE FROM users WHERE id = {user['id']}"):
        result = subprocess.run(["psql", db.conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode != 0 and ("does not exist" in result.stderr or "never deleted" in result.stderr), \
            (sql, result.stderr)
    assert db.balance(user["id"]) == 100

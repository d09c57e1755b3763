"""The command line: options it does not know are refused, `--help` lists what it knows, each `tally serve` option
falls back on its environment variable (the command line first), and docs/operations.md's Configuration table says
what the binary declares (option, value, environment variable, default)."""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tally_e2e import env

OPERATIONS_MD = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def tally(*arguments: str, environment: dict[str, str] | None = None, timeout: float = 30):
    """Runs the binary with the test's environment less every TALLY_* setting, plus `environment`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")}
    clean.update(environment or {})
    return subprocess.run([env("TALLY_BIN"), *arguments], env=clean, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def documented_options() -> list[tuple[str, str, str, str]]:
    """(option, value name, environment variable, default) of each row of the Configuration table."""
    rows, in_table = [], False
    for line in OPERATIONS_MD.read_text().splitlines():
        if line.startswith("| Option | Environment | Default |"):
            in_table = True
        elif in_table and not line.startswith("|"):
            break
        elif in_table and not line.startswith("| ---"):
            option, environment, default = (cell.strip().replace("`", "") for cell in line.strip("|").split("|")[:3])
            name, _, value = option.partition(" ")
            rows.append((name, value, environment, default))
    assert rows, f"no Configuration table in {OPERATIONS_MD}"
    return rows


def declared_options() -> list[tuple[str, str, str, str]]:
    """The same, from `tally serve --experimental-dump-help` (argument-parser's JSON of the command's help)."""
    result = tally("serve", "--experimental-dump-help")
    assert result.returncode == 0, result.stderr
    rows = []
    for argument in json.loads(result.stdout)["command"]["arguments"]:
        name = argument["preferredName"]["name"]
        if name == "help":
            continue
        # Setting.help writes "(env TALLY_X; default: D)" at the end of each option's help.
        notes = re.search(r"\((?:env (TALLY_\w+))?(?:; )?(?:default: (.*))?\)$", argument.get("abstract", ""))
        assert notes, f"--{name}'s help does not end with its environment variable and default: {argument}"
        rows.append((f"--{name}", argument["valueName"], notes.group(1) or "", notes.group(2) or ""))
    return rows


def test_the_configuration_table_says_what_tally_serve_declares():
    assert documented_options() == declared_options()


def test_a_misspelt_option_is_refused_and_named():
    result = tally("serve", "--wokers", "4", timeout=10)
    assert result.returncode == 2, result
    assert "--wokers" in result.stderr and "--workers" in result.stderr, result.stderr


@pytest.mark.parametrize("arguments", [["migrate", "--databse", "x"], ["verify", "extra"], ["frobnicate"]])
def test_other_commands_refuse_what_they_do_not_know(arguments):
    result = tally(*arguments, timeout=10)
    assert result.returncode == 2, result
    assert result.stderr.strip(), result


def test_help_lists_the_commands_and_serve_help_every_option():
    result = tally("--help")
    assert result.returncode == 0, result.stderr
    for command in ("serve", "migrate", "verify", "admin-token"):
        assert re.search(rf"^\s+{command}\b", result.stdout, re.M), result.stdout
    assert not re.search(r"^\s+(worker|replay)\b", result.stdout, re.M), "internal commands stay out of the help"
    result = tally("serve", "--help")
    assert result.returncode == 0, result.stderr
    for name, _, environment, _ in documented_options():
        assert name in result.stdout, f"{name} missing from tally serve --help"
        assert not environment or environment in result.stdout.replace("\n", " ").replace("  ", " "), environment


@pytest.mark.parametrize("environment, message", [
    ({"TALLY_WORKERS": "0"}, "--workers must be 1 to 1024"),
    ({"TALLY_REQUEST_TIMEOUT": "soon"}, "--request-timeout takes seconds (0 to 86400), not soon"),
    ({"TALLY_SOCKET_MODE": "0999"}, "--socket-mode takes octal"),
    ({"TALLY_PURGE_INTERVAL": "-1"}, "--purge-interval takes a whole number, not -1"),
    ({"TALLY_SPOOL": "/tmp", "TALLY_SPOOL_MAX_BYTES": "10"}, "--spool-max-bytes must be at least 1024"),
])
def test_serve_reads_each_option_from_the_environment(environment, message):
    # The socket's mode is read once the schema is checked: with the pool's database.
    environment = {"TALLY_DATABASE": env("TALLY_POOL_DATABASE")} | environment
    result = tally("serve", "--socket", "/nonexistent/t.sock", environment=environment, timeout=10)
    assert result.returncode == 2, result
    assert message in result.stderr, result.stderr


def test_the_command_line_wins_over_the_environment():
    # TALLY_WORKERS alone would be refused; --workers 2 is taken instead, and the next check speaks.
    result = tally("serve", "--socket", "/nonexistent/t.sock", "--workers", "2", "--stop-timeout", "x",
                   environment={"TALLY_WORKERS": "0"}, timeout=10)
    assert result.returncode == 2, result
    assert "--stop-timeout takes seconds" in result.stderr, result.stderr


def workers_of(pid: int) -> list[list[str]]:
    """The argument lists of a supervisor's workers (its children running `tally worker`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    commands = []
    for child in children:
        try:
            arguments = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[:-1]
        except FileNotFoundError:
            continue
        if len(arguments) > 1 and arguments[1] == b"worker":
            commands.append([a.decode() for a in arguments])
    return commands


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("command_line, expected_workers, expected_lane", [
    ([], 2, 1), (["--workers", "1"], 1, 1), (["--batch-workers", "0"], 2, 0)])
def test_serve_started_from_the_environment_alone(command_line, expected_workers, expected_lane):
    port = free_port()
    environment = {"TALLY_LISTEN": f"127.0.0.1:{port}", "TALLY_WORKERS": "2", "TALLY_POOL": "from-the-env",
                   "TALLY_DATABASE": env("TALLY_POOL_DATABASE"), "TALLY_TOKEN_TTL": "77",
                   "TALLY_BATCH_WORKERS": "1"}
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TALLY_")} | environment
    process = subprocess.Popen([env("TALLY_BIN"), "serve", *command_line], env=clean, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        expected = expected_workers + expected_lane
        deadline, workers = time.monotonic() + 20, []
        while time.monotonic() < deadline and len(workers) < expected:
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.1)
            workers = workers_of(process.pid)
        assert len(workers) == expected, workers
        time.sleep(0.5)
        assert len(workers_of(process.pid)) == expected
        lane = [arguments for arguments in workers if any(a.startswith("batches-") for a in arguments)]
        assert len(lane) == expected_lane, workers
        for arguments in workers:
            text = " ".join(arguments)
            assert "--pool from-the-env" in text and "--token-ttl 77" in text, text
            assert f"--listen-address 127.0.0.1:{port}" in text, text
            # The batch lane listens on the next port when only --listen is given.
            assert (f"--batch-listen-address 127.0.0.1:{port + 1}" in text) == (expected_lane > 0), text
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        if expected_lane:
            with socket.create_connection(("127.0.0.1", port + 1), timeout=5):
                pass
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

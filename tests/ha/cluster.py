"""The HA stack's database cluster as the tests drive and watch it: three nodes (n1..n3), each a network namespace
running etcd, Patroni and PostgreSQL (scripts/ha-lib.sh). Faults go through scripts/ha.sh, as an operator's would;
roles are read from Patroni's REST API; and each node's own view (primary or replica, with or without a
synchronous standby) from its PostgreSQL through its unix socket, which root reaches from the root namespace even
when the node is cut off (peer authentication, as the postgres user).

scripts/test.sh passes the cluster through the environment: HA_STATE (its state folder), HA_NAME (namespaces
HA_NAME-n1..3) and HA_NET (the nodes are HA_NET.11, .12, .13)."""

from __future__ import annotations

import os
import re
import select
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from tally_e2e import env

REPOSITORY = Path(__file__).resolve().parents[2]
NODES = ("n1", "n2", "n3")

# How long the cluster may take to be healthy again after a fault is undone (a killed node's PostgreSQL
# recovering, pg_rewind, a replica catching up): generous, the machine is shared.
HEALTHY_WITHIN_SECONDS = 120


class Cluster:
    def __init__(self):
        self.state = Path(env("HA_STATE"))
        self.name = env("HA_NAME")
        self.net = env("HA_NET")

    def ip(self, node: str) -> str:
        return f"{self.net}.1{node[1]}"

    def namespace(self, node: str) -> str:
        return f"{self.name}-{node}"

    # --- scripts/ha.sh ---

    def ha(self, *arguments: str, timeout: float = 120) -> str:
        """Runs scripts/ha.sh on this cluster and returns its output; it must succeed."""
        command = ["bash", str(REPOSITORY / "scripts" / "ha.sh"), *arguments]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                env={**os.environ, "HA_STATE": str(self.state), "HA_NAME": self.name,
                                     "HA_NET": self.net})
        assert result.returncode == 0, f"ha.sh {' '.join(arguments)} failed: {result.stdout}{result.stderr}"
        return result.stdout

    def kill(self, node: str) -> None:
        self.ha("kill", node)

    def isolate(self, node: str) -> None:
        self.ha("isolate", node)

    def heal(self, node: str) -> None:
        self.ha("heal", node)

    def restart(self, node: str) -> None:
        self.ha("restart", node)

    def switchover(self) -> str:
        return self.ha("switchover")

    # --- Patroni's view ---

    def members(self) -> list[dict]:
        """Patroni's /cluster members, from the first node whose REST API answers ([] when none does)."""
        for node in NODES:
            try:
                response = requests.get(f"http://{self.ip(node)}:8008/cluster", timeout=(1, 2))
            except requests.RequestException:
                continue
            if response.status_code == 200:
                return response.json()["members"]
        return []

    def member(self, node: str) -> dict | None:
        return next((member for member in self.members() if member["name"] == node), None)

    def primary(self) -> str | None:
        """The node Patroni reports as the running leader, if any."""
        return next((member["name"] for member in self.members()
                     if member["role"] == "leader" and member.get("state") == "running"), None)

    def sync_standby(self) -> str | None:
        return next((member["name"] for member in self.members()
                     if member["role"] == "sync_standby" and member.get("state") in ("running", "streaming")), None)

    def is_healthy(self) -> bool:
        """A running leader, and both other nodes replicas streaming from it on its timeline (their own
        PostgreSQL's word: Patroni calls a replica that cannot follow, its timeline diverged, running too), one
        of them synchronous."""
        members = self.members()
        roles = sorted(member["role"] for member in members if member.get("state") in ("running", "streaming"))
        if roles != ["leader", "replica", "sync_standby"]:
            return False
        leader = next(member for member in members if member["role"] == "leader")
        return all(self.streams_from(member["name"], leader["name"]) == leader.get("timeline")
                   for member in members if member is not leader)

    def streams_from(self, node: str, primary: str) -> int | None:
        """The timeline `node` receives from `primary`, if it is a replica streaming from it (its own
        PostgreSQL's view, through its unix socket); None otherwise."""
        row = self.local_query(
            node, "SELECT pg_is_in_recovery(), status, sender_host, received_tli FROM pg_stat_wal_receiver")
        if row is None or row[:3] != ["t", "streaming", self.ip(primary)]:
            return None
        return int(row[3])

    def wait_healthy(self, seconds: float = HEALTHY_WITHIN_SECONDS) -> None:
        assert self.becomes_healthy(seconds), f"the cluster is not healthy after {seconds} s: {self.members()}"

    def becomes_healthy(self, seconds: float = HEALTHY_WITHIN_SECONDS) -> bool:
        """Whether the cluster is healthy (is_healthy) within `seconds`."""
        deadline = time.monotonic() + seconds
        while not self.is_healthy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.5)
        return True

    # --- the hosts ---

    def runs_patroni(self, node: str) -> bool:
        """Whether a Patroni process runs in the node's namespace (a killed host has none)."""
        result = subprocess.run(["ip", "netns", "pids", self.namespace(node)], capture_output=True, text=True,
                                timeout=10)
        for pid in result.stdout.split():
            try:
                if b"patroni" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return True
            except OSError:
                continue
        return False

    def restore(self) -> None:
        """Three healthy nodes again, whatever a test did: every link up, every killed node started again."""
        for node in NODES:
            self.heal(node)
            if not self.runs_patroni(node):
                self.restart(node)
        self.wait_healthy()

    # --- each node's own PostgreSQL ---

    def socket_dir(self, node: str) -> str:
        """The node's unix socket folder, as scripts/ha-lib.sh wrote it in the node's patroni.yml."""
        text = (self.state / node / "patroni.yml").read_text()
        return re.search(r"unix_socket_directories: '([^']+)'", text).group(1)

    def local_query(self, node: str, sql: str, timeout: float = 3) -> list[str] | None:
        """The query's first row on the node's own PostgreSQL through its unix socket, whatever its role and
        network; None when that PostgreSQL does not answer (stopped, killed, starting)."""
        return parse_row(run_local(self.socket_dir(node), sql, timeout))

    def node_conninfo(self, node: str, database: str = "tally") -> str:
        """The owner's conninfo for one node over TCP, whatever its role (scripts/ha-lib.sh ha_node_conninfo)."""
        return (f"host={self.ip(node)} port=5432 dbname={database} user=postgres "
                f"passfile={self.state}/secrets/owner.pgpass connect_timeout=2")


def local_psql(socket_dir: str, sql: str | None) -> list[str]:
    """psql on a node's unix socket (run it as the postgres user, AS_POSTGRES: peer authentication), for one
    query, or reading queries from its stdin when `sql` is None."""
    command = ["psql", f"host={socket_dir} dbname=postgres connect_timeout=1", "-X", "-q", "-A", "-t", "-F", " "]
    return command + ["-c", sql] if sql is not None else command


# Started as the postgres user directly (subprocess's user/group), without runuser's PAM session.
AS_POSTGRES = {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": "/"}


def run_local(socket_dir: str, sql: str, timeout: float) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(local_psql(socket_dir, sql), capture_output=True, text=True, timeout=timeout,
                              **AS_POSTGRES)
    except subprocess.TimeoutExpired:
        return None


def parse_row(result: subprocess.CompletedProcess | None) -> list[str] | None:
    if result is None or result.returncode != 0 or not result.stdout.strip():
        return None
    return result.stdout.strip().splitlines()[0].split(" ")


# --- never two primaries ----------------------------------------------------------------------------------------

# Whether a node could acknowledge a commit: a primary (not in recovery) with a synchronous standby streaming
# from it. In synchronous_mode_strict a primary without one takes no commit at all.
COULD_ACKNOWLEDGE = ("SELECT NOT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_replication "
                     "WHERE sync_state = 'sync' AND state = 'streaming')")

# Time between two polls of every node, and how long a poll waits for the nodes' answers (a node that has not
# answered by then, stopped or restarting, cannot acknowledge a commit either).
POLL_PAUSE_SECONDS = 0.1
POLL_ANSWER_SECONDS = 1.0


@dataclass
class Poll:
    at: float                      # time.monotonic() when the poll began
    acknowledging: list[str]       # the nodes that could acknowledge a commit
    answered: list[str]            # the nodes whose PostgreSQL answered


class NodeProbe:
    """A psql session kept open on one node's unix socket, asked COULD_ACKNOWLEDGE once per poll. (A psql per
    poll would cost a few tens of milliseconds of CPU each, taken from the pool under test.) A non-interactive
    psql exits when its connection is lost (the node killed, PostgreSQL restarting): the next poll starts another."""

    def __init__(self, socket_dir: str):
        self.socket_dir = socket_dir
        self.process: subprocess.Popen | None = None
        self.pending = b""

    def ask(self, sequence: int) -> None:
        if self.process is None or self.process.poll() is not None:
            self.close()
            self.process = subprocess.Popen(local_psql(self.socket_dir, None), stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **AS_POSTGRES)
            os.set_blocking(self.process.stdout.fileno(), False)
            self.pending = b""
        try:
            self.process.stdin.write(f"SELECT {sequence}, ({COULD_ACKNOWLEDGE});\n".encode())
            self.process.stdin.flush()
        except OSError:
            pass  # (psql has exited: no answer this time)

    def answer(self, sequence: int, deadline: float) -> bool | None:
        """The answer to poll `sequence` (True: could acknowledge), or None if none came by `deadline`."""
        while self.process is not None:
            while b"\n" in self.pending:
                line, self.pending = self.pending.split(b"\n", 1)
                number, _, value = line.decode().partition(" ")
                if number == str(sequence) and value in ("t", "f"):
                    return value == "t"
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.process.stdout], [], [], left)[0]:
                return None
            try:
                chunk = os.read(self.process.stdout.fileno(), 4096)
            except BlockingIOError:
                continue
            if not chunk:
                return None
            self.pending += chunk
        return None

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.process = None


@dataclass
class PrimaryWatch:
    """Polls every node through its unix socket, all three at once, every POLL_PAUSE_SECONDS while it runs,
    for whether it could acknowledge a commit (COULD_ACKNOWLEDGE). Two at one poll would be two primaries
    accepting writes: split brain."""
    cluster: Cluster
    polls: list[Poll] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "PrimaryWatch":
        probes = {node: NodeProbe(self.cluster.socket_dir(node)) for node in NODES}
        self._thread = threading.Thread(target=self._run, args=(probes,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self, probes: dict[str, NodeProbe]) -> None:
        sequence = 0
        try:
            while not self._stop.is_set():
                sequence += 1
                at = time.monotonic()
                for probe in probes.values():
                    probe.ask(sequence)
                deadline = at + POLL_ANSWER_SECONDS
                answers = {node: probe.answer(sequence, deadline) for node, probe in probes.items()}
                self.polls.append(Poll(at, sorted(node for node, yes in answers.items() if yes),
                                       sorted(node for node, yes in answers.items() if yes is not None)))
                self._stop.wait(POLL_PAUSE_SECONDS)
        finally:
            for probe in probes.values():
                probe.close()

    def check_never_two_primaries(self) -> None:
        """At most one node could acknowledge a commit at every poll; and the watch did watch: it polled all
        along (see summary for its longest gap), and saw a primary that could (so a broken query cannot pass
        for no split brain)."""
        assert len(self.polls) >= 2, f"only {len(self.polls)} polls"
        split = [poll for poll in self.polls if len(poll.acknowledging) > 1]
        assert not split, f"two primaries could acknowledge commits at once: {split[:5]}"
        assert any(poll.acknowledging for poll in self.polls), "no poll saw a primary that could acknowledge"

    def summary(self) -> str:
        """"N polls (at most G s apart), acknowledging: n1 -> n2" (the nodes that could acknowledge a commit, in
        the order the polls saw them)."""
        order: list[str] = []
        for poll in self.polls:
            for node in poll.acknowledging:
                if not order or order[-1] != node:
                    order.append(node)
        gap = max((later.at - earlier.at for earlier, later in zip(self.polls, self.polls[1:])), default=0.0)
        return (f"{len(self.polls)} polls (at most {gap:.1f} s apart), acknowledging: "
                f"{' -> '.join(order) or 'none'}")

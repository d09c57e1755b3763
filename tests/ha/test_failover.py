"""High availability (issue 27): one of the database's three hosts lost, cut off or switched over under the bank
load through nginx (CLIENTS clients, hot accounts, every transfer with an Idempotency-Key), one fault per test.

During each fault, every node is polled through its unix socket (PrimaryWatch): never two nodes that could
acknowledge a commit at once. After each (check_after_fault, on the primary the cluster then has): every 201 in
the journal exactly once; every answer the fault lost (no answer, 502, 504, 503 outcome_unknown) settled by
repeating it with its key; no 503 unavailable applied; money conserved, nobody below their floor, `tally verify`
clean; no request longer than nginx's 30 s. The time from the fault to the first 201 of a transfer sent after it,
and the longest stretch without any 201, are measured and printed (figures), not asserted.

Patroni's timings are scripts/ha-lib.sh's: ttl 8 s, loop_wait 1 s, retry_timeout 3 s. Each test starts from three
healthy nodes and leaves three healthy nodes (the `cluster` fixture)."""

from __future__ import annotations

import time

from cluster import HEALTHY_WITHIN_SECONDS, Cluster, PrimaryWatch
from failover import (answers_summary, check_after_fault, check_every_success_recorded, serve_after, start_load,
                      timings)
from tally_e2e import Database


def report(figures, name: str, answered: str, timed: str, checked: dict, watch: PrimaryWatch,
           extra: str = "") -> None:
    figures(f"ha {name}: {timed}; {answered}; {checked['lost']} lost answers settled by their keys "
            f"({checked['lost_applied']} had been applied); {watch.summary()}{extra}")


def test_killed_primary_host_loses_no_acknowledged_transfer(api, db, verify, base_url, cluster, stage, figures):
    """The primary's host lost: every process in its namespace SIGKILLed. A synchronous replica is promoted;
    requests meanwhile are answered 503 or, for a commit left in doubt, settled on the new primary."""
    old = cluster.primary()
    with PrimaryWatch(cluster) as watch:
        load = start_load(base_url, stage)
        fault = time.monotonic()
        cluster.kill(old)
        done = time.monotonic()
        serve_after(load, done)
        shots = load.stop()
    timed, answered = timings(shots, fault, done), answers_summary(shots)
    new = cluster.primary()
    assert new not in (None, old), cluster.members()
    watch.check_never_two_primaries()
    checked = check_after_fault(api, db, verify, stage, load, fault)
    report(figures, f"primary {old} killed, {new} promoted", answered, timed, checked, watch)


def test_isolated_primary_steps_down_and_rejoins_when_healed(api, db, verify, base_url, cluster, stage, figures):
    """The primary's link cut: it can reach neither the other nodes, nor etcd's quorum, nor the pool. It demotes
    itself; a synchronous replica is promoted once the leader key expires. Healed, the old primary rejoins as a
    replica (all under the load and the watch)."""
    old = cluster.primary()
    with PrimaryWatch(cluster) as watch:
        load = start_load(base_url, stage)
        fault = time.monotonic()
        cluster.isolate(old)
        done = time.monotonic()
        try:
            serve_after(load, done)
        finally:
            cluster.heal(old)
        healed = cluster.becomes_healthy()
        if healed:
            serve_after(load, time.monotonic(), 20)
        shots = load.stop()
    timed, answered = timings(shots, fault, done), answers_summary(shots)
    new = cluster.primary()
    # (Before asking for a healthy cluster: a heal that goes wrong shows first as acknowledged transfers gone.)
    check_every_success_recorded(db, load)
    assert healed, f"the cluster is not healthy {HEALTHY_WITHIN_SECONDS} s after the heal: {cluster.members()}"
    assert new not in (None, old), cluster.members()
    watch.check_never_two_primaries()
    checked = check_after_fault(api, db, verify, stage, load, fault)
    report(figures, f"primary {old} isolated, {new} promoted", answered, timed, checked, watch)


def test_killed_synchronous_replica_leaves_the_primary_serving(api, db, verify, base_url, cluster, stage, figures):
    """The synchronous replica's host lost: commits wait until Patroni makes the other replica synchronous;
    the primary stays the primary."""
    primary, replica = cluster.primary(), cluster.sync_standby()
    assert replica is not None, cluster.members()
    with PrimaryWatch(cluster) as watch:
        load = start_load(base_url, stage)
        fault = time.monotonic()
        cluster.kill(replica)
        done = time.monotonic()
        serve_after(load, done)
        shots = load.stop()
    timed, answered = timings(shots, fault, done), answers_summary(shots)
    assert cluster.primary() == primary, cluster.members()
    watch.check_never_two_primaries()
    checked = check_after_fault(api, db, verify, stage, load, fault)
    report(figures, f"sync replica {replica} killed", answered, timed, checked, watch)


def test_planned_switchover_loses_nothing(api, db, verify, base_url, cluster, stage, figures):
    """scripts/ha.sh switchover: the primary hands over to its synchronous replica and rejoins as a replica."""
    old = cluster.primary()
    with PrimaryWatch(cluster) as watch:
        load = start_load(base_url, stage)
        fault = time.monotonic()
        cluster.switchover()
        done = time.monotonic()
        serve_after(load, done)
        shots = load.stop()
    timed, answered = timings(shots, fault, done), answers_summary(shots)
    new = cluster.primary()
    assert new not in (None, old), cluster.members()
    watch.check_never_two_primaries()
    checked = check_after_fault(api, db, verify, stage, load, fault)
    report(figures, f"switchover {old} -> {new}", answered, timed, checked, watch,
           f"; patronictl switchover took {done - fault:.1f} s")


def test_killed_primary_brought_back_rejoins_as_replica_on_the_new_timeline(api, db, verify, base_url, cluster,
                                                                          stage, figures):
    """The old primary, killed and then started again under the load, rejoins as a replica of the new primary:
    streaming from it on its timeline (pg_rewind or a new copy), never a second primary; and it then holds
    exactly the transfers the primary holds."""
    old = cluster.primary()
    timeline_before = cluster.member(old)["timeline"]
    with PrimaryWatch(cluster) as watch:
        load = start_load(base_url, stage)
        fault = time.monotonic()
        cluster.kill(old)
        serve_after(load, time.monotonic(), 50)
        new = cluster.primary()
        back = time.monotonic()
        cluster.restart(old)
        done = time.monotonic()
        rejoined = wait_streaming(cluster, old, new)
        serve_after(load, done)
        shots = load.stop()
    timed, answered = timings(shots, back, done), answers_summary(shots)
    watch.check_never_two_primaries()
    leader = cluster.member(new)
    assert leader["role"] == "leader" and leader["timeline"] > timeline_before, cluster.members()
    assert cluster.streams_from(old, new) == leader["timeline"], cluster.members()
    checked = check_after_fault(api, db, verify, stage, load, fault)
    replica_holds_what_the_primary_holds(cluster, old, db, load)
    report(figures, f"old primary {old} restarted", answered, timed, checked, watch,
           f"; streaming from {new} on timeline {leader['timeline']} {rejoined:.1f} s after its restart")


def wait_streaming(cluster: Cluster, node: str, primary: str, seconds: float = 120) -> float:
    """Waits until `node` streams from `primary` on the primary's current timeline; returns how long it took."""
    started = time.monotonic()
    while True:
        leader = cluster.member(primary) or {}
        timeline = cluster.streams_from(node, primary)
        if leader.get("role") == "leader" and timeline is not None and timeline == leader.get("timeline"):
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, (
            f"{node} does not stream from {primary} after {seconds} s: {cluster.members()}")
        time.sleep(0.2)


def replica_holds_what_the_primary_holds(cluster: Cluster, node: str, primary_db: Database, load) -> None:
    """Once it has replayed all the primary has written, the replica's journal holds the load's movements
    exactly as the primary's does: nothing of its old timeline survived the rejoin."""
    replica = Database(cluster.node_conninfo(node))
    target = primary_db.value("SELECT pg_current_wal_lsn()")
    deadline = time.monotonic() + 60
    while replica.value("SELECT pg_last_wal_replay_lsn() >= :'target'::pg_lsn", target=target) != "t":
        assert time.monotonic() < deadline, f"{node} did not replay up to {target}"
        time.sleep(0.2)
    prefix = load.load.memo_prefix
    on_primary = primary_db.movements_with_memo_prefix(prefix)
    assert on_primary and replica.movements_with_memo_prefix(prefix) == on_primary, (
        f"{node}'s journal differs from the primary's")

"""Issue 25, "Correct under concurrency": many clients send batches over the same accounts at once, atomic and not,
most with an idempotency key on every item (one in three without, all transfers, which the server applies as a
set), while single transfers keep arriving beside them; afterwards the books are right and every answer is in
the journal as it said.

Each client sends its batches one after another: some with an Idempotency-Key, repeated at once (the repeat must
answer the first answer again); some with items made to be refused (an atomic batch is then refused whole, with
that item's index and error, and leaves nothing; a batch that is not atomic answers that item refused); and now
and then its previous batch again, without the request's key (the items applied the first time are answered
as replayed and move nothing). Three shapes: uniform (every item between any two of many users, whose balances
concurrent batches may run down, so that an item may also be refused for want of money), hot (every item
debits one of three users) and hot-large (the same with batches of 200 to 1,000 items from fewer clients). The checks: no 503 at all and no answer the contract does not give; each applied
item in the journal exactly once, as answered, with its batch's id (the journal, GET /api/batches/{id} and the
users' histories); nothing of a refused atomic batch; every user's balance what the answers add up to, the
ledger's total (the outside world's included) unchanged, no negative balance, each user's movements chain,
`tally verify` clean. The pool's serialization retries over the run are reported (GET /api/status)."""

from __future__ import annotations

import random
import threading
import uuid
from dataclasses import dataclass

import pytest

from batch_load import (OVERDRAFT, REPLAYED, UNKNOWN_USER, Batch, Maker, batch_changes, check_batch_records,
                        check_histories, check_journal, judge_answer, judge_replay, ledger_total, pool_counters,
                        send_batch)
from tally_e2e import NO_USER_BELOW_THEIR_LIMIT, Api, Load, check_balance_chains, check_journal_against_answers

BATCHES_PER_CLIENT = 6
SINGLE_CLIENTS = 8
SINGLES_PER_CLIENT = 40


@dataclass(frozen=True)
class Shape:
    """Who pays whom: `users` users with `opening` each, the first `payers` of them paying (None: all of them),
    from `clients` clients sending batches of `smallest` to `largest` items."""
    users: int
    opening: str
    payers: int | None
    clients: int
    smallest: int
    largest: int


SHAPES = {
    "uniform": Shape(60, "500.00", None, 24, 10, 100),
    "hot": Shape(23, "20000.00", 3, 24, 10, 100),
    # Batches of hundreds of items hold the hot rows far longer than a single transfer waits for a row.
    "hot-large": Shape(23, "100000.00", 3, 6, 200, 1000),
}


def run_client(base_url: str, shape: Shape, maker: Maker, number: int, batches: list[Batch],
               lock: threading.Lock) -> None:
    """One client's batches, one after another (see the module's docstring)."""
    api = Api(base_url)
    chooser = maker.chooser
    previous: Batch | None = None
    try:
        for n in range(BATCHES_PER_CLIENT):
            atomic = (n + number) % 2 == 0
            size = chooser.randint(shape.smallest, shape.largest)
            refused = {}
            if atomic and n % 3 == 2:
                refused[chooser.randrange(size)] = OVERDRAFT if number % 2 else UNKNOWN_USER
            elif not atomic and n % 2 == 0:
                for index in chooser.sample(range(size), 2):
                    refused[index] = chooser.choice([OVERDRAFT, UNKNOWN_USER])
            # One batch in three without item keys (all transfers): applied as a set.
            batch = maker.batch(f"{number}-{n}", size, atomic=atomic, keyed=n % 2 == 0, item_keys=n % 3 != 2,
                                refused=refused)
            with lock:
                batches.append(batch)
            send_batch(api, batch)
            if batch.key and n % 4 == 0:
                send_batch(api, batch)          # the same request again, with its key
            if previous is not None and n % 3 == 1 and previous.items[0].key:
                send_batch(api, previous, with_key=False)  # the same items again, with their keys
            previous = batch
    finally:
        api.close()


@pytest.mark.parametrize("shape_name", sorted(SHAPES))
def test_concurrent_batches_beside_single_transfers_keep_every_answer_and_the_books(
        shape_name, api, db, new_user, base_url, verify, figures):
    shape = SHAPES[shape_name]
    payer_count = shape.payers
    users = [new_user(shape.opening if payer_count is None or n < payer_count else None)["id"]
             for n in range(shape.users)]
    payers = users if payer_count is None else users[:payer_count]
    pauper = new_user()["id"]
    everyone = users + [pauper]
    before = {user: db.balance(user) for user in everyone}
    total_before = ledger_total(db)
    counters_before = pool_counters(api)

    run = uuid.uuid4().hex[:10]
    prefix = f"batch-{run}-"
    batches: list[Batch] = []
    lock = threading.Lock()
    # The single transfers go between the same accounts: in the hot shapes half of them pay from a hot user.
    single_users = users if payer_count is None else users[:2 * payer_count]
    singles = Load(base_url, single_users, threads=SINGLE_CLIENTS, per_thread=SINGLES_PER_CLIENT, with_keys=True)
    clients = [threading.Thread(target=run_client, daemon=True, args=(
        base_url, shape, Maker(random.Random(f"{run}-{n}"), prefix, payers, users, pauper), n, batches, lock))
        for n in range(shape.clients)]
    single_runner = singles.start_in_background(deadline_seconds=300)
    for client in clients:
        client.start()
    for client in clients:
        client.join(300)
    single_runner.join(300)
    assert not any(client.is_alive() for client in clients) and not single_runner.is_alive(), "a client hangs"
    counters_after = pool_counters(api)

    # Every answer as the contract says. Answers that are not definite (a 503) are reported at the end, after
    # the journal and the books, which must be right whatever the answers were.
    answers = [answer for batch in batches for answer in batch.answers]
    assert len(batches) == shape.clients * BATCHES_PER_CLIENT
    unanswered = [(answer.status, answer.body, answer.error) for answer in answers if not answer.definite]
    overdrafts = payer_count is None
    for batch in batches:
        for answer in batch.answers:
            if not answer.definite:
                continue
            judge_answer(batch, answer, overdrafts=overdrafts)
            if answer.replayed:
                judge_replay(batch, answer)
            elif answer.with_key:
                assert answer is next(seen for seen in batch.answers if seen.with_key), (
                    f"{batch.name}: a repeat with its key was not answered as a replay")
    statuses = singles.by_status()
    assert set(statuses) <= {201, 409, 503}, f"single transfers: {statuses}"
    assert len(singles.outcomes) == SINGLE_CLIENTS * SINGLES_PER_CLIENT

    # The batches did their work: in the hot shape nothing is refused but what was made to be, and in either
    # most batches apply; a batch sent again without its key answers each item applied before as replayed.
    firsts = [batch.answers[0] for batch in batches if batch.poison is None and batch.answers[0].definite]
    applied = sum(1 for answer in firsts if answer.status in (200, 201))
    least = len(firsts) // 2 if overdrafts else len(firsts)
    assert applied >= least, f"{applied} of {len(firsts)} batches with nothing made to be refused were applied"
    for batch in batches:
        first = batch.answers[0]
        for answer in batch.answers[1:]:
            if answer.with_key or first.status not in (200, 201) or answer.status not in (200, 201):
                continue
            for before_result, result in zip(first.body["results"], answer.body["results"]):
                if before_result["status"] != "refused":
                    assert result["status"] == REPLAYED, (batch.name, before_result, result)
                    assert result["movement"]["id"] == before_result["movement"]["id"], (batch.name, result)
    refused_atomic = [batch for batch in batches if batch.atomic and all(400 <= answer.status < 500
                                                                          for answer in batch.answers)]
    assert any(batch.poison is not None for batch in refused_atomic), "no atomic batch was refused"

    # The journal, the batches' records and the histories against the answers.
    entries = check_journal(db, prefix, batches)
    for batch in refused_atomic:
        assert not any(item.memo in entries for item in batch.items), f"{batch.name} was refused, yet applied"
    records = check_batch_records(api, batches)
    check_histories(api, prefix, batches, [payers[0], users[-1], pauper] + random.Random(run).sample(users, 2))
    check_journal_against_answers(singles, db)

    # The books.
    changes = batch_changes(batches, everyone)
    for outcome in singles.outcomes:
        if outcome.status == 201:
            changes[outcome.from_id] -= outcome.amount_minor
            changes[outcome.to_id] += outcome.amount_minor
    after = {user: db.balance(user) for user in everyone}
    assert all(balance >= 0 for balance in after.values()), after
    assert after == {user: before[user] + changes[user] for user in everyone}, "a balance is not what the answers say"
    assert after[pauper] == 0
    assert ledger_total(db) == total_before, "money was made or lost"
    assert db.integer(NO_USER_BELOW_THEIR_LIMIT) == 0
    check_balance_chains(db, everyone)
    result = verify()
    assert result.returncode == 0, result.stdout + result.stderr

    # No 503 at all, for batches nor for the single transfers beside them.
    assert not unanswered and 503 not in statuses, (
        f"the journal and the books are right, but {len(unanswered)} of {len(answers)} batch requests and "
        f"{statuses.get(503, 0)} single transfers were answered 503: {unanswered[:3]}")
    items = sum(len(batch.items) for batch in batches)
    retries = counters_after["serialization_retries"] - counters_before["serialization_retries"]
    exhausted = counters_after["retries_exhausted"] - counters_before["retries_exhausted"]
    assert exhausted == 0, f"{exhausted} requests exhausted their retries"
    figures(f"batches concurrent, {shape_name}: {shape.clients} clients, {len(batches)} batches ({items} items, "
            f"{len(answers)} requests with repeats) beside {len(singles.outcomes)} single transfers from "
            f"{SINGLE_CLIENTS} clients: {len(entries)} items applied, {len(refused_atomic)} atomic batches refused "
            f"whole, {records} batch records read back; no 503; the pool's serialization retries "
            f"{retries} ({retries * 1000 / len(answers):.0f} per 1,000 batch requests, the singles' included), "
            f"retries exhausted {exhausted}")

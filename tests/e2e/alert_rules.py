"""The activity alert rules written again in a few lines of Python, from the contract (docs/alerts.md),
so that the end-to-end tests can say which codes a user's history of deposits and withdrawals should have
raised without trusting the service's own computation. test_alerts.py checks this model against its table of
boundary cases; the concurrency test then replays a user's stored events through it."""

from __future__ import annotations

from dataclasses import dataclass

LARGE_WITHDRAWAL = 1100
CONSECUTIVE_WITHDRAWALS = 30
INCREASING_DEPOSITS = 300
WINDOW_TOTAL = 123


@dataclass(frozen=True)
class Thresholds:
    """The service's alert configuration (tally serve --alert-*); the defaults are the service's."""
    large_withdrawal_minor: int = 100_00    # 1100: a withdrawal of more than this
    consecutive_withdrawals: int = 3        # 30: this many movements in a row, this one included, are withdrawals
    increasing_deposits: int = 3            # 300: this many deposits in a row, each larger than the one before
    window_seconds: int = 30                # 123: deposits with t in (t - window_seconds, t] ...
    window_total_minor: int = 200_00        # ... sum to more than this


DEFAULTS = Thresholds()


@dataclass(frozen=True)
class CashEvent:
    """A deposit or withdrawal as the rules see it."""
    kind: str            # "deposit" or "withdrawal"
    amount_minor: int
    t: int


def codes_for(event: CashEvent, earlier: list[CashEvent], thresholds: Thresholds = DEFAULTS) -> list[int]:
    """The codes `event` raises after the user's `earlier` events (all with a smaller t), ascending."""
    assert event.kind in ("deposit", "withdrawal"), event
    assert all(past.t < event.t for past in earlier), "t is strictly increasing per user"
    history = sorted(earlier, key=lambda past: past.t) + [event]
    codes = []
    if event.kind == "withdrawal" and event.amount_minor > thresholds.large_withdrawal_minor:
        codes.append(LARGE_WITHDRAWAL)
    last = history[-thresholds.consecutive_withdrawals:]
    if (event.kind == "withdrawal" and len(last) == thresholds.consecutive_withdrawals
            and all(past.kind == "withdrawal" for past in last)):
        codes.append(CONSECUTIVE_WITHDRAWALS)
    deposits = [past.amount_minor for past in history if past.kind == "deposit"][-thresholds.increasing_deposits:]
    if (event.kind == "deposit" and len(deposits) == thresholds.increasing_deposits
            and all(before < after for before, after in zip(deposits, deposits[1:]))):
        codes.append(INCREASING_DEPOSITS)
    in_window = sum(past.amount_minor for past in history
                    if past.kind == "deposit" and event.t - thresholds.window_seconds < past.t <= event.t)
    if in_window > thresholds.window_total_minor:
        codes.append(WINDOW_TOTAL)
    return sorted(codes)


def replay(events: list[CashEvent], thresholds: Thresholds = DEFAULTS) -> list[list[int]]:
    """The codes each of a user's events raised, the events taken in t order (the result in that order)."""
    ordered = sorted(events, key=lambda event: event.t)
    return [codes_for(event, ordered[:n], thresholds) for n, event in enumerate(ordered)]

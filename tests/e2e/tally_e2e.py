"""Helpers for the end-to-end tests: an HTTP client for the API through nginx (with the service token unless
told otherwise), accounts that log in, psql checks, `tally verify`, the assertions every error body must
satisfy, and a bounded load of random transfers among hot users."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

import requests

# Connect and read timeouts for every request: a hung service fails a test instead of stalling the suite.
TIMEOUT = (5, 30)

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
AMOUNT_TEXT = re.compile(r"^\d+\.\d{2}$")
LARGEST_ID = 9223372036854775807
TOKEN_FORM = re.compile(r"^tly_[A-Za-z0-9_-]{43}$")
USER_KEYS = {"id", "name", "username", "balance", "balance_minor", "available", "available_minor", "held", "held_minor",
             "credit_limit", "credit_limit_minor", "daily_debit_limit", "daily_debit_limit_minor", "time_zone",
             "created_at"}
CHALLENGE = 'Bearer realm="tally"'

# A token's lifetime left below which an Account logs in again before using it: enough for a request or two
# on a busy machine (log-in tokens live TALLY_TOKEN_TTL = 8 s in the test stack).
TOKEN_REFRESH_MARGIN_SECONDS = 3.0


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set: run the end-to-end tests through `make test` (scripts/test.sh)")
    return value


def minor(amount: str | Decimal | int) -> int:
    """Minor units of a decimal amount given as text ("12.34" -> 1234)."""
    return int(Decimal(str(amount)) * 100)


def text(minor_units: int) -> str:
    """The API's text for an amount of minor units (1234 -> "12.34")."""
    return f"{minor_units // 100}.{minor_units % 100:02d}"


def unique(prefix: str) -> str:
    """A name or memo no other test or run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class _ServiceToken:
    """The default token of an Api: the service role's (TALLY_ADMIN_TOKEN, which never expires)."""

    def __repr__(self) -> str:
        return "SERVICE"


SERVICE = _ServiceToken()
_OWN = object()  # request(): use the client's own token


def service_token() -> str:
    return env("TALLY_ADMIN_TOKEN")


class Api:
    """The API through nginx, as a client sees it. Not shared between threads: make one per thread.

    Every request carries `Authorization: Bearer <token>`. The token is the service role's unless the client
    is made with another: a token's text, an `Account` (which logs in again when its token is about to
    expire), or None for no Authorization header at all. One request can send another token with `token=`
    (None: no header), or any header value at all with `headers={"Authorization": ...}`."""

    def __init__(self, base_url: str, token=SERVICE):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.token = token

    def with_token(self, token) -> "Api":
        """Another client on the same server that sends `token` (see the class)."""
        return Api(self.base_url, token)

    def authorization(self, token=_OWN) -> str | None:
        """The Authorization header value this client sends (or would send with `token`)."""
        token = self.token if token is _OWN else token
        if token is SERVICE:
            token = service_token()
        elif isinstance(token, Account):
            token = token.current_token()
        return None if token is None else f"Bearer {token}"

    def request(self, method: str, path: str, *, json_body=None, data=None, headers=None, params=None,
                timeout=TIMEOUT, token=_OWN) -> requests.Response:
        headers = dict(headers or {})
        if "Authorization" not in headers:
            authorization = self.authorization(token)
            if authorization is not None:
                headers["Authorization"] = authorization
        if json_body is not None:
            data = json.dumps(json_body)
        if data is not None:
            headers.setdefault("Content-Type", "application/json")
            if isinstance(data, str):
                data = data.encode("utf-8")
        return self.session.request(method, self.base_url + path, data=data, headers=headers, params=params,
                                    timeout=timeout)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("POST", path, json_body=body, **kwargs)

    def patch(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.request("PATCH", path, json_body=body, **kwargs)

    def close(self):
        self.session.close()

    # The operations, returning the response for the test to judge.

    def create_user(self, name: str, initial_balance=None, *, username: str | None = None,
                    password: str | None = None, fields: dict | None = None, **kwargs) -> requests.Response:
        """POST /api/users; `fields`: more members of the body (credit_limit, daily_debit_limit, time_zone)."""
        body = {"name": name, **(fields or {})}
        if initial_balance is not None:
            body["initial_balance"] = initial_balance
        if username is not None:
            body["username"] = username
        if password is not None:
            body["password"] = password
        return self.post("/api/users", body, **kwargs)

    def register(self, username: str, password: str, name: str | None = None, **kwargs) -> requests.Response:
        body = {"username": username, "password": password}
        if name is not None:
            body["name"] = name
        return self.post("/api/auth/register", body, **kwargs)

    def login(self, username: str, password: str, *, wait_when_limited: bool = True,
              **kwargs) -> requests.Response:
        """POST /api/auth/login. nginx limits log-ins per address (10/s, bursts of 30); a test that logs in
        only to get a token waits as Retry-After says, as a client should, rather than fail for the pace of
        the tests around it. The limit itself is tested in tests/faults/test_rate_limits.py."""
        body = {"username": username, "password": password}
        kwargs.setdefault("token", None)
        for _ in range(10):
            response = self.post("/api/auth/login", body, **kwargs)
            if not (wait_when_limited and response.status_code == 429):
                return response
            time.sleep(float(response.headers.get("Retry-After", "1")))
        return response

    def logout(self, **kwargs) -> requests.Response:
        return self.post("/api/auth/logout", **kwargs)

    def me(self, **kwargs) -> requests.Response:
        return self.get("/api/me", **kwargs)

    def user(self, user_id: int) -> dict:
        response = self.get(f"/api/users/{user_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def balance_minor(self, user_id: int) -> int:
        return self.user(user_id)["balance_minor"]

    def transfer(self, from_id: int, to_id: int, amount, memo=None, **kwargs) -> requests.Response:
        body = {"from_user_id": from_id, "to_user_id": to_id, "amount": amount}
        if memo is not None:
            body["memo"] = memo
        return self.post("/api/transfers", body, **kwargs)

    def hold(self, from_id: int, to_id: int, amount, expires_in=3600, memo=None, **kwargs) -> requests.Response:
        """POST /api/holds: reserves the amount on the payer's account for expires_in seconds."""
        body = {"from_user_id": from_id, "to_user_id": to_id, "amount": amount, "expires_in": expires_in}
        if memo is not None:
            body["memo"] = memo
        return self.post("/api/holds", body, **kwargs)

    def capture(self, hold_id: int, amount=None, **kwargs) -> requests.Response:
        """POST /api/holds/{id}/capture: the whole hold ({}), or `amount` of it."""
        return self.post(f"/api/holds/{hold_id}/capture", {} if amount is None else {"amount": amount}, **kwargs)

    def void(self, hold_id: int, **kwargs) -> requests.Response:
        return self.post(f"/api/holds/{hold_id}/void", {}, **kwargs)

    def reverse(self, transfer_id: int, amount=None, memo=None, **kwargs) -> requests.Response:
        """POST /api/transfers/{id}/reversals: `amount` of it back (None: what is left unreversed)."""
        body = {}
        if amount is not None:
            body["amount"] = amount
        if memo is not None:
            body["memo"] = memo
        return self.post(f"/api/transfers/{transfer_id}/reversals", body, **kwargs)

    def deposit(self, user_id: int, amount, memo=None, *, t=None, **kwargs) -> requests.Response:
        """POST /api/users/{id}/deposits; `t` (the event's second, for the alert rules) only when given."""
        body = {"amount": amount}
        if memo is not None:
            body["memo"] = memo
        if t is not None:
            body["t"] = t
        return self.post(f"/api/users/{user_id}/deposits", body, **kwargs)

    def withdraw(self, user_id: int, amount, memo=None, *, t=None, **kwargs) -> requests.Response:
        body = {"amount": amount}
        if memo is not None:
            body["memo"] = memo
        if t is not None:
            body["t"] = t
        return self.post(f"/api/users/{user_id}/withdrawals", body, **kwargs)

    def event(self, kind: str, amount, user_id: int, t, **kwargs) -> requests.Response:
        """POST /api/event, the activity-event contract: kind is "deposit" or "withdraw"."""
        return self.post("/api/event", {"type": kind, "amount": amount, "user_id": user_id, "t": t}, **kwargs)

    def all_pages(self, path: str, limit: int, max_pages: int = 1000) -> list[dict]:
        """Every item of a paged list, following next_cursor to the end (bounded)."""
        items, cursor = [], None
        for _ in range(max_pages):
            params = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            response = self.get(path, params=params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert set(page) == {"items", "next_cursor"}, page
            assert len(page["items"]) <= limit
            items.extend(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return items
            assert isinstance(cursor, str) and cursor, page
            assert len(page["items"]) == limit, "a page before the last must be full"
        raise AssertionError(f"{path} had more than {max_pages} pages of {limit}")


def new_username() -> str:
    """A username no other test or run uses (3 to 64 of [A-Za-z0-9._-])."""
    return f"u.{uuid.uuid4().hex[:16]}"


def new_password() -> str:
    """A password no other test or run uses, easy to search for in logs."""
    return f"pw-{uuid.uuid4().hex}"


def parse_timestamp(value: str) -> datetime:
    assert isinstance(value, str) and TIMESTAMP.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


class Account:
    """A user who can log in: the user as the API answered it, the credentials, and a token that it renews
    (by logging in again) when less than TOKEN_REFRESH_MARGIN_SECONDS of it is left. Safe to share between
    threads; give it to Api as the token to act as this user."""

    def __init__(self, base_url: str, user: dict, username: str, password: str):
        self.base_url = base_url
        self.user = user
        self.username = username
        self.password = password
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self._lock = threading.Lock()
        self._api: Api | None = None

    def __repr__(self) -> str:
        return f"Account({self.username}, id {self.id})"

    @property
    def id(self) -> int:
        return self.user["id"]

    def log_in(self) -> dict:
        """A new log-in: the 200 body (token, token_type, expires_at, user)."""
        client = Api(self.base_url, token=None)
        try:
            response = client.login(self.username, self.password)
        finally:
            client.close()
        assert response.status_code == 200, f"log-in as {self.username}: {response.status_code} {response.text}"
        return response.json()

    def current_token(self) -> str:
        with self._lock:
            left = None if self._expires_at is None else (
                self._expires_at - datetime.now(timezone.utc)).total_seconds()
            if self._token is None or (left is not None and left < TOKEN_REFRESH_MARGIN_SECONDS):
                body = self.log_in()
                self._token = body["token"]
                self._expires_at = None if body["expires_at"] is None else parse_timestamp(body["expires_at"])
            return self._token

    @property
    def api(self) -> Api:
        """A client acting as this user, for the test's own thread (threads make their own with
        Api(base_url, account))."""
        if self._api is None:
            self._api = Api(self.base_url, token=self)
        return self._api

    def close(self) -> None:
        if self._api is not None:
            self._api.close()


def create_account(api: Api, balance: str | None = None, name: str | None = None, **fields) -> Account:
    """A user with credentials, made by the service role (so that it can have a balance at once); `fields`:
    more members of the body (credit_limit, daily_debit_limit, time_zone)."""
    username, password = new_username(), new_password()
    response = api.create_user(name or unique("account"), balance, username=username, password=password,
                               fields=fields)
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["username"] == username, user
    return Account(api.base_url, user, username, password)


class Database:
    """Black-box checks on the ledger's tables through psql."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo

    def rows(self, sql: str, **variables: str) -> list[list[str]]:
        """Rows of a query, each a list of column texts (NULL is ""). Values go as psql variables
        (:'name' in the SQL), never spliced into the text."""
        command = ["psql", self.conninfo, "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1"]
        for name, value in variables.items():
            command += ["-v", f"{name}={value}"]
        result = subprocess.run(command, input=sql, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"psql failed: {result.stderr}\n{sql}"
        return [line.split("\x1f") for line in result.stdout.splitlines() if line != ""]

    def value(self, sql: str, **variables: str) -> str:
        rows = self.rows(sql, **variables)
        assert len(rows) == 1 and len(rows[0]) == 1, rows
        return rows[0][0]

    def integer(self, sql: str, **variables: str) -> int:
        return int(self.value(sql, **variables))

    def execute(self, sql: str, **variables: str) -> None:
        self.rows(sql, **variables)

    def balance(self, user_id: int) -> int:
        return self.integer(f"SELECT balance FROM users WHERE id = {int(user_id)}")

    def snapshot(self, *user_ids: int) -> dict:
        """What a refused request must leave as it was, in one query: how many users, movements and
        idempotency keys there are (tests run one at a time), and the balances of some users. (Not the tokens:
        an Account may log in again whenever its token gets old.)"""
        balances = "".join(f", (SELECT balance FROM users WHERE id = {int(user_id)})" for user_id in user_ids)
        row = self.rows("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM movements), "
                        "(SELECT count(*) FROM idempotency_keys)" + balances)[0]
        values = [int(value) for value in row]
        return {"users": values[0], "movements": values[1], "idempotency_keys": values[2],
                "balances": dict(zip(user_ids, values[3:]))}

    def cash_events(self, user_id: int) -> list[dict]:
        """The user's deposits and withdrawals as the alert rules see them (cash_events), in t order, each
        with the codes stored in alerts for its movement (ascending)."""
        rows = self.rows(
            "SELECT e.movement_id, e.kind, e.amount, e.t, COALESCE((SELECT string_agg(a.code::text, ',' "
            "ORDER BY a.code) FROM alerts a WHERE a.movement_id = e.movement_id), '') "
            f"FROM cash_events e WHERE e.user_id = {int(user_id)} ORDER BY e.t")
        return [{"movement_id": int(movement_id), "kind": kind, "amount": int(amount), "t": int(t),
                 "codes": [int(code) for code in codes.split(",") if code]}
                for movement_id, kind, amount, t, codes in rows]

    def alert_count(self, user_id: int) -> int:
        return self.integer(f"SELECT count(*) FROM alerts WHERE user_id = {int(user_id)}")

    def movement_count(self, *user_ids: int) -> int:
        ids = ",".join(str(int(i)) for i in user_ids)
        return self.integer(
            f"SELECT count(*) FROM movements WHERE debit_user_id IN ({ids}) OR credit_user_id IN ({ids})")

    def movements_with_memo_prefix(self, prefix: str) -> dict[str, list[dict]]:
        """Journal rows whose memo starts with prefix, grouped by memo."""
        rows = self.rows(
            "SELECT memo, id, kind, debit_user_id, credit_user_id, amount FROM movements "
            "WHERE starts_with(memo, :'prefix') ORDER BY id",
            prefix=prefix)
        found: dict[str, list[dict]] = {}
        for memo, movement_id, kind, debit, credit, amount in rows:
            found.setdefault(memo, []).append({
                "id": int(movement_id), "kind": kind, "debit_user_id": int(debit),
                "credit_user_id": int(credit), "amount": int(amount)})
        return found


class RowHolder:
    """A psql session that holds users' rows (SELECT ... FOR UPDATE) until told to commit."""

    def __init__(self, conninfo: str, user_ids: list[int], name: str):
        self.name = name
        self.process = subprocess.Popen(
            ["psql", conninfo, "-X", "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "PGAPPNAME": name})
        self._send(f"BEGIN; SELECT id FROM users WHERE id IN ({','.join(map(str, user_ids))}) FOR UPDATE;")

    def _send(self, sql: str) -> None:
        self.process.stdin.write(sql + "\n")
        self.process.stdin.flush()

    def holds(self, db) -> bool:
        return db.integer("SELECT count(*) FROM pg_stat_activity WHERE application_name = :'name' "
                          "AND state = 'idle in transaction'", name=self.name) == 1

    def commit(self) -> None:
        if self.process.poll() is None:
            self._send("COMMIT;")
            self.process.stdin.close()
        assert self.process.wait(30) == 0, self.process.stderr.read()


def run_verify(binary: str, conninfo: str) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "verify", "--database", conninfo], capture_output=True, text=True, timeout=120)


def assert_unauthorized(response: requests.Response) -> dict:
    """401 unauthorized with the Bearer challenge (RFC 6750)."""
    error = assert_error(response, 401, "unauthorized")
    assert response.headers.get("WWW-Authenticate") == CHALLENGE, response.headers
    return error


def assert_forbidden(response: requests.Response) -> dict:
    return assert_error(response, 403, "forbidden")


def assert_error(response: requests.Response, status: int, code: str, field: str | None = None, *,
                 replayed: bool = False) -> dict:
    """The response is a JSON error of this status and code (naming this field, when given), with a
    message and the request's id (nginx's, also in X-Request-Id; a replay carries the first request's).
    Returns the error object."""
    assert response.status_code == status, (
        f"expected {status} {code}, got {response.status_code}: {response.text[:500]}")
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, body
    assert isinstance(error["message"], str) and error["message"].strip(), body
    assert isinstance(error["request_id"], str) and error["request_id"].strip(), body
    if not replayed and "X-Request-Id" in response.headers:
        assert error["request_id"] == response.headers["X-Request-Id"], (body, response.headers)
    # index: the batch item (POST /api/batches) the error is about.
    assert set(error) - {"field", "index"} == {"code", "message", "request_id"}, body
    if field is not None:
        assert error.get("field") == field, body
    if "field" in error:
        assert isinstance(error["field"], str) and error["field"], body
    return error


def assert_recent_timestamp(value: str, slack_seconds: float = 300) -> datetime:
    """RFC 3339 UTC with milliseconds, and close to now (same machine clock)."""
    moment = parse_timestamp(value)
    assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < slack_seconds, value
    return moment


def assert_user_shape(user: dict, *, name: str, balance_minor: int, username: str | None = None) -> None:
    """A User object; `username` is null for a user made by the service role without credentials."""
    assert set(user) == USER_KEYS, user
    assert isinstance(user["id"], int) and not isinstance(user["id"], bool) and user["id"] > 0, user
    assert user["name"] == name
    assert user["username"] == username, user
    assert user["balance"] == text(balance_minor), user
    assert user["balance_minor"] == balance_minor, user
    assert_recent_timestamp(user["created_at"])


# A bounded load of random transfers among a few hot users.

@dataclass
class Outcome:
    """What one transfer request of a load asked and got."""
    memo: str
    from_id: int
    to_id: int
    amount_minor: int
    key: str | None
    caller: int | None = None          # the user whose token sent it; None: the service role
    status: int | None = None          # None: no HTTP answer (connection error, timeout)
    body: dict | None = None
    replayed: bool = False
    error: str | None = None


@dataclass
class Load:
    """Transfers among `users` from `threads` clients, `per_thread` requests each, every one with a unique memo
    (and an Idempotency-Key when `with_keys`), so that the journal can be checked against the answers.

    With the service token (the default) a client pays from any of the users. With `accounts` (one per user,
    in the order of `users`) client n is the user n % len(users), sends that user's token and pays from
    their own account; with `forbidden_every` = k, every k-th of its requests tries to pay from another
    user's account to its own instead, which must be refused (403) and change nothing."""
    base_url: str
    users: list[int]
    threads: int = 32
    per_thread: int = 50
    max_amount_minor: int = 2000
    with_keys: bool = False
    accounts: list[Account] | None = None
    forbidden_every: int = 0
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    outcomes: list[Outcome] = field(default_factory=list)
    completed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def memo_prefix(self) -> str:
        return f"load-{self.run_id}-"

    def run(self, deadline_seconds: float = 240) -> None:
        deadline = time.monotonic() + deadline_seconds
        workers = [threading.Thread(target=self._client, args=(n, deadline), daemon=True)
                   for n in range(self.threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(1.0, deadline - time.monotonic() + 60))
        assert not any(worker.is_alive() for worker in workers), "load clients did not finish in time"

    def start_in_background(self, deadline_seconds: float = 240) -> threading.Thread:
        runner = threading.Thread(target=self.run, args=(deadline_seconds,), daemon=True)
        runner.start()
        return runner

    def _client(self, number: int, deadline: float) -> None:
        account = self.accounts[number % len(self.users)] if self.accounts else None
        api = Api(self.base_url, account if account else SERVICE)
        chooser = random.Random(f"{self.run_id}-{number}")
        try:
            for i in range(self.per_thread):
                if time.monotonic() > deadline:
                    break
                if account is None:
                    from_id, to_id = chooser.sample(self.users, 2)
                else:
                    other = chooser.choice([user for user in self.users if user != account.id])
                    steals = self.forbidden_every and i % self.forbidden_every == self.forbidden_every - 1
                    from_id, to_id = (other, account.id) if steals else (account.id, other)
                outcome = Outcome(
                    memo=f"{self.memo_prefix}{number}-{i}", from_id=from_id, to_id=to_id,
                    amount_minor=chooser.randint(1, self.max_amount_minor),
                    key=f"{self.run_id}-{number}-{i}" if self.with_keys else None,
                    caller=account.id if account else None)
                self.send(api, outcome)
                with self._lock:
                    self.outcomes.append(outcome)
                    self.completed += 1
        finally:
            api.close()

    @staticmethod
    def send(api: Api, outcome: Outcome) -> None:
        headers = {"Idempotency-Key": outcome.key} if outcome.key else {}
        try:
            response = api.transfer(outcome.from_id, outcome.to_id, text(outcome.amount_minor), outcome.memo,
                                    headers=headers)
        except requests.RequestException as error:
            outcome.status, outcome.body, outcome.error = None, None, repr(error)
            return
        outcome.status = response.status_code
        outcome.replayed = response.headers.get("Idempotency-Replayed") == "true"
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = None
            outcome.error = f"not JSON: {response.text[:200]!r}"

    def by_status(self) -> dict:
        counts: dict = {}
        for outcome in self.outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return counts


def check_journal_against_answers(load: Load, db: Database, *, unknown_outcomes_allowed: int = 0) -> None:
    """Every 201 transfer of the load is in the journal exactly once with the answered id, parties and amount;
    no refused one is in it. Requests without a definite answer (5xx from the gateway, no answer) may be in
    it at most `unknown_outcomes_allowed` times: a worker killed between COMMIT and its reply cannot say so."""
    journal = db.movements_with_memo_prefix(load.memo_prefix)
    answered = {outcome.memo: outcome for outcome in load.outcomes}
    assert set(journal) <= set(answered), f"journal has memos nobody sent: {sorted(set(journal) - set(answered))[:5]}"
    unknown_in_journal = []
    for outcome in load.outcomes:
        rows = journal.get(outcome.memo, [])
        if outcome.status == 201:
            assert len(rows) == 1, f"201 transfer {outcome.memo} is in the journal {len(rows)} times"
            row, body = rows[0], outcome.body
            assert row == {"id": body["id"], "kind": "transfer", "debit_user_id": outcome.from_id,
                           "credit_user_id": outcome.to_id, "amount": outcome.amount_minor}, (row, body)
            assert body["amount_minor"] == outcome.amount_minor and body["memo"] == outcome.memo, body
        elif outcome.status is not None and outcome.status < 500:
            assert rows == [], f"refused request ({outcome.status} {outcome.body}) is in the journal: {rows}"
        elif outcome.status == 503:
            # The service says nothing was applied.
            assert rows == [], f"503 request is in the journal: {rows}"
        else:
            assert len(rows) <= 1, f"{outcome.memo} is in the journal {len(rows)} times"
            if rows:
                unknown_in_journal.append(outcome.memo)
    assert len(unknown_in_journal) <= unknown_outcomes_allowed, (
        f"requests answered {set(o.status for o in load.outcomes if o.memo in unknown_in_journal)} "
        f"were applied: {unknown_in_journal}")


# No user's money below what their credit limit allows, less what pending holds reserve (the users CHECK's rule,
# counted over every user the run's database holds: other tests' users may be below zero within their limit).
NO_USER_BELOW_THEIR_LIMIT = (
    "SELECT count(*) FROM users WHERE NOT is_system AND balance < held - credit_limit")


def check_hot_users(api: Api, db: Database, users: list[int], total_before: int) -> None:
    """Transfers among the users kept their total; nobody went negative; the API and the table agree."""
    balances = {user_id: db.balance(user_id) for user_id in users}
    assert all(balance >= 0 for balance in balances.values()), balances
    assert sum(balances.values()) == total_before, (balances, total_before)
    assert db.integer(NO_USER_BELOW_THEIR_LIMIT) == 0
    for user_id, balance in balances.items():
        assert api.balance_minor(user_id) == balance


def check_balance_chains(db: Database, users: list[int]) -> None:
    """Each user's movements, in id order, chain: every balance after is the one before plus or minus the
    amount, starting from zero, ending at the stored balance. A lost update or a movement applied on a stale
    balance breaks the chain."""
    for user_id in users:
        rows = db.rows(
            f"SELECT id, debit_user_id, amount, debit_balance_after, credit_balance_after FROM movements "
            f"WHERE debit_user_id = {int(user_id)} OR credit_user_id = {int(user_id)} ORDER BY id")
        balance = 0
        for movement_id, debit, amount, debit_after, credit_after in rows:
            if int(debit) == user_id:
                balance -= int(amount)
                after = int(debit_after)
            else:
                balance += int(amount)
                after = int(credit_after)
            assert after == balance, f"user {user_id}: movement {movement_id} says {after}, the chain {balance}"
        assert balance == db.balance(user_id), f"user {user_id}: chain ends at {balance}"


def pool_log_lines(containing: str, seconds: float = 5) -> list[str]:
    """Lines of the pool's log (TALLY_LOG_DIR/tally.log) that contain a text, waiting a little for them to be
    written; [] when the text does not show up in time."""
    return log_lines("tally.log", containing, seconds)


def access_log_lines(containing: str, seconds: float = 5) -> list[str]:
    """Lines of nginx's access log (TALLY_LOG_DIR/nginx-access.log) that contain a text, waiting a little:
    nginx writes a request's line after it has sent the answer, so the client can read the answer first."""
    return log_lines("nginx-access.log", containing, seconds)


def log_lines(file_name: str, containing: str, seconds: float) -> list[str]:
    path = os.path.join(env("TALLY_LOG_DIR"), file_name)

    def matching() -> list[str]:
        with open(path, encoding="utf-8", errors="replace") as log:
            return [line for line in log if containing in line]

    return wait_for(matching, seconds, interval=0.1)


def wait_for(condition, seconds: float, interval: float = 0.05):
    """Polls `condition` until it returns something true or `seconds` pass; returns its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    return condition()


@contextlib.contextmanager
def pool_started_with(pool, settings: dict[str, str]):
    """The pool restarted with extra TALLY_* settings in its environment; afterwards restarted as before."""
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update({name: str(value) for name, value in settings.items()})
    try:
        pool.stop()
        pool.start()
        yield pool
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        with contextlib.suppress(AssertionError):
            pool.stop()
        pool.start()

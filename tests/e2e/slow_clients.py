"""Slow clients against nginx: slowloris-style connections that send a request header a byte at a time (or
a whole header, then a body a byte at a time), and a probe that checks whether a normal request still gets
through meanwhile. test_security_limits.py uses the pieces; run as a script it measures, printing what it
held each few seconds:

    python tests/e2e/slow_clients.py http://127.0.0.1:PORT --connections 4200 --mode header --seconds 90
    python tests/e2e/slow_clients.py http://127.0.0.1:PORT --connections 600 --mode body --seconds 30

--reconnect opens a new connection for each one the server closes, as a real slowloris does."""

import argparse
import json
import select
import socket
import statistics
import threading
import time
from urllib.parse import urlparse


def header_start(host: str) -> bytes:
    """A GET whose header never ends: the slow client sends one byte of an endless header line at a time."""
    return f"GET /api/health HTTP/1.1\r\nHost: {host}\r\nX-Slow: ".encode()


def body_start(host: str, length: int = 60_000) -> bytes:
    """A whole POST header announcing a body that then comes a byte at a time (or never). The token has a
    token's form (it is no live one): the anonymous request limit does not count it."""
    return (f"POST /api/users HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer tly_{'A' * 43}\r\nContent-Length: {length}\r\n\r\n").encode()


class SlowConnection:
    def __init__(self, sock: socket.socket, opened: float):
        self.sock = sock
        self.opened = opened
        self.closed: float | None = None
        self.answer = b""

    def close(self, now: float) -> None:
        if self.closed is None:
            self.closed = now
            self.sock.close()


def open_connection(address: tuple, first: bytes, timeout: float = 2.0) -> SlowConnection | None:
    """A connection that has sent `first`; None when nginx did not take it within `timeout`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address)
        sock.sendall(first)
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return SlowConnection(sock, time.monotonic())


def poll(connections: list, now: float) -> None:
    """Reads what the server sent; a connection it closed (or reset) is marked closed."""
    live = {c.sock.fileno(): c for c in connections if c.closed is None}
    poller = select.poll()
    for fd in live:
        poller.register(fd, select.POLLIN)
    for fd, _ in poller.poll(0):
        connection = live[fd]
        try:
            data = connection.sock.recv(65536)
        except OSError:
            data = b""
        if data:
            connection.answer += data
        else:
            connection.close(now)


def trickle(connections: list, now: float) -> None:
    """One more byte on every open connection."""
    for connection in connections:
        if connection.closed is None:
            try:
                connection.sock.send(b"a")
            except OSError:
                connection.close(now)


def status_of(answer: bytes) -> int | None:
    parts = answer.split(b" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def read_response(answer: bytes) -> tuple[int, dict, dict]:
    """(status, headers with lower-case names, JSON body) of a whole HTTP/1.1 answer."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, json.loads(body)


class Probe(threading.Thread):
    """GET /api/health every `every` seconds on a new connection: the normal client beside the slow ones."""

    def __init__(self, address: tuple, host: str, every: float = 1.0, timeout: float = 3.0):
        super().__init__(daemon=True)
        self.address, self.host, self.every, self.timeout = address, host, every, timeout
        self.results: list = []  # (seconds since start, status or None, seconds taken)
        self.stopping = threading.Event()
        self.started_at = time.monotonic()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            status = None
            try:
                with socket.create_connection(self.address, timeout=self.timeout) as sock:
                    sock.settimeout(self.timeout)
                    sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: {self.host}\r\nConnection: close\r\n\r\n".encode())
                    status = status_of(sock.recv(4096))
            except OSError:
                pass
            self.results.append((began - self.started_at, status, time.monotonic() - began))
            self.stopping.wait(max(0.0, self.every - (time.monotonic() - began)))


def measure(url: str, mode: str, count: int, seconds: float, interval: float, reconnect: bool) -> dict:
    parsed = urlparse(url)
    address, host = (parsed.hostname, parsed.port or 80), parsed.netloc
    first = header_start(host) if mode == "header" else body_start(host)
    probe = Probe(address, host)
    probe.start()
    started = time.monotonic()
    connections, refused_to_open = [], 0
    for _ in range(count):
        connection = open_connection(address, first)
        if connection is None:
            refused_to_open += 1
        else:
            connections.append(connection)
    print(f"opened {len(connections)} of {count} in {time.monotonic() - started:.1f} s "
          f"({refused_to_open} not taken within 2 s)")
    next_report = started
    reopened = 0
    while (now := time.monotonic()) - started < seconds:
        poll(connections, now)
        trickle(connections, now)
        if reconnect:
            for _ in range(sum(1 for c in connections if c.closed is not None) - reopened):
                connection = open_connection(address, first, timeout=0.5)
                reopened += 1
                if connection is not None:
                    connections.append(connection)
        if now >= next_report:
            held = sum(1 for c in connections if c.closed is None)
            recent = [r for r in probe.results if r[0] >= now - started - 5]
            ok = sum(1 for r in recent if r[1] == 200)
            print(f"t={now - started:5.1f} s: holding {held}, closed by nginx {len(connections) - held}; "
                  f"probes in the last 5 s: {ok} of {len(recent)} answered 200")
            next_report = now + 5
        time.sleep(interval)
    probe.stopping.set()
    probe.join()
    now = time.monotonic()
    poll(connections, now)
    lives = [c.closed - c.opened for c in connections if c.closed is not None]
    statuses: dict = {}
    for connection in connections:
        status = status_of(connection.answer)
        statuses[status] = statuses.get(status, 0) + 1
    report = {
        "opened": len(connections),
        "not_taken": refused_to_open,
        "still_open_at_end": sum(1 for c in connections if c.closed is None),
        "closed_by_server": len(lives),
        "closed_after_seconds_median": round(statistics.median(lives), 1) if lives else None,
        "closed_after_seconds_max": round(max(lives), 1) if lives else None,
        "answers": {str(k): v for k, v in statuses.items()},
        "probes_ok": sum(1 for r in probe.results if r[1] == 200),
        "probes": len(probe.results),
        "probe_slowest_seconds": round(max((r[2] for r in probe.results), default=0), 2),
    }
    for connection in connections:
        connection.close(now)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--mode", choices=["header", "body"], default="header")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between bytes")
    parser.add_argument("--reconnect", action="store_true")
    arguments = parser.parse_args()
    print(json.dumps(measure(arguments.url, arguments.mode, arguments.connections, arguments.seconds,
                             arguments.interval, arguments.reconnect), indent=2))


if __name__ == "__main__":
    main()

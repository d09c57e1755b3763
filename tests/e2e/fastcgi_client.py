"""A FastCGI client for the pool's socket, to send what nginx never passes on (used by the e2e and fault suites)."""

from __future__ import annotations

import json
import socket
import struct

from tally_e2e import env


class FastCGI:
    """Speaks FastCGI to the pool's socket directly, as nginx does, to send what nginx never passes on: a body
    shorter than its CONTENT_LENGTH (nginx reads the whole body before it calls the pool)."""

    BEGIN_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT = 1, 3, 4, 5, 6
    RESPONDER = 1

    @staticmethod
    def record(kind: int, content: bytes) -> bytes:
        return struct.pack("!BBHHBB", 1, kind, 1, len(content), 0, 0) + content

    @staticmethod
    def pairs(params: dict[str, str]) -> bytes:
        def length(n: int) -> bytes:
            return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)
        out = b""
        for name, value in params.items():
            name_bytes, value_bytes = name.encode(), value.encode()
            out += length(len(name_bytes)) + length(len(value_bytes)) + name_bytes + value_bytes
        return out

    @classmethod
    def send(cls, params: dict[str, str], body: bytes, *, end_of_body: bool) -> socket.socket:
        """Opens a connection and sends the request: the parameters and `body`, then the end of the stream
        only when `end_of_body`. Returns the open connection."""
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        connection.settimeout(10)
        connection.connect(env("TALLY_SOCKET"))
        message = cls.record(cls.BEGIN_REQUEST, struct.pack("!HB5x", cls.RESPONDER, 0))
        message += cls.record(cls.PARAMS, cls.pairs(params)) + cls.record(cls.PARAMS, b"")
        if body:
            message += cls.record(cls.STDIN, body)
        if end_of_body:
            message += cls.record(cls.STDIN, b"")
        connection.sendall(message)
        return connection

    @classmethod
    def answer(cls, connection: socket.socket) -> tuple[int, dict]:
        """Reads the response to its end: the status and the JSON body."""
        data = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
        stdout, offset, ended = b"", 0, False
        while offset + 8 <= len(data):
            _, kind, _, length, padding, _ = struct.unpack("!BBHHBB", data[offset:offset + 8])
            content = data[offset + 8:offset + 8 + length]
            offset += 8 + length + padding
            if kind == cls.STDOUT:
                stdout += content
            ended = ended or kind == cls.END_REQUEST
        assert ended, f"no FCGI_END_REQUEST in {data[:300]!r}"
        head, _, body = stdout.partition(b"\r\n\r\n")
        status = int(head.split(b"Status: ", 1)[1][:3])
        return status, json.loads(body)

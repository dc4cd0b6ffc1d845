"""HTTP/1.1 requests written on a raw socket: a body that is declared but never sent, or sent
slowly in chunks, which no HTTP client library lets a test do on purpose."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass
from typing import Any

CHUNK = 64 * 1024


@dataclass
class Answer:
    status: int | None  # None: no answer within the timeout
    body: dict[str, Any]
    sent: int  # body bytes the client managed to send before the answer


def _read_answer(sock: socket.socket) -> tuple[int | None, dict[str, Any]]:
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            part = sock.recv(65536)
            if not part:
                break
            data += part
        head, _, rest = data.partition(b"\r\n\r\n")
        if not head:
            return None, {}
        status = int(head.split(b" ", 2)[1])
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(rest) < length:
            part = sock.recv(65536)
            if not part:
                break
            rest += part
    except (TimeoutError, ConnectionError):
        return None, {}
    try:
        body = json.loads(rest[:length]) if length else {}
    except ValueError:
        body = {"raw": rest[:200].decode(errors="replace")}
    return status, body if isinstance(body, dict) else {"value": body}


def post(port: int, path: str, *, send: int, declared: int | None = None,
         finish: bool = False, headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> Answer:
    """POST ``send`` bytes of body (chunked unless ``declared`` gives a Content-Length) and
    wait up to ``timeout`` seconds for the answer *without* finishing the body unless
    ``finish``: a server that waits for the whole body before deciding never answers."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    lines.append(f"Content-Length: {declared}" if declared is not None
                 else "Transfer-Encoding: chunked")
    sent = [0]

    def writer() -> None:
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            block = b"a" * CHUNK
            while sent[0] < send:
                piece = block[:min(CHUNK, send - sent[0])]
                framed = piece if declared is not None else \
                    f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
                sock.sendall(framed)
                sent[0] += len(piece)
            if finish and declared is None:
                sock.sendall(b"0\r\n\r\n")
        except OSError:
            return  # the server answered and closed: expected when it refuses early

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        status, body = _read_answer(sock)
    finally:
        sock.close()
        thread.join(timeout=timeout)
    return Answer(status, body, sent[0])

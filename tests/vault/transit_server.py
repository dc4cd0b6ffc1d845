"""A scripted stand-in for the Vault/OpenBao transit engine (no Vault binary can run here).

It implements the handful of endpoints hvac calls, with real AES-GCM per key version, so
TransitKek is exercised over HTTP exactly as it talks to a real server.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

TOKEN = "s.test-root-token"


class TransitState:
    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}


def make_handler(state: TransitState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: Any) -> None:
            return

        def _send(self, code: int, body: dict[str, Any] | None = None) -> None:
            raw = json.dumps(body or {}).encode()
            self.send_response(code)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict[str, Any]:
            n = int(self.headers.get("content-length") or 0)
            return json.loads(self.rfile.read(n) or b"{}") if n else {}

        def _route(self, method: str) -> None:
            if self.headers.get("X-Vault-Token") != TOKEN:
                return self._send(403, {"errors": ["permission denied"]})
            parts = self.path.split("?")[0].strip("/").split("/")
            if parts[:4] == ["v1", "auth", "token", "lookup-self"]:
                return self._send(200, {"data": {"id": TOKEN}})
            if len(parts) < 4 or parts[1] != "transit":
                return self._send(404, {"errors": ["no handler"]})
            op, name = parts[2], parts[3]
            key = state.keys.get(name)
            if op == "keys" and len(parts) == 4:
                if method == "GET":
                    if key is None:
                        return self._send(404, {"errors": []})
                    return self._send(200, {"data": {"latest_version": key["latest"]}})
                state.keys[name] = {"latest": 1, "min": 1, "versions": {1: os.urandom(32)}}
                return self._send(204)
            if key is None:
                return self._send(400, {"errors": ["no such key"]})
            if op == "keys" and parts[4:] == ["rotate"]:
                key["latest"] += 1
                key["versions"][key["latest"]] = os.urandom(32)
                return self._send(204)
            if op == "keys" and parts[4:] == ["config"]:
                key["min"] = int(self._body().get("min_decryption_version", key["min"]))
                return self._send(204)
            body = self._body()
            if op == "encrypt":
                v = key["latest"]
                nonce = os.urandom(12)
                ct = AESGCM(key["versions"][v]).encrypt(nonce, base64.b64decode(body["plaintext"]),
                                                        None)
                text = f"vault:v{v}:" + base64.b64encode(nonce + ct).decode()
                return self._send(200, {"data": {"ciphertext": text}})
            if op == "decrypt":
                _, ver, blob = body["ciphertext"].split(":", 2)
                v = int(ver.lstrip("v"))
                if v < key["min"] or v not in key["versions"]:
                    return self._send(400, {"errors": ["ciphertext version is disallowed"]})
                raw = base64.b64decode(blob)
                try:
                    pt = AESGCM(key["versions"][v]).decrypt(raw[:12], raw[12:], None)
                except InvalidTag:
                    return self._send(400, {"errors": ["cipher: message authentication failed"]})
                return self._send(200, {"data": {"plaintext": base64.b64encode(pt).decode()}})
            return self._send(404, {"errors": ["no handler"]})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("POST")

    return Handler


def start() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(TransitState()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"

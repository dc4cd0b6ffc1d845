"""A real uvicorn server for an app, on loopback, for tests that need real concurrency
(the TestClient runs one request at a time through its own portal)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from tests.slots import free_port


@contextlib.contextmanager
def serving(app: object, config: uvicorn.Config | None = None) -> Iterator[str]:
    """Yields the base URL (http://127.0.0.1:<port>) while the server runs; ``config`` is the
    production server configuration under test (its host and port are replaced)."""
    port = free_port()
    if config is None:
        config = uvicorn.Config(app, log_level="warning", log_config=None,  # type: ignore[arg-type]
                                access_log=False)
    config.host, config.port = "127.0.0.1", port
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)

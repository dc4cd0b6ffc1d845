"""Request bodies are bounded before they are buffered (weakness 4 of the outside test).

Measured there: one 400 MiB unauthenticated login grew the server from 151 to 1,345 MiB, and
the billing and channel webhooks read the whole body before checking their own limits.
These tests talk to a control plane in its own process over a raw socket, so "refused
before the body is read" is observable: the answer arrives while the body is unfinished.
"""

from __future__ import annotations

import threading
import time

import pytest

from osp.channels.service import MAX_BODY as CHANNEL_MAX
from osp.runtime.billing import MAX_BODY as BILLING_MAX
from osp.web.limits import DEFAULT_MAX_BODY
from tests.reliability.conftest import LiveServer
from tests.reliability.rawhttp import post

LOGIN = "/api/v1/auth/login"
MIB = 1024 * 1024


def test_a_declared_oversized_body_is_refused_before_a_byte_of_it_is_read(
        live_server: LiveServer) -> None:
    answer = post(live_server.port, LOGIN, declared=400 * MIB, send=0)
    assert answer.status == 413
    assert "too large" in answer.body["error"]


def test_a_streamed_oversized_body_is_refused_as_soon_as_it_passes_the_limit(
        live_server: LiveServer) -> None:
    # Chunked, no length announced, and never finished: only a counting reader answers.
    answer = post(live_server.port, LOGIN, send=DEFAULT_MAX_BODY + 256 * 1024)
    assert answer.status == 413
    assert "too large" in answer.body["error"]


@pytest.mark.parametrize(("path", "limit"), [
    ("/api/v1/billing/events", BILLING_MAX),
    ("/api/v1/channels/telegram/{tenant}/webhook", CHANNEL_MAX),
    ("/api/v1/channels/slack/{tenant}/events", CHANNEL_MAX),
])
def test_webhooks_stop_reading_at_their_own_smaller_cap(
        live_server: LiveServer, path: str, limit: int) -> None:
    assert limit < DEFAULT_MAX_BODY
    url = path.format(tenant="nobody")
    answer = post(live_server.port, url, send=limit + 128 * 1024)  # unfinished body
    assert answer.status == 413, answer
    declared = post(live_server.port, url, declared=limit + 1, send=0)
    assert declared.status == 413, declared


def test_a_body_within_the_limit_still_reaches_the_route(live_server: LiveServer) -> None:
    answer = post(live_server.port, LOGIN, send=10, finish=True)
    assert answer.status == 422  # "aaaaaaaaaa" is not JSON: the route read and judged it


def test_a_huge_unauthenticated_body_does_not_grow_the_server(
        live_server: LiveServer) -> None:
    before = live_server.rss_kib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], live_server.rss_kib())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        # 256 MiB pushed as fast as loopback takes it, then finished.
        answer = post(live_server.port, LOGIN, send=256 * MIB, finish=True, timeout=60)
    finally:
        done.set()
        sampler.join()
    growth_mib = (peak[0] - before) / 1024
    print(f"server RSS {before / 1024:.0f} MiB -> peak {peak[0] / 1024:.0f} MiB "
          f"({growth_mib:+.1f} MiB) for a 256 MiB body; client sent "
          f"{answer.sent / MIB:.1f} MiB before the answer")
    assert answer.status == 413
    assert growth_mib < 32

"""Process-wide counters of what the services do, exported at ``/metrics``.

A leaf module (prometheus-client only) so that the services on every layer (audit, gateway,
the web edge) can count without importing each other. Labels are bounded by construction:
outcomes and actions are fixed words, rail keys are checked against the rail-key shape (the
agent reports them) and anything else is counted as ``other``; no tenant, user or message
appears in a label.
"""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)
_RAIL = re.compile(r"^[a-z]{2,12}\.[a-z_]{2,30}$|^engine$")
_ACTIONS = frozenset({"allow", "alter", "reject", "pause"})
OUTCOMES = frozenset({"answered", "refused", "awaiting_approval", "failed"})

MESSAGES = Counter("osp_messages", "Chat messages by how they ended", ["outcome"],
                   registry=REGISTRY)
RAIL_DECISIONS = Counter("osp_rail_decisions", "Governance decisions by rail and action",
                         ["rail", "action"], registry=REGISTRY)
RAIL_LATENCY = Histogram("osp_rail_latency_seconds", "Time a rail took on one text",
                         ["rail"], registry=REGISTRY,
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5, 1.0, 5.0))
AUDIT_APPEND = Histogram("osp_audit_append_seconds",
                         "Time to append one event to a tenant's audit chain (lock, read head, "
                         "insert)", registry=REGISTRY,
                         buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                  0.5, 1.0))
THROTTLE_HITS = Counter("osp_throttle_hits", "Requests refused with 429, by reason",
                        ["kind"], registry=REGISTRY)


def message_ended(outcome: str) -> None:
    MESSAGES.labels(outcome if outcome in OUTCOMES else "other").inc()


def rail_decided(rail: object, action: object, latency_ms: object) -> None:
    key = rail if isinstance(rail, str) and _RAIL.fullmatch(rail) else "other"
    RAIL_DECISIONS.labels(key, action if action in _ACTIONS else "other").inc()
    if isinstance(latency_ms, int | float) and 0 <= latency_ms < 3_600_000:
        RAIL_LATENCY.labels(key).observe(latency_ms / 1000)


def throttled(kind: str) -> None:
    THROTTLE_HITS.labels(kind).inc()

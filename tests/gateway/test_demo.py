"""`osp up --demo`: what it prints when run again."""

from __future__ import annotations

from osp.gateway.demo import create_demo
from osp.platform import Platform


def test_a_second_demo_start_says_the_previous_token_is_revoked(platform: Platform) -> None:
    first = create_demo(platform)
    second = create_demo(platform)
    try:
        assert "revoked" not in first
        assert "previous" in second and "revoked" in second
        assert first.split("OSP_TOKEN=")[1].split()[0] not in second
    finally:
        platform.tenants.delete(platform.tenants.get("demo"), "test")

"""The nft ruleset, rendered (the live effect is attacked in test_isolation.py)."""

from __future__ import annotations

import pytest

from osp.runtime.firewall import BlockedDestination, FirewallPolicy, TenantRule, render


def policy(**kw: object) -> FirewallPolicy:
    base: dict[str, object] = {"table": "osp_runtime", "pool": "10.213.0.0/16",
                               "internal_api_port": 8401}
    base.update(kw)
    return FirewallPolicy(**base)  # type: ignore[arg-type]


def test_default_deny_to_host_with_internal_api_and_dns_allowed() -> None:
    text = render(policy())
    lines = [ln.strip() for ln in text.splitlines()]
    assert "ip saddr 10.213.0.0/16 tcp dport 8401 accept" in lines
    assert "ip saddr 10.213.0.0/16 ct state established,related accept" in lines
    assert "ip saddr 10.213.0.0/16 counter drop" in lines
    # the drop comes after every accept of the input chain
    input_chain = text.split("chain forward")[0]
    assert input_chain.rindex("accept") < input_chain.index("counter drop")
    assert "8400" not in text  # the admin port is never named: it is simply not allowed


def test_east_west_metadata_foreign_networks_and_external_db_are_dropped() -> None:
    text = render(policy(foreign_subnets=("10.88.0.0/16", "fd00::/64"),
                         blocked=(BlockedDestination("192.0.2.10/32", 5432),)))
    assert "ip saddr 10.213.0.0/16 ip daddr 10.213.0.0/16 counter drop" in text
    assert "ip daddr 169.254.0.0/16 counter drop" in text
    assert "ip daddr { 10.88.0.0/16 } counter drop" in text
    assert "ip daddr 192.0.2.10/32 tcp dport 5432 counter drop" in text
    # A host port published through DNAT (Docker's -p) is forwarded, not input: dropped too.
    assert "ip saddr 10.213.0.0/16 ct status dnat counter drop" in text
    assert "fd00" not in text


def test_per_tenant_host_ports_only_for_that_subnet() -> None:
    text = render(policy(tenants=(TenantRule("10.213.0.16/28", (9000, 9001)),
                                  TenantRule("10.213.0.32/28", ()))))
    assert "ip saddr 10.213.0.16/28 tcp dport { 9000, 9001 } accept" in text
    # The second tenant has no host ports: its only rule of its own is DNS to its gateway.
    assert [ln.strip() for ln in text.splitlines() if "10.213.0.32/28" in ln] == [
        "ip saddr 10.213.0.32/28 ip daddr 10.213.0.33 meta l4proto { tcp, udp } th dport 53 "
        "accept"]


def test_replacing_the_table_is_one_atomic_script() -> None:
    text = render(policy())
    assert text.startswith("table inet osp_runtime {}\ndelete table inet osp_runtime\n")


@pytest.mark.parametrize("kw", [
    {"tenants": (TenantRule("10.99.0.0/28"),)},
    {"tenants": (TenantRule("10.213.0.0/28", (0,)),)},
    {"internal_api_port": 70000},
    {"table": "bad; flush ruleset"},
    {"blocked": (BlockedDestination("not-an-ip"),)},
])
def test_invalid_policies_are_refused(kw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        policy(**kw)


def test_dns_is_allowed_only_to_each_tenants_own_gateway() -> None:
    text = render(policy(tenants=(TenantRule("10.213.0.0/28"),
                                  TenantRule("10.213.0.16/28", gateway="10.213.0.17"))))
    lines = [ln.strip() for ln in text.splitlines()]
    assert ("ip saddr 10.213.0.0/28 ip daddr 10.213.0.1 meta l4proto { tcp, udp } "
            "th dport 53 accept") in lines
    assert ("ip saddr 10.213.0.16/28 ip daddr 10.213.0.17 meta l4proto { tcp, udp } "
            "th dport 53 accept") in lines
    assert not [ln for ln in lines if "dport 53" in ln and "10.213.0.0/16" in ln]
    with pytest.raises(ValueError, match="outside"):
        policy(tenants=(TenantRule("10.213.0.0/28", gateway="10.213.0.17"),))

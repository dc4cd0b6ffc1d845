"""A host port a tenant may not reach is refused at once, not left to time out."""

from __future__ import annotations

from osp.runtime.firewall import FirewallPolicy, TenantRule, render


def test_disallowed_host_tcp_is_reset_before_the_final_drop() -> None:
    text = render(FirewallPolicy("osp", "10.213.0.0/16", 8401, tenants=(TenantRule(
        "10.213.0.0/24", host_ports=(11434,)),)))
    chain = text.split("chain forward")[0]
    reset = chain.index("ip saddr 10.213.0.0/16 meta l4proto tcp counter reject with tcp reset")
    assert chain.index("tcp dport { 11434 } accept") < reset
    assert reset < chain.index("ip saddr 10.213.0.0/16 counter drop")

"""What the console calls: the same service objects the API routes call, handed over by the
composition root (:mod:`osp.app`). The console builds none of them."""

from __future__ import annotations

from dataclasses import dataclass

from osp.approvals.service import ApprovalService
from osp.gateway.service import GatewayService
from osp.oauth.service import OAuthBroker
from osp.platform import Platform
from osp.runtime.service import RuntimeService


@dataclass(frozen=True)
class ConsoleServices:
    platform: Platform
    gateway: GatewayService
    approvals: ApprovalService
    runtime: RuntimeService | None  # None: no container engine here (agent state unknown)
    broker: OAuthBroker | None

"""JSON over HTTP with a timeout and bounded retries (stdlib only: the agent image stays small).

Retried: connection failures, timeouts, HTTP 408/409/429 and 5xx, at most ``retries`` more
times with exponential backoff (a server's Retry-After is honoured up to the cap). Anything
else fails at once with a one-line :class:`ProviderError` that never includes a credential.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from osp.agent.providers.base import ProviderError
from osp.checks.outbound import TooLarge, Unreachable, fetch

RETRYABLE = {408, 409, 429, 500, 502, 503, 504, 529}
MAX_RESPONSE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0


def _hint(status: int) -> str:
    if status in (401, 403):
        return " (check the tenant secret MODEL_API_KEY)"
    if status == 404:
        return " (check the base URL and model name)"
    if status == 429:
        return " (rate limited)"
    return ""


def _error_detail(body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    msg = err.get("message") if isinstance(err, dict) else err
    return f": {str(msg).splitlines()[0][:160]}" if isinstance(msg, str) and msg else ""


def post_json(url: str, headers: Mapping[str, str], body: Mapping[str, Any],
              policy: RetryPolicy, what: str,
              sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    data = json.dumps(body).encode()
    last, hint = "no attempt made", ""
    for attempt in range(policy.retries + 1):
        if attempt:
            sleep(min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1)))
        # The API key rides in the headers: no redirect is followed, no proxy is used.
        try:
            answer = fetch("POST", url, body=data, timeout=policy.timeout_s,
                           headers={"Content-Type": "application/json", **headers},
                           max_bytes=MAX_RESPONSE_BYTES)
        except TooLarge:
            raise ProviderError(f"{what} sent an oversized answer") from None
        except Unreachable as exc:
            if exc.timed_out:
                last = f"{what} did not answer within {policy.timeout_s:g}s"
            else:
                # Refused or reset: the tenant's firewall resets host ports its plan does
                # not allow, and a server bound to 127.0.0.1 refuses container networks.
                last = f"{what} is unreachable ({exc.reason})"
                hint = ("; is the server running, bound to 0.0.0.0, and its host port "
                        "allowed (`osp tenant limits TENANT --host-port PORT`)?")
            continue
        if answer.status >= 300:
            status = answer.status
            detail = _error_detail(answer.body[:4096])
            last = f"{what} answered HTTP {status}{_hint(status)}{detail}"
            if status not in RETRYABLE:
                raise ProviderError(last) from None
            retry_after = answer.headers.get("Retry-After", "") or ""
            if retry_after.isdigit() and attempt < policy.retries:
                sleep(min(policy.max_backoff_s, float(retry_after)))
            continue
        try:
            parsed = json.loads(answer.body)
        except ValueError:
            raise ProviderError(f"{what} sent an answer that is not JSON") from None
        if not isinstance(parsed, dict):
            raise ProviderError(f"{what} sent an unexpected answer")
        return parsed
    raise ProviderError(f"{last}, after {policy.retries + 1} attempts{hint}")

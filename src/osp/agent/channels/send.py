"""Post a reply to Slack (``chat.postMessage``) or Telegram (``sendMessage``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osp.agent.providers.base import ProviderError
from osp.agent.providers.http import RetryPolicy, post_json

SLACK_TOKEN = "SLACK_BOT_TOKEN"  # noqa: S105 - secret names
TELEGRAM_TOKEN = "TELEGRAM_BOT_TOKEN"  # noqa: S105
SLACK_API = "https://slack.com/api"
TELEGRAM_API = "https://api.telegram.org"
RETRY = RetryPolicy(timeout_s=15.0, retries=2, backoff_s=0.5)


class ChannelError(Exception):
    pass


def deliver(reply_to: Mapping[str, Any], text: str, secrets: Mapping[str, str],
            api_urls: Mapping[str, str]) -> str:
    """Sends ``text`` where ``reply_to`` says; returns the channel's name."""
    try:
        if "slack" in reply_to:
            target = reply_to["slack"]
            token = secrets.get(SLACK_TOKEN)
            if not token:
                raise ChannelError("no SLACK_BOT_TOKEN was injected: set it and restart")
            body: dict[str, Any] = {"channel": str(target["channel"]), "text": text}
            if target.get("thread_ts"):
                body["thread_ts"] = str(target["thread_ts"])
            data = post_json(api_urls.get("slack", SLACK_API).rstrip("/") + "/chat.postMessage",
                             {"Authorization": f"Bearer {token}"}, body, RETRY, "Slack")
            if not data.get("ok"):
                raise ChannelError(f"Slack refused the reply: {str(data.get('error'))[:80]}")
            return "slack"
        if "telegram" in reply_to:
            target = reply_to["telegram"]
            token = secrets.get(TELEGRAM_TOKEN)
            if not token:
                raise ChannelError("no TELEGRAM_BOT_TOKEN was injected: set it and restart")
            base = api_urls.get("telegram", TELEGRAM_API).rstrip("/")
            data = post_json(f"{base}/bot{token}/sendMessage", {},
                             {"chat_id": target["chat_id"], "text": text}, RETRY, "Telegram")
            if not data.get("ok"):
                raise ChannelError("Telegram refused the reply")
            return "telegram"
    except (KeyError, TypeError):
        raise ChannelError("malformed reply target") from None
    except ProviderError as exc:
        # post_json's messages never contain the URL (the Telegram token is part of it).
        raise ChannelError(str(exc)) from None
    raise ChannelError("no known channel in the reply target")

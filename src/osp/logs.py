"""Structured JSON logs with a processor that keeps secret material out of every line."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

from osp.checks.secret_shapes import mask_secrets

REDACTED = "[REDACTED]"

# Keys whose values are never logged, whatever they hold.
_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|private|totp|"
    r"recovery|code_verifier|value|plaintext|dsn)",
    re.IGNORECASE,
)


def scrub_text(text: str) -> str:
    """Masks every credential shape of the shared catalogue (the governance detector's too)."""
    return mask_secrets(text, REDACTED)


def scrub(value: Any, depth: int = 0) -> Any:
    """A value (text, mapping, list) with secrets masked: log fields and audit details."""
    if depth > 6:
        return REDACTED
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEYS.search(k) else scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, depth + 1) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: drop values under secret-looking keys, mask secret-shaped strings."""
    for key in list(event_dict):
        if key != "event" and _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = scrub(event_dict[key])
    return event_dict


class _CurrentStderr:
    """``sys.stderr`` as it is at each write. A logger configured while stderr was redirected
    (a CLI harness, a test runner) must not keep writing to a stream closed since."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", stream: Any = None) -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(
            stream or cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str = "osp") -> Any:
    return structlog.get_logger(name)

"""API keys, tokens, private keys and credentials in URLs.

The shapes live in one catalogue, :mod:`osp.checks.secret_shapes`, shared with the log and
audit scrubber (``osp.logs``), so what the detector masks in a message is also masked in a log
line. This module is the detector's name for it; ``SECRET_SHAPES`` is the catalogue.
"""

from __future__ import annotations

from osp.checks.secret_shapes import SHAPE_KINDS, TOKEN_SHAPES, find_secrets

SECRET_SHAPES = TOKEN_SHAPES

__all__ = ["SECRET_SHAPES", "SHAPE_KINDS", "find_secrets"]

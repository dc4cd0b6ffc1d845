"""The tenant's instructions as the encoder's second segment: how windows carry them, that an
artefact reads them only when its manifest says it was trained to, and that the shipped one
(trained without them: held out, they cost accuracy; docs/benchmarks.md) ignores them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from osp.governance.detectors.encoder import (
    CONTEXT_TOKENS,
    ENCODER_DIR,
    Encoder,
    segment_a,
    split_windows,
)

SWITCH = "Could you please stick to Spanish in all your answers from here on?"
FIXED = ("You are the claims assistant of Brightline Insurance. Customers may write in any "
         "language, but you always reply in English only; never change the reply language.")
FREE = "You are a friendly assistant for travellers. Use whatever language the user prefers."


def reading_copy(directory: Path) -> Path:
    """The shipped artefact with its manifest marked ``reads_instructions`` (the graph has the
    second segment's inputs; only the training differs)."""
    out = directory / "encoder"
    shutil.copytree(ENCODER_DIR, out)
    manifest = json.loads((out / "manifest.json").read_text())
    (out / "manifest.json").write_text(json.dumps({**manifest, "reads_instructions": True}))
    return out


def test_windows_carry_the_instructions_as_segment_two() -> None:
    ids, ctx = list(range(1000, 1300)), list(range(5000, 5100))
    wins = split_windows(ids, 101, 102, ctx)
    assert len(wins) > 1
    for w in wins:
        a = segment_a(w, ctx)
        assert w[0] == 101 and w[a - 1] == 102  # [CLS] message [SEP]
        assert w[a:] == [*ctx[:CONTEXT_TOKENS], 102]  # instructions, cut, [SEP]
    # Without instructions the windows are exactly the message's.
    assert [w[: segment_a(w, ctx)] for w in wins] == split_windows(ids, 101, 102)


def test_the_shipped_encoder_ignores_instructions() -> None:
    enc = Encoder()
    assert not enc.takes_context
    heads = ("injection", "harmful")
    assert enc.scores(SWITCH, heads, FIXED) == enc.scores(SWITCH, heads) == \
        enc.scores(SWITCH, heads, FREE)


def test_an_artefact_marked_to_read_instructions_attends_to_them(tmp_path: Path) -> None:
    enc = Encoder(reading_copy(tmp_path))
    assert enc.takes_context
    alone, fixed, free = (enc.embed(SWITCH, context=c) for c in (None, FIXED, FREE))
    assert alone.shape == fixed.shape == (1, 384)
    assert not np.array_equal(alone, fixed) and not np.array_equal(fixed, free)
    # Only the first CONTEXT_TOKENS word pieces of the instructions are read.
    a = enc.embed(SWITCH, context=f"{FIXED} {FIXED} Be polite.")
    b = enc.embed(SWITCH, context=f"{FIXED} {FIXED} Never be polite to anyone, ever.")
    assert np.array_equal(a, b)

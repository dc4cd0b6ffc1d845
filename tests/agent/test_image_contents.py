"""What the built agent image ships: the governed agent's code, not the control plane's weights."""

from __future__ import annotations

import json
import subprocess

from osp.release.build import VENV, BuiltImage

PROBE = """
import json, pathlib, osp.agent.loop, osp.governance.detectors as d
weights = pathlib.Path(d.__file__).with_name("weights")
print(json.dumps(sorted(str(p.relative_to(weights)) for p in weights.rglob("*"))))
"""


def test_image_has_no_encoder_files(governed_image: BuiltImage) -> None:
    # Inside a container the semantic rails score through the control plane's encoder
    # (osp.agent.scoring): the ONNX model, tokenizer and heads must not ship to every tenant.
    proc = subprocess.run(
        ["podman", "run", "--rm", "--runtime", "runc", "--network", "none",
         "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=256:256",
         "--entrypoint", f"{VENV}/bin/python", governed_image.reference, "-c", PROBE],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    files = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not [f for f in files if f.startswith("encoder")], files
    assert not [f for f in files if f.endswith((".onnx", "tokenizer.json"))], files
    # The cheap detectors the agent still runs keep their weights.
    assert "injection.json" in files

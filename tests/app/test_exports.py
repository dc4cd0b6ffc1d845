"""The `export` lines `osp up` prints for a second terminal: what that terminal must share
with the control plane, and never a password or token."""

from __future__ import annotations

from pathlib import Path

from osp.app.server import exports
from osp.config import Settings


def test_defaults_need_only_the_url_and_the_data_dir(tmp_path: Path) -> None:
    assert exports(Settings(data_dir=tmp_path)) == [
        "export OSP_URL=http://127.0.0.1:8400", f"export OSP_DATA_DIR={tmp_path}"]


def test_settings_off_their_default_are_exported_secrets_only_named(tmp_path: Path) -> None:
    cfg = Settings(data_dir=tmp_path / "a dir", port=18900, runtime_prefix="second",
                   runtime_pool="10.230.0.0/16", model_port=18902,
                   database_url="postgresql://osp_app:hunter2@db/osp", vault_token="s.tok3n")
    lines = exports(cfg)
    assert lines[:2] == ["export OSP_URL=http://127.0.0.1:18900",
                         f"export OSP_DATA_DIR='{tmp_path / 'a dir'}'"]
    assert {"export OSP_MODEL_PORT=18902", "export OSP_RUNTIME_PREFIX=second",
            "export OSP_RUNTIME_POOL=10.230.0.0/16"} <= set(lines)
    assert not any("hunter2" in line or "s.tok3n" in line for line in lines)
    assert any(line.startswith("export OSP_DATABASE_URL=...") for line in lines)
    assert any(line.startswith("export OSP_VAULT_TOKEN=...") for line in lines)

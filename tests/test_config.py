"""docs/configuration.md lists every setting, with its environment name and default."""

from __future__ import annotations

from pathlib import Path

from osp.config import Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_in_the_configuration_table() -> None:
    rows = [line for line in DOC.read_text(encoding="utf-8").splitlines()
            if line.startswith("| `OSP_")]
    documented = {line.split("`")[1] for line in rows}
    assert documented == {f"OSP_{name.upper()}" for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        row = next(r for r in rows if r.startswith(f"| `OSP_{name.upper()}`"))
        if field.default is not None and field.default_factory is None:
            default = str(field.default).lower() if isinstance(field.default, bool) \
                else str(field.default)
            assert f"`{default}`" in row, (name, row)

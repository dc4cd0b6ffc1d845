"""The leak scan inside ``osp image build``: a leak or a denied name in the image tree
refuses the build and no image is produced; the brand overlay is scanned too."""

from __future__ import annotations

from pathlib import Path

import pytest

from osp.release.brand import BrandOverlay
from osp.release.build import BuildContext, BuildRefused, ImageBuilder
from osp.release.gate import ReleaseFiles, ScanGate, scan_image
from osp.release.images import list_images
from osp.release.scan import ReleaseConfig
from tests import fakes
from tests.prereqs import require_root_and
from tests.release.conftest import CACHE_DIR

pytestmark = pytest.mark.podman


def _no_image_from(builder: ImageBuilder) -> bool:
    digest = builder._digest(None)
    return all(i.source != digest for i in list_images())


def test_a_credential_in_the_image_tree_refuses_the_build(tmp_path: Path) -> None:
    require_root_and("podman", "debootstrap")
    token = fakes.slack_bot_token()

    def plant(ctx: BuildContext) -> None:
        (ctx.rootfs / "opt/osp/notify.py").write_text(f'SLACK = "{token}"\n')

    plant.__name__ = "plant_credential"
    gate = ScanGate()
    builder = ImageBuilder(cache_dir=CACHE_DIR, hooks=[plant, gate])
    with pytest.raises(BuildRefused, match=r"1 finding\(s\) in the image, first "
                                           r"opt/osp/notify.py:1"):
        builder.build()
    assert _no_image_from(builder)
    assert gate.last is not None and gate.last.verified > 1000  # Debian's files: dpkg-verified
    assert token not in str(gate.last.as_dict())


def test_a_denied_name_in_the_brand_overlay_refuses_the_build(tmp_path: Path) -> None:
    require_root_and("podman", "debootstrap")
    brand = tmp_path / "brand"
    brand.mkdir()
    (brand / "release.toml").write_text(
        '[brand]\nproduct_name = "Helpdesk Pro"\nagent_name = "Ava"\n'
        'preamble = "You are Ava, the assistant of Initech."\nprimary_color = "#1f6feb"\n')
    operator = tmp_path / "operator"
    operator.mkdir()
    (operator / "release.toml").write_text('[branding]\nwords = ["Initech"]\n')
    gate = ScanGate(ReleaseFiles.in_dir(operator))
    builder = ImageBuilder(cache_dir=CACHE_DIR, hooks=[BrandOverlay.load(brand), gate])
    with pytest.raises(BuildRefused, match=r"opt/osp/brand/brand\.json"):
        builder.build()
    assert _no_image_from(builder)
    assert gate.last is not None
    assert [f.rule for f in gate.last.findings] == ["brand:word"]


def test_scan_of_an_existing_image(built_image_id: str) -> None:
    report = scan_image(built_image_id, ReleaseConfig(), [])
    assert report.exit_code == 0, report.as_dict()
    assert report.files > 100 and report.verified > 1000

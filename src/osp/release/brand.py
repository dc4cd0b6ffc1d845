"""Brand overlay: a white-label build's names, preamble, colours and logo, baked into the image.

``osp image build --brand DIR`` reads ``DIR/release.toml`` (``[brand]``) and writes the
fields to ``/opt/osp/brand/brand.json`` (plus the logo) in the image and the product name as
the label ``osp.brand.product``. It is a release hook that runs *before* the leak scan, so
the overlay itself is scanned (a denied name or a key pasted into the preamble refuses the
build).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from osp.release.build import BuildContext
from osp.release.scan import Brand, ScanConfigError, load_config

BRAND_DIR = "opt/osp/brand"
MAX_LOGO_BYTES = 512 * 1024
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
_LOGO_SUFFIXES = (".svg", ".png")


class BrandError(ValueError):
    """The brand directory is unusable (one line)."""


@dataclass
class BrandOverlay:
    source: Path
    brand: Brand
    __name__ = "brand_overlay"

    @classmethod
    def load(cls, directory: Path) -> BrandOverlay:
        toml = directory / "release.toml"
        if not toml.is_file():
            raise BrandError(f"no release.toml in {directory}")
        try:
            brand = load_config(toml).brand
        except ScanConfigError as exc:
            raise BrandError(str(exc)) from None
        if not brand.product_name.strip():
            raise BrandError(f"{toml}: [brand] product_name is required")
        for name, value in asdict(brand).items():
            if len(value) > 4000 or any(ord(c) < 32 and c not in "\n\t" for c in value):
                raise BrandError(f"{toml}: [brand] {name} is too long or has control chars")
        if brand.primary_color and not _COLOUR.fullmatch(brand.primary_color):
            raise BrandError(f"{toml}: primary_color must look like #1f6feb")
        if brand.logo:
            logo = (directory / brand.logo).resolve()
            if directory.resolve() not in logo.parents or not logo.is_file():
                raise BrandError(f"{toml}: logo must be a file inside {directory}")
            if logo.suffix.lower() not in _LOGO_SUFFIXES or logo.stat().st_size > MAX_LOGO_BYTES:
                raise BrandError(f"{toml}: logo must be .svg or .png, at most 512 KB")
        return cls(directory, brand)

    def fingerprint(self) -> str:
        h = hashlib.sha256(json.dumps(asdict(self.brand), sort_keys=True).encode())
        if self.brand.logo:
            h.update((self.source / self.brand.logo).read_bytes())
        return h.hexdigest()[:16]

    def __call__(self, ctx: BuildContext) -> None:
        target = ctx.rootfs / BRAND_DIR
        target.mkdir(parents=True, exist_ok=True)
        fields = asdict(self.brand)
        if self.brand.logo:
            name = "logo" + Path(self.brand.logo).suffix.lower()
            shutil.copyfile(self.source / self.brand.logo, target / name)
            fields["logo"] = f"/{BRAND_DIR}/{name}"
        (target / "brand.json").write_text(json.dumps(fields, indent=1, sort_keys=True))


def brand_label(rootfs: Path) -> str | None:
    """The product name an overlay wrote into this tree, for the image label."""
    path = rootfs / BRAND_DIR / "brand.json"
    if not path.is_file():
        return None
    name = str(json.loads(path.read_text()).get("product_name", ""))
    return re.sub(r"[^A-Za-z0-9 ._-]", "", name)[:80] or None

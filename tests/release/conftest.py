from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from osp.release.build import BuiltImage
from osp.runtime.wiring import agent_image_builder

CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    if os.geteuid() != 0 or not all(shutil.which(b) for b in ("podman", "debootstrap")):
        if os.environ.get("CI"):
            pytest.fail("image build tests need root, podman and debootstrap")
        pytest.skip("needs root, podman and debootstrap")
    return agent_image_builder(CACHE_DIR).build(reuse=True)

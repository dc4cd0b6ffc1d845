from __future__ import annotations

import os
from pathlib import Path

import pytest

from osp.release.build import BuiltImage
from osp.runtime.wiring import agent_image_builder
from tests.prereqs import require_root_and

CACHE_DIR = Path(os.environ.get("OSP_TEST_CACHE", "/var/tmp/osp-test-cache"))


@pytest.fixture(scope="session")
def built_image() -> BuiltImage:
    require_root_and("podman", "debootstrap")
    return agent_image_builder(CACHE_DIR).build(reuse=True)

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


@pytest.fixture(scope="session")
def built_image_id(built_image: BuiltImage) -> str:
    return built_image.image_id


# The real runtime fixtures (slot-isolated podman backend, internal API, Postgres-backed
# runtime parts) are shared with tests/runtime.
from tests.runtime.conftest import (  # noqa: E402
    agent_image,
    backend,
    internal_api,
    model_port,
    podman_parts,
)

__all__ = ["agent_image", "backend", "built_image", "built_image_id", "internal_api",
           "model_port", "podman_parts"]

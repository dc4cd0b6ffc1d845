"""The golden agent image: what is in it, how it is tagged, and the release-gate hook."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import osp
from osp.release.build import BuildContext, BuildRefused, BuiltImage, ImageBuilder
from osp.release.images import latest_image, list_images
from tests.release.conftest import CACHE_DIR

pytestmark = pytest.mark.podman


def podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def run_in_image(image: BuiltImage, *cmd: str) -> str:
    return podman("run", "--rm", "--runtime", "runc", "--network", "none",
                  "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=64:64",
                  "--entrypoint", cmd[0], image.image_id, *cmd[1:])


def test_tag_embeds_version_and_digest(built_image: BuiltImage) -> None:
    digest12 = built_image.image_id.removeprefix("sha256:")[:12]
    assert built_image.tag == f"osp-agent:{osp.__version__}-{digest12}"
    info = json.loads(podman("image", "inspect", built_image.image_id))[0]
    assert f"localhost/{built_image.tag}" in info["RepoTags"]
    config = info["Config"]
    assert config["Entrypoint"] == ["/opt/osp/venv/bin/osp-agent"]
    assert config["User"] == "10001:10001"
    assert config["Labels"]["osp.governance.version"] == built_image.governance_version
    assert config["Labels"]["osp.version"] == osp.__version__


def test_listing_finds_it(built_image: BuiltImage) -> None:
    assert built_image.image_id in [i.image_id for i in list_images()]
    newest = latest_image(osp.__version__)
    assert newest is not None and newest.tags


def test_image_holds_the_agent_and_nothing_of_the_control_plane(built_image: BuiltImage) -> None:
    out = run_in_image(built_image, "/opt/osp/venv/bin/python", "-c",
                       "import importlib.util as u, json, osp.agent.main;"
                       "print(json.dumps([bool(u.find_spec(m)) for m in "
                       "('fastapi', 'sqlalchemy', 'pgserver', 'argon2', 'alembic')]))")
    assert json.loads(out) == [False, False, False, False, False]
    release = json.loads(run_in_image(built_image, "cat", "/opt/osp/release.json"))
    assert release["osp_version"] == osp.__version__
    setuid = run_in_image(built_image, "sh", "-c",
                          "find / -xdev -perm /6000 -type f 2>/dev/null; true")
    assert setuid.strip() == ""
    owner = run_in_image(built_image, "stat", "-c", "%u:%a", "/data")
    assert owner.strip() == "10001:700"


def test_a_refusing_release_gate_stops_the_build(tmp_path: Path) -> None:
    seen: list[BuildContext] = []

    def leak_scan(ctx: BuildContext) -> None:
        seen.append(ctx)
        assert (ctx.rootfs / "opt/osp/venv/bin/osp-agent").exists()
        raise BuildRefused("leak scan: credential found in /opt/osp/leak.txt")

    builder = ImageBuilder(cache_dir=CACHE_DIR, hooks=[leak_scan])
    with pytest.raises(BuildRefused, match="credential found"):
        builder.build()
    assert seen
    # Nothing was imported: no image carries this build's input digest.
    digest = builder._digest(None)
    assert all(i.source != digest for i in list_images())


def test_prune_keeps_the_newest_and_images_in_use(built_image: BuiltImage) -> None:
    from osp.release.build import BuildError
    from osp.release.images import prune_images

    with pytest.raises(BuildError, match="keep at least one"):
        prune_images(keep=0)
    assert prune_images(keep=len(list_images()) + 1) == []
    assert built_image.image_id in [i.image_id for i in list_images()]


def test_the_schema_label_is_the_image_trees_own(tmp_path: Path,
                                                 built_image: BuiltImage) -> None:
    """The label (and so the signed manifest) names the schema the image's governance
    carries, read from the image's tree, not the builder's copy: a source tree changed
    mid-build cannot produce an image that claims the new schema with the old governance."""
    from osp.governance.schema import SCHEMA_FILE, schema_hash
    from osp.release.build import BuildError, tree_schema_hash

    site = tmp_path / "opt/osp/venv/lib/python3.11/site-packages/osp/governance"
    with pytest.raises(BuildError, match=r"no .* governance policy schema"):
        tree_schema_hash(tmp_path)
    site.mkdir(parents=True)
    (site / "policy.schema.json").write_bytes(SCHEMA_FILE.read_bytes())
    assert tree_schema_hash(tmp_path) == schema_hash()
    (site / "policy.schema.json").write_bytes(SCHEMA_FILE.read_bytes() + b"\n")
    assert tree_schema_hash(tmp_path) != schema_hash()
    labels = json.loads(podman("image", "inspect", built_image.image_id))[0]["Config"]["Labels"]
    assert labels["osp.policy.schema"] == schema_hash()  # built from this very tree

import pytest

@pytest.mark.podman
def test_smoke(tenants):
    rt = tenants.start("alpha", {"MODEL_KEY": "canary-123"})
    print(rt)
    print(tenants.agent_status("alpha"))
    print(tenants.backend.logs("alpha"))

"""The composition root serves the console: ``osp up``'s admin app has it at /console."""

from __future__ import annotations

from fastapi.testclient import TestClient

from osp.app import App
from osp.console.render import CSP
from osp.platform import Platform


def test_the_admin_app_of_osp_up_serves_the_console(platform: Platform) -> None:
    app = App(platform)
    try:
        with TestClient(app.admin_app(with_jobs=False), base_url="https://localhost") as client:
            page = client.get("/console/login")
            assert page.status_code == 200 and "Sign in" in page.text
            assert page.headers["content-security-policy"] == CSP
            assert client.get("/console/static/htmx.min.js").status_code == 200
            assert client.get("/console/", follow_redirects=False).headers["location"] == \
                "/console/login"
    finally:
        app.close()

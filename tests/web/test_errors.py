"""Each kind of domain error has one HTTP status, decided at the edge (osp.web.app)."""

from __future__ import annotations

import pytest

from osp import errors
from osp.gateway.service import DeliveryFailed, ModelFailed
from osp.oauth.client import ProviderError, ProviderUnavailable
from osp.runtime.service import EngineError
from osp.web.app import http_status


@pytest.mark.parametrize(("error", "status"), [
    (errors.OspError, 400),
    (errors.InvalidInput, 422),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.Unauthorized, 401),
    (errors.Forbidden, 403),
    (errors.Throttled, 429),
    (errors.Unavailable, 503),
    (errors.UpstreamFailed, 502),
    (errors.Misconfigured, 500),
    (errors.IntegrityFailure, 500),
    # Feature errors are kinds of these, so their status follows.
    (EngineError, 503),
    (DeliveryFailed, 503),
    (ProviderUnavailable, 503),
    (ModelFailed, 502),
    (ProviderError, 502),
])
def test_each_kind_maps_to_one_status(error: type[errors.OspError], status: int) -> None:
    assert http_status(error("x")) == status


def test_domain_errors_carry_no_http_detail() -> None:
    kinds = [v for v in vars(errors).values()
             if isinstance(v, type) and issubclass(v, errors.OspError)]
    assert kinds and not any("status_code" in vars(k) for k in kinds)

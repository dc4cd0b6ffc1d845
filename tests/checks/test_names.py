"""One tenant-name rule: the registry, the container runtime, the API bodies and the database
constraint accept exactly the same names."""

from __future__ import annotations

import uuid

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DataError, IntegrityError

from osp.checks.names import TENANT_NAME_MAX, is_tenant_name, tenant_name_problem
from osp.db.session import to_sqlalchemy_url
from osp.errors import InvalidInput
from osp.identity.schemas import LoginIn
from osp.platform import Platform
from osp.runtime.api import ExchangeRequest
from osp.runtime.interfaces import InvalidTenantName
from osp.runtime.interfaces import validate_tenant_name as runtime_validate
from osp.tenancy.service import validate_tenant_name as registry_validate

NAMES = {
    "ab": True, "acme": True, "acme-2": True, "a" * TENANT_NAME_MAX: True,
    "a" * (TENANT_NAME_MAX + 1): False, "a": False, "": False, "2acme": False,
    "acme-": False, "Acme": False, "ac_me": False, "ac.me": False, "acme\n": False,
    "ac me": False, "a" * 50 + "-" + "b" * 10: False,
}


@pytest.mark.parametrize(("name", "valid"), NAMES.items())
def test_every_code_path_applies_the_same_rule(name: str, valid: bool) -> None:
    assert is_tenant_name(name) is valid
    assert (tenant_name_problem(name) is None) is valid
    try:
        registry_validate(name)
        registry_ok = True
    except InvalidInput:
        registry_ok = False
    try:
        runtime_validate(name)
        runtime_ok = True
    except InvalidTenantName:
        runtime_ok = False
    assert (registry_ok, runtime_ok) == (valid, valid)


@pytest.mark.parametrize("model", [LoginIn, ExchangeRequest])
def test_api_bodies_bound_the_name_by_the_same_length(model: type) -> None:
    fields = {"tenant": "a" * (TENANT_NAME_MAX + 1), "email": "x@y.z", "password": "p",
              "instance_id": "i"}
    with pytest.raises(ValidationError):
        model(**{k: v for k, v in fields.items() if k in model.model_fields})


def test_the_database_constraint_is_the_same_rule(platform: Platform) -> None:
    engine = create_engine(to_sqlalchemy_url(platform.admin_url))
    try:
        for name, valid in NAMES.items():
            with engine.connect() as conn:
                tx = conn.begin()
                try:
                    conn.execute(text("INSERT INTO tenants (id, name, state, require_2fa, "
                                      "created_at) VALUES (:id, :n, 'active', false, now())"),
                                 {"id": uuid.uuid4(), "n": name})
                    accepted = True
                except (DataError, IntegrityError):
                    accepted = False
                finally:
                    tx.rollback()
            assert accepted is valid, name
    finally:
        engine.dispose()

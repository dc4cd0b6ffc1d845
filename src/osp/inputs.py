"""Text every input model refuses: NUL characters and unpaired UTF-16 surrogates.

Neither can be stored (Postgres text refuses NUL; a lone surrogate cannot be encoded as
UTF-8), hashed or sent on, so they are refused where the request is parsed, with a 422 that
names the field, instead of surfacing later as a database or encoding error (a 500).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, BeforeValidator, model_validator

_BAD = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH = 64  # a JSON document nested deeper than this is refused, not walked


def bad_text(value: str) -> str | None:
    """Why ``value`` cannot be accepted, or None when it is fine."""
    match = _BAD.search(value)
    if match is None:
        return None
    return "contains a NUL character" if match.group() == "\x00" \
        else "contains an unpaired surrogate (not valid Unicode)"


def check_tree(value: Any, where: str = "", depth: int = 0) -> None:
    """Raises ValueError naming the first string (key or value) in ``value`` that is refused."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{where or 'body'}: nested too deeply")
    if isinstance(value, str):
        if (why := bad_text(value)) is not None:
            raise ValueError(f"{where or 'text'} {why}")
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if isinstance(key, str) and (why := bad_text(key)) is not None:
                raise ValueError(f"a key in {where or 'body'} {why}")
            check_tree(item, name, depth + 1)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            check_tree(item, f"{where}[{i}]", depth + 1)


def _clean(value: Any) -> Any:
    check_tree(value)
    return value


# For a body that is a free-form JSON document rather than a model (an agent config).
CleanJson = BeforeValidator(_clean)


class InputModel(BaseModel):
    """Base of every request body model: refuses NUL and lone surrogates in any field."""

    @model_validator(mode="before")
    @classmethod
    def _no_unstorable_text(cls, data: Any) -> Any:
        # The raw input, before field types apply: SecretStr values are checked too, and
        # only the field's name ends up in the error, never its value.
        check_tree(data)
        return data

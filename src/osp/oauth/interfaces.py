from __future__ import annotations

import uuid
from typing import Protocol


class TokenSource(Protocol):
    """Gives the agent a current access token for one connection and one granted scope.

    In the agent it calls the control plane's internal API; in the control plane it calls
    osp.oauth.refresh.access_token. Either way no refresh token is ever returned.
    """

    def token(self, connection_id: uuid.UUID, scope: str, *,
              force_refresh: bool = False) -> str: ...

"""The web console at ``/console``: server-rendered pages (Jinja2 + vendored htmx) over the
same services and authorisation as the API. Mounted by the composition root (:mod:`osp.app`).
"""

from osp.console.app import build_console
from osp.console.services import ConsoleServices

__all__ = ["ConsoleServices", "build_console"]

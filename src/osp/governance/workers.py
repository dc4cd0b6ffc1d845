"""A tiny pool of daemon threads for running rails under a deadline.

concurrent.futures.ThreadPoolExecutor joins its threads at interpreter exit, so one rail that
never returns would keep the agent (or `osp guard`) from ever exiting. Daemon threads do not.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_STOP = object()


class DaemonPool:
    def __init__(self, workers: int, name: str = "osp-rail") -> None:
        self._tasks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self._threads:
            t.start()

    def submit(self, fn: Callable[..., None], *args: Any) -> Future[None]:
        future: Future[None] = Future()
        self._tasks.put((future, fn, args))
        return future

    def shutdown(self) -> None:
        for _ in self._threads:
            self._tasks.put(_STOP)

    def _loop(self) -> None:
        while True:
            task = self._tasks.get()
            if task is _STOP:
                return
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                fn(*args)
            except BaseException as exc:  # reported to the waiting caller, which fails closed
                future.set_exception(exc)
            else:
                future.set_result(None)

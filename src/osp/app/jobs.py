"""Background jobs of ``osp up``: declared by the composition root, started and stopped by
the admin app's lifespan, so there is one place where they begin and one where they end."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from osp.logs import get_logger

log = get_logger("osp.jobs")


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    run: Callable[[], object]
    # Run once more at shutdown (e.g. anchoring what happened since the last round).
    at_stop: bool = False


class JobRunner:
    """One daemon thread per job; a failing round is logged and the next one retries."""

    def __init__(self, jobs: Sequence[Job]) -> None:
        self.jobs = tuple(jobs)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _loop(self, job: Job) -> None:
        while not self._stop.wait(job.every_s):
            self._round(job)

    @staticmethod
    def _round(job: Job) -> None:
        try:
            job.run()
        except Exception as exc:  # the process keeps serving; the next round retries
            log.error(f"{job.name}_failed", error=type(exc).__name__)

    def start(self) -> None:
        if self._threads:
            return
        self._threads = [threading.Thread(target=self._loop, args=(job,), name=job.name,
                                          daemon=True) for job in self.jobs]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
        for job in self.jobs:
            if job.at_stop:
                self._round(job)


def lifespan(runner: JobRunner) -> Callable[[Any], Any]:
    """A FastAPI lifespan that runs ``runner``'s jobs while the app serves."""
    @asynccontextmanager
    async def run(_app: Any) -> AsyncIterator[None]:
        runner.start()
        try:
            yield
        finally:
            runner.stop()

    return run

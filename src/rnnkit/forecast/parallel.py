"""Independent tasks run in order here or on a Dask cluster, with the same results.

Every task is a module-level function and its arguments, and seeds its own random generators,
so where it runs does not change what it returns. ``Tasks(scheduler=None, jobs=1)`` runs them
one after the other in this process; ``jobs > 1`` starts a local Dask cluster
(``dask.distributed.LocalCluster``, one single-threaded worker process per job);
``scheduler="tcp://host:port"`` uses the running Dask scheduler at that address.

Example:
    >>> with Tasks() as tasks:
    ...     tasks.map([(pow, (2, 3)), (pow, (3, 2))])
    [8, 9]
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from rnnkit.forecast.data import ForecastInputError

__all__ = ["Tasks", "connect"]


def connect(address: str):
    """A ``dask.distributed.Client`` of the scheduler at ``address``; ForecastInputError when unreachable."""
    from dask.distributed import Client

    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError, ValueError) as error:
        raise ForecastInputError(f"--dask {address}: cannot connect to a Dask scheduler there ({error})") from None


class Tasks:
    """Runs lists of ``(function, args)`` serially or on Dask.

    Args:
        scheduler: a Dask scheduler address, ``"local"`` (a local cluster of ``jobs`` workers), or None
            (a local cluster when ``jobs`` > 1, else serial).
        jobs: worker processes of the local cluster.
        progress: called with (done, total) after each task finishes.
    """

    def __init__(self, scheduler: str | None = None, jobs: int = 1, progress: Callable[[int, int], None] | None = None):
        if not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs: expected an int >= 1, got {jobs!r}")
        self.scheduler, self.jobs, self.progress = scheduler, jobs, progress
        self.client = self.cluster = None
        self.done = self.total = 0

    @property
    def distributed(self) -> bool:
        return self.scheduler is not None or self.jobs > 1

    def __enter__(self) -> "Tasks":
        if self.distributed:
            try:
                from dask.distributed import Client, LocalCluster
            except ImportError:
                raise ImportError("--dask/--jobs need dask.distributed: pip install 'rnnkit[scale]'") from None
            if self.scheduler in (None, "local"):
                self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
                self.client = Client(self.cluster)
            else:
                self.client = connect(self.scheduler)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def expect(self, total: int) -> None:
        """Announce ``total`` more tasks (for the progress callback's total)."""
        self.total += total

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))

    def map(self, tasks: list[tuple[Callable, tuple]]) -> list[Any]:
        """The results of ``tasks``, in order."""
        if self.client is None:
            results = []
            for function, args in tasks:
                results.append(function(*args))
                self._tick()
            return results
        from dask.distributed import as_completed

        futures = [self.client.submit(function, *args, pure=False) for function, args in tasks]
        for _ in as_completed(futures):
            self._tick()
        return self.client.gather(futures)

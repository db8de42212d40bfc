"""The server's storage guardrail: measure the store in the background, check on ingest.

With ``--capacity`` (``ServerConfig.capacity_bytes``) the lifespan starts a
``CapacityWatch``: one measurement before the first request, then one every
``capacity_refresh_s`` seconds in a thread, so ``IngestQueue.write`` checks a cached
number (``spanscope.lifecycle.capacity.CapacityGuard``) and never stats or queries.
``/metrics`` and ``GET /api/storage`` read the same guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from spanscope.lifecycle.capacity import CapacityGuard

if TYPE_CHECKING:
    from spanscope.server.config import ServerConfig
    from spanscope.store.base import TraceStore
    from spanscope.store.retention import RetentionStore

__all__ = ["CapacityWatch", "start_capacity"]

logger = logging.getLogger(__name__)


class CapacityWatch:
    """A guard and the task that keeps its measurement fresh."""

    def __init__(self, guard: CapacityGuard, side: RetentionStore, interval_s: float) -> None:
        self.guard = guard
        self._side = side
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self.guard.refresh)
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="spanscope-capacity")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await asyncio.to_thread(self.guard.refresh)
            except Exception:  # the task boundary: keep the last measurement, say why
                logger.exception("measuring the store's size failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.to_thread(self._side.close)


async def start_capacity(config: ServerConfig, store: TraceStore) -> CapacityWatch | None:
    """The running watch for ``config.capacity_bytes``, or None when no capacity is set."""
    if config.capacity_bytes is None:
        return None
    from spanscope.store.retention import open_retention_store

    side = await asyncio.to_thread(open_retention_store, store)
    watch = CapacityWatch(CapacityGuard(side.storage_size, config.capacity_bytes,
                                        max_age_s=config.capacity_refresh_s),
                          side, config.capacity_refresh_s)
    try:
        await watch.start()
    except BaseException:
        await asyncio.to_thread(side.close)
        raise
    return watch

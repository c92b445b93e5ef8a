"""Plumbing shared by the streamed responses (log download, SSE): stop work when the client leaves.

uvicorn does not fail a `send` once the client is gone, it drops it silently; so a streaming
response must watch `receive()` for `http.disconnect` itself, or it would go on reading the store
for nobody. `run_until_disconnect` runs the producing coroutine next to that watch and cancels
it (and waits for its clean-up: bus subscriptions, reads in flight) the moment the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from starlette.types import Receive


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def run_until_disconnect(receive: Receive, work: Coroutine[Any, Any, None]) -> bool:
    """Run `work` until it ends (True) or the client disconnects (False, `work` cancelled).

    An exception from `work` is raised here once everything is cleaned up.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (watcher, task):
            if not t.done():
                t.cancel()
        for t in (watcher, task):
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({t})
    if task.cancelled():
        return False
    exc = task.exception()
    if exc is not None:
        raise exc
    return True

"""Idle worker slots take turns on a wake-up (runtime/worker.py `Turns`)."""

from __future__ import annotations

import asyncio

from hourglass.runtime.worker import Turns


async def test_a_nudge_wakes_exactly_one_waiting_slot() -> None:
    """Three idle slots wait; one nudge lets one of them look, the others keep waiting."""
    turns = Turns(3)
    waiters = [asyncio.create_task(turns.wait(30)) for _ in range(3)]
    await asyncio.sleep(0)
    turns.nudge()
    done, pending = await asyncio.wait(waiters, timeout=0.2)
    assert (len(done), len(pending)) == (1, 2)
    for task in pending:
        task.cancel()


async def test_a_nudge_nobody_waited_for_is_kept_for_the_next_wait() -> None:
    """A nudge while every slot is busy is not lost: the next slot to wait looks at once."""
    turns = Turns(2)
    turns.nudge()
    await asyncio.wait_for(turns.wait(30), timeout=1)


async def test_a_wait_ends_at_its_timeout_without_a_nudge() -> None:
    """Without a nudge a slot still looks once per poll interval."""
    turns = Turns(1)
    await asyncio.wait_for(turns.wait(0.01), timeout=1)

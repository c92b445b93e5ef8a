"""The per-process auth cache (services/auth_cache.py): what it serves, when it must not, and
the bookkeeping it keeps doing; on SQLite and PostgreSQL, with the in-process bus and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from hourglass.domain.common import FrozenClock, new_id
from hourglass.errors import Unauthorized
from hourglass.live import LiveBus, MemoryBus, RedisBus
from hourglass.services.accounts import AccountService
from hourglass.services.auth_cache import AuthCache
from hourglass.settings import Settings
from hourglass.store import users as user_store
from hourglass.store.db import Database
from tests.conftest import TEST_PASSWORD_HASHER
from tests.support import redis_url, require


def accounts_on(
    db: Database, settings: Settings, bus: LiveBus, clock: FrozenClock
) -> AccountService:
    return AccountService(
        db,
        settings,
        clock,
        new_id,
        password_hasher=TEST_PASSWORD_HASHER,
        cache=AuthCache(bus, settings.auth_cache_seconds),
    )


@asynccontextmanager
async def listening(accounts: AccountService) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(accounts.cache.listen(stop))
    try:
        for _ in range(500):  # until subscribed (Redis confirms)
            if accounts.cache.active:
                break
            await asyncio.sleep(0.01)
        assert accounts.cache.active
        yield
    finally:
        stop.set()
        await task


async def end_behind_its_back(db: Database, user_id: str) -> None:
    """Delete the user's sessions in the store without telling any cache (as a process the
    bus does not reach would)."""
    async with db.write() as tx:
        await user_store.delete_user_sessions(tx, user_id)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def test_a_cached_session_is_served_until_the_bus_says_it_ended(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Once read, a session is answered from the cache (the store is not asked again) until
    an announcement on the bus drops it."""
    accounts = accounts_on(db, settings, MemoryBus(), clock)
    async with listening(accounts):
        new = await accounts.register("cache@example.com", "correct horse battery")
        await accounts.authenticate_session(new.token)
        await end_behind_its_back(db, new.user.id)
        assert (await accounts.authenticate_session(new.token)).user_id == new.user.id
        await accounts.cache.ended(new.user.id)
        with pytest.raises(Unauthorized):
            await accounts.authenticate_session(new.token)


async def test_without_a_listener_every_request_reads_the_store(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Where the bus does not reach every process (no `listen`), nothing is cached."""
    accounts = accounts_on(db, settings, MemoryBus(), clock)
    new = await accounts.register("nocache@example.com", "correct horse battery")
    await accounts.authenticate_session(new.token)
    await end_behind_its_back(db, new.user.id)
    with pytest.raises(Unauthorized):
        await accounts.authenticate_session(new.token)


async def test_a_cached_entry_lives_at_most_auth_cache_seconds(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Past `HOURGLASS_AUTH_CACHE_SECONDS` the store is asked again, whatever the bus said."""
    accounts = accounts_on(db, settings, MemoryBus(), clock)
    async with listening(accounts):
        new = await accounts.register("ttl@example.com", "correct horse battery")
        await accounts.authenticate_session(new.token)
        await end_behind_its_back(db, new.user.id)
        clock.advance(settings.auth_cache_seconds)
        with pytest.raises(Unauthorized):
            await accounts.authenticate_session(new.token)


async def test_a_cached_session_still_stamps_its_last_use(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """Served from the cache, a session's `last_seen_at` is still written as often as before
    (idle expiry keeps working), and a session ended meanwhile is refused by that write."""
    settings = dataclasses.replace(settings, auth_cache_seconds=300)  # outlives the minute
    accounts = accounts_on(db, settings, MemoryBus(), clock)
    async with listening(accounts):
        new = await accounts.register("touch@example.com", "correct horse battery")
        token_hash = (await accounts.authenticate_session(new.token)).session_hash
        assert token_hash is not None
        clock.advance(5)
        await accounts.authenticate_session(new.token)  # a cache hit, nothing to write
        clock.advance(55)  # a minute after the last stamp: this use writes one
        await accounts.authenticate_session(new.token)
        async with db.read() as tx:
            stored = await user_store.get_session(tx, token_hash)
        assert stored is not None
        assert stored.last_seen_at == clock.now()
        await end_behind_its_back(db, new.user.id)
        clock.advance(60)
        with pytest.raises(Unauthorized):
            await accounts.authenticate_session(new.token)


async def test_a_lost_redis_connection_empties_the_cache(
    db: Database, settings: Settings, clock: FrozenClock
) -> None:
    """When the bus's Redis connection drops, announcements may have been lost: the cache
    forgets everything it held, and the store is asked again."""
    url = redis_url()
    require("Redis", url is not None, "HOURGLASS_TEST_REDIS_URL not set")
    assert url is not None
    name = f"hg-auth-cache-{uuid.uuid4().hex[:8]}"
    bus = RedisBus(f"{url}{'&' if '?' in url else '?'}client_name={name}")
    admin = aioredis.Redis.from_url(url)
    try:
        accounts = accounts_on(db, settings, bus, clock)
        async with listening(accounts):
            new = await accounts.register("redis@example.com", "correct horse battery")
            await accounts.authenticate_session(new.token)
            await end_behind_its_back(db, new.user.id)
            assert (await accounts.authenticate_session(new.token)).user_id == new.user.id
            epoch = bus.epoch()
            await kill_client(admin, lambda c: c.get("name") == name)
            for _ in range(500):  # until the bus noticed (and, maybe, already reconnected)
                if bus.epoch() != epoch:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(Unauthorized):
                await accounts.authenticate_session(new.token)
    finally:
        await bus.close()
        await admin.aclose()


async def kill_client(admin: aioredis.Redis, which: Callable[[dict[str, str]], bool]) -> None:
    clients = await admin.client_list()
    ids = [c["id"] for c in clients if which(c)]
    assert ids, "the bus's connection was not found"
    for client_id in ids:
        await admin.client_kill_filter(_id=client_id)

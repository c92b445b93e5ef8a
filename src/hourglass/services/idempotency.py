"""Idempotency keys for the routes that require them (`POST /workflows`, `PUT /workflows/{id}`,
`POST /workflows/{id}/jobs/schedule`), reusable by any use case.

A use case hands `IdempotencyService.run` its effect as a function of the transaction. The key is
reserved, the effect applied and its response recorded in that ONE transaction, so a key has at
most one effect even when requests carrying it race (see `store/idempotency.py` for how each
engine serialises them). Then:

- same key, same request (method, path and canonical body): the original status and body again;
- same key, another path or method or body: 409;
- a key older than `settings.idempotency_ttl_seconds` is forgotten, and may be used afresh.

Keys are per user. Only successes are recorded: a request that fails (400, 404, 412…) rolls back
with its reservation, so it can be corrected and retried under the same key.

`run` is the one place an idempotent request is checked, in this order: the key (`check_key`),
then the use case's `check` hook (its body, the row it changes), then the key's replay or 409.
The web layer checks the key once more, earlier (`web.deps.IdempotencyKey`), only so that its
400 comes before the body's type errors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from hourglass.domain.common import Clock
from hourglass.errors import Conflict, HourglassError, ValidationError
from hourglass.settings import Settings
from hourglass.store import idempotency as store
from hourglass.store.db import Database, Tx

log = logging.getLogger("hourglass.idempotency")

HEADER: Final = "Idempotency-Key"
MAX_KEY_LENGTH: Final = 255


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP-shaped result of a use case: status and JSON body (None: no body)."""

    status: int
    body: Any = None
    replayed: bool = False  # True when this is the recorded reply of an earlier request


Effect = Callable[[Tx], Awaitable[Reply]]
Check = Callable[[Tx], Awaitable[None]]


def fingerprint(method: str, path: str, body: Any) -> str:
    """The hash a key is bound to: method, path and the body in one canonical JSON spelling."""
    canonical = json.dumps(
        [method.upper(), path, body],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str | None) -> str:
    """The key as sent: 1 to 255 printable ASCII characters; 400 naming the header otherwise."""
    if key is None or not key.strip():
        raise ValidationError.field(HEADER, "this request requires an Idempotency-Key header")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationError.field(HEADER, f"must be at most {MAX_KEY_LENGTH} characters")
    if not (key.isascii() and key.isprintable()):
        raise ValidationError.field(HEADER, "must be printable ASCII")
    return key


class IdempotencyService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        prune_every: timedelta = timedelta(minutes=10),
    ) -> None:
        self.db = db
        self.clock = clock
        self.ttl = timedelta(seconds=settings.idempotency_ttl_seconds)
        self.prune_every = prune_every
        self._last_prune: datetime | None = None

    async def run(
        self,
        *,
        user_id: str,
        key: str | None,
        method: str,
        path: str,
        body: Any,
        effect: Effect,
        check: Check | None = None,
    ) -> Reply:
        """Apply `effect` once per key: the first time in the key's transaction, then replay.

        `check` runs first in that transaction, before the key is looked up, so what it raises
        (a 404, a 400 on the body) answers before a replay or a 409.
        """
        key = check_key(key)
        scope = f"{method.upper()} {path}"
        request_hash = fingerprint(method, path, body)
        now = self.clock.now()
        async with self.db.write() as tx:
            if check is not None:
                await check(tx)
            found = await store.reserve(
                self.db,
                tx,
                user_id=user_id,
                key=key,
                scope=scope,
                request_hash=request_hash,
                now=now,
                expired_before=now - self.ttl,
            )
            if found is not None:
                reply = _replay(found, scope, request_hash)
            else:
                reply = await effect(tx)
                body_text = "" if reply.body is None else json.dumps(reply.body)
                await store.record_response(
                    tx, user_id=user_id, key=key, status=reply.status, body=body_text
                )
        await self._prune_now_and_then(now)
        return reply

    async def prune(self) -> int:
        """Forget every expired key (the scheduler may call this); how many were forgotten."""
        async with self.db.write() as tx:
            return await store.prune(tx, self.clock.now() - self.ttl)

    async def _prune_now_and_then(self, now: datetime) -> None:
        if self._last_prune is not None and now - self._last_prune < self.prune_every:
            return
        self._last_prune = now
        try:
            await self.prune()
        except HourglassError as exc:  # housekeeping must never fail the request it follows
            log.warning("pruning idempotency keys failed: %s", exc.message)


def _replay(found: store.StoredRequest, scope: str, request_hash: str) -> Reply:
    if found.scope != scope:
        raise Conflict(f"this Idempotency-Key was already used for another request ({found.scope})")
    if found.request_hash != request_hash:
        raise Conflict("this Idempotency-Key was already used with a different request body")
    if found.response_status == store.IN_PROGRESS:
        raise Conflict("a request with this Idempotency-Key is still in progress")
    body = json.loads(found.response_body) if found.response_body else None
    return Reply(found.response_status, body, replayed=True)

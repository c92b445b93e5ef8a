"""Accounts: sign-up, login with rate limiting, sessions, personal API tokens and user settings.

Only hashes of session and API tokens are stored. Passwords are argon2id; hashing runs in a
thread so it never blocks the event loop.

Login rate limiting lives in the database so every API process on it shares one count. An
attempt first *reserves* a failure row per key (email, client address) in a transaction that
serialises attempts on those keys; a successful login takes its rows back. So parallel guesses
cannot slip past the limit while the slow password check runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

from hourglass.domain import accounts as rules
from hourglass.domain.accounts import ApiToken, Session, User
from hourglass.domain.common import Clock, IdFactory
from hourglass.errors import (
    BadRequest,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationError,
)
from hourglass.live import MemoryBus
from hourglass.services.auth_cache import AuthCache, Entry
from hourglass.settings import Settings
from hourglass.store import users as store
from hourglass.store.db import Database, Tx

# an API token's last use is only re-stamped when this much time passed, so reads stay reads
_TOUCH_EVERY = timedelta(seconds=60)
# how often one process sweeps expired sessions and old login failures
_HOUSEKEEPING_EVERY = timedelta(minutes=10)
_BAD_LOGIN = "invalid email or password"
_BAD_SESSION = "session is missing, invalid or expired"
_BAD_TOKEN = "API token is invalid or expired"  # noqa: S105 (a message)


def default_password_hasher() -> PasswordHasher:
    """argon2id with RFC 9106's second recommended parameters (t=3, m=64 MiB, p=4)."""
    return PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, and how they proved it."""

    user_id: str
    via: Literal["session", "token"]
    session_hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewSession:
    user: User
    token: str  # the cookie value; shown to the client once, never stored
    csrf: str  # the CSRF token bound to this session


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str


class AccountService:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        new_id: IdFactory,
        *,
        password_hasher: PasswordHasher | None = None,
        cache: AuthCache | None = None,
    ) -> None:
        self.db = db
        # idle unless its `listen` runs (the composition root decides where it may)
        self.cache = cache or AuthCache(MemoryBus(), 0)
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self._hasher = password_hasher or default_password_hasher()
        self._dummy_hash: str | None = None
        self._last_housekeeping: datetime | None = None

    @property
    def idle(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_seconds)

    @property
    def rate_window(self) -> timedelta:
        return timedelta(seconds=self.settings.login_rate_window_seconds)

    # sign-up and login

    async def register(self, email: str, password: str) -> NewSession:
        if self.settings.signup != "open":
            raise Forbidden("sign-up is closed on this server")
        errors: list[FieldError] = []
        try:
            email = rules.normalize_email(email)
        except ValidationError as exc:
            errors.extend(exc.errors)
        problem = rules.password_problem(password)
        if problem:
            errors.append(problem)
        if errors:
            raise ValidationError(errors)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        now = self.clock.now()
        async with self.db.write() as tx:
            user = await store.insert_user(
                self.db, tx, id=self.new_id(), email=email, password_hash=password_hash, now=now
            )
            token = await self._open_session(tx, user.id, now)
        return NewSession(user, token, rules.csrf_token_for(token))

    async def login(self, email: str, password: str, client_addr: str) -> NewSession:
        keys = rules.login_limit_keys(email, client_addr)
        attempt = await self._reserve_attempt(keys)
        async with self.db.read() as tx:
            user = await store.get_user_by_email(tx, rules.login_email(email))
        ok = await asyncio.to_thread(self._verify, user.password_hash if user else None, password)
        if user is None or not ok:
            raise Unauthorized(_BAD_LOGIN)  # the reserved failure rows stay: they count
        new_hash = await self._rehash_if_needed(user.password_hash, password)
        now = self.clock.now()
        async with self.db.write() as tx:
            await store.forget_login_failures(tx, attempt)
            await store.clear_login_failures(tx, keys[0])
            if new_hash is not None:
                await store.update_user(tx, user.id, now, password_hash=new_hash)
            token = await self._open_session(tx, user.id, now)
        return NewSession(user, token, rules.csrf_token_for(token))

    async def _reserve_attempt(self, keys: list[str]) -> list[int]:
        """Count one attempt against every key, or raise `RateLimited` if any key is full."""
        limit = self.settings.login_rate_limit
        async with self.db.write() as tx:
            await store.lock_login_keys(self.db, tx, keys)
            now = self.clock.now()
            since = now - self.rate_window
            await store.prune_login_failures(tx, since, keys)
            for key in keys:
                limiting = await store.nth_newest_failure(tx, key, since, limit)
                if limiting is not None:
                    retry_after = rules.retry_after_seconds(limiting, self.rate_window, now)
                    raise RateLimited(retry_after, "too many failed logins; try again later")
            return await store.record_login_failure(tx, keys, now)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        # an unknown email costs the same as a wrong password: no user enumeration by timing
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(self._dummy_hash, password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _rehash_if_needed(self, password_hash: str, password: str) -> str | None:
        """A new hash when the stored one was made with other parameters (e.g. a raised cost)."""
        if not self._hasher.check_needs_rehash(password_hash):
            return None
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _open_session(self, tx: Tx, user_id: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        absolute = timedelta(seconds=self.settings.session_absolute_seconds)
        session = Session(rules.token_hash(token), user_id, now, now, now + absolute)
        await store.insert_session(tx, session)
        await self._housekeeping(tx, now)
        return token

    async def _housekeeping(self, tx: Tx, now: datetime) -> None:
        """Now and then, drop expired sessions and failures older than the rate window."""
        last = self._last_housekeeping
        if last is not None and now - last < _HOUSEKEEPING_EVERY:
            return
        self._last_housekeeping = now
        await store.delete_expired_sessions(tx, now, now - self.idle)
        await store.prune_login_failures(tx, now - self.rate_window)

    # authentication of requests

    async def authenticate_session(self, token: str) -> Principal:
        """The session's user; its `last_seen` stamped now and then (`session_needs_touch`).

        Read from the auth cache when it holds the session (`services/auth_cache.py`)."""
        token_hash = rules.token_hash(token)
        key = "s:" + token_hash
        now = self.clock.now()
        cached = self.cache.get(key, now)
        if cached is not None and cached.last_seen is not None and cached.expires_at is not None:
            session = Session(token_hash, cached.user_id, now, cached.last_seen, cached.expires_at)
            if session.is_valid(now, self.idle):
                return await self._session_principal(session, now, cached)
            self.cache.drop(key)  # the store may know of a later use: ask it
        ticket = self.cache.ticket()
        async with self.db.read() as tx:
            stored = await store.get_session(tx, token_hash)
        if stored is None or not stored.is_valid(now, self.idle):
            raise Unauthorized(_BAD_SESSION)
        entry = Entry(stored.user_id, now, stored.last_seen_at, stored.expires_at)
        self.cache.put(ticket, key, entry)
        return await self._session_principal(stored, now, entry)

    async def _session_principal(self, session: Session, now: datetime, entry: Entry) -> Principal:
        if rules.session_needs_touch(session.last_seen_at, now, self.idle):
            async with self.db.write() as tx:
                touched = await store.touch_session(tx, session.token_hash, now)
            if not touched:  # ended since it was read
                self.cache.drop("s:" + session.token_hash)
                raise Unauthorized(_BAD_SESSION)
            entry.last_seen = now
        return Principal(session.user_id, "session", session.token_hash)

    async def authenticate_token(self, token: str) -> Principal:
        """The token's user; its `last_used_at` stamped at most once a minute.

        Read from the auth cache when it holds the token (`services/auth_cache.py`)."""
        token_hash = rules.token_hash(token)
        key = "t:" + token_hash
        now = self.clock.now()
        entry = self.cache.get(key, now)
        if entry is None or entry.token_id is None:
            ticket = self.cache.ticket()
            async with self.db.read() as tx:
                api_token = await store.get_token_by_hash(tx, token_hash)
            if api_token is None:
                raise Unauthorized(_BAD_TOKEN)
            entry = Entry(
                api_token.user_id, now, api_token.last_used_at, api_token.expires_at, api_token.id
            )
            self.cache.put(ticket, key, entry)
        if entry.expires_at is not None and now >= entry.expires_at:
            raise Unauthorized(_BAD_TOKEN)
        if entry.last_seen is None or now - entry.last_seen >= _TOUCH_EVERY:
            async with self.db.write() as tx:
                touched = await store.touch_token(tx, entry.token_id or "", now)
            if not touched:  # deleted since it was read
                self.cache.drop(key)
                raise Unauthorized(_BAD_TOKEN)
            entry.last_seen = now
        return Principal(entry.user_id, "token")

    async def logout(self, principal: Principal) -> None:
        if principal.session_hash is None:
            return
        async with self.db.write() as tx:
            await store.delete_session(tx, principal.session_hash)
        await self.cache.ended(principal.user_id)

    async def logout_everywhere(self, principal: Principal) -> None:
        """End every session of the user, this one included (API tokens stay valid)."""
        async with self.db.write() as tx:
            await store.delete_user_sessions(tx, principal.user_id)
        await self.cache.ended(principal.user_id)

    # the user's own settings

    async def get_user(self, principal: Principal) -> User:
        async with self.db.read() as tx:
            user = await store.get_user(tx, principal.user_id)
        if user is None:
            raise Unauthorized()
        return user

    async def update_user(
        self,
        principal: Principal,
        *,
        notification_preference: str | None = None,
        current_password: str | None = None,
        new_password: str | None = None,
        client_addr: str = "unknown",
    ) -> None:
        values: dict[str, str] = {}
        if notification_preference is not None:
            values["notification_preference"] = rules.parse_preference(
                notification_preference
            ).value
        if (current_password is None) != (new_password is None):
            field = "new_password" if new_password is None else "current_password"
            raise ValidationError.field(field, "current_password and new_password go together")
        if current_password is not None and new_password is not None:
            rules.check_password(new_password, "new_password")
            await self._check_current_password(principal, current_password, client_addr)
            values["password_hash"] = await asyncio.to_thread(self._hasher.hash, new_password)
        if not values:
            raise BadRequest("nothing to update: send notification_preference or a password pair")
        async with self.db.write() as tx:
            await store.update_user(tx, principal.user_id, self.clock.now(), **values)
            if "password_hash" in values:
                # a changed password ends every other session of the user
                await store.delete_user_sessions(tx, principal.user_id, keep=principal.session_hash)
        if "password_hash" in values:
            await self.cache.ended(principal.user_id)

    async def _check_current_password(
        self, principal: Principal, password: str, client_addr: str
    ) -> None:
        """A password change proves the current password like a login does, and a wrong one
        counts like a failed login (same keys: the user's email and the client's address), so
        a stolen session or token cannot be used to guess the password either."""
        user = await self.get_user(principal)
        keys = rules.login_limit_keys(user.email, client_addr)
        attempt = await self._reserve_attempt(keys)
        if not await asyncio.to_thread(self._verify, user.password_hash, password):
            raise ValidationError.field("current_password", "is wrong")  # the failure stays
        async with self.db.write() as tx:
            await store.forget_login_failures(tx, attempt)

    # personal API tokens

    async def create_token(
        self, principal: Principal, name: str, expires_in_days: int | None
    ) -> NewToken:
        name = rules.token_name(name)
        now = self.clock.now()
        expires = rules.token_expiry(now, expires_in_days)
        secret = "hg_" + secrets.token_urlsafe(32)
        token = ApiToken(self.new_id(), principal.user_id, name, now, expires, None)
        async with self.db.write() as tx:
            await store.insert_token(tx, token, rules.token_hash(secret))
        return NewToken(token, secret)

    async def list_tokens(self, principal: Principal) -> list[ApiToken]:
        async with self.db.read() as tx:
            return await store.list_tokens(tx, principal.user_id)

    async def delete_token(self, principal: Principal, token_id: str) -> None:
        async with self.db.write() as tx:
            if not await store.delete_token(tx, principal.user_id, token_id):
                raise NotFound("token not found")
        await self.cache.ended(principal.user_id)

"""Accounts: sign-up, login with rate limiting, sessions, personal API tokens and user settings.

Only hashes of session and API tokens are stored. Passwords are argon2id; hashing runs in a
thread so it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hourglass.domain import accounts as rules
from hourglass.domain.accounts import ApiToken, NotificationPreference, Session, User
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
from hourglass.settings import Settings
from hourglass.store import users as store
from hourglass.store.db import Database, Tx

# a session is only re-stamped when this much time passed, so reads stay reads
_TOUCH_EVERY = timedelta(seconds=60)
_BAD_LOGIN = "invalid email or password"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the user, and how they proved it."""

    user_id: str
    via: str  # "session" | "token"
    session_hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewSession:
    user: User
    token: str  # the cookie value; shown to the client once, never stored


@dataclass(frozen=True, slots=True)
class NewToken:
    token: ApiToken
    secret: str


class AccountService:
    def __init__(self, db: Database, settings: Settings, clock: Clock, new_id: IdFactory) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.new_id = new_id
        self._hasher = PasswordHasher()  # argon2id with the library's current parameters
        self._dummy_hash: str | None = None

    @property
    def idle(self) -> timedelta:
        return timedelta(seconds=self.settings.session_idle_seconds)

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
        return NewSession(user, token)

    async def login(self, email: str, password: str, client_addr: str) -> NewSession:
        email = email.strip().lower()
        now = self.clock.now()
        keys = [f"email:{email}", f"addr:{client_addr}"]
        await self._check_rate_limit(keys, now)
        async with self.db.read() as tx:
            user = await store.get_user_by_email(tx, email)
        ok = await asyncio.to_thread(self._verify, user.password_hash if user else None, password)
        if user is None or not ok:
            async with self.db.write() as tx:
                await store.record_login_failure(tx, keys, now)
            raise Unauthorized(_BAD_LOGIN)
        async with self.db.write() as tx:
            await store.clear_login_failures(tx, keys[0])
            token = await self._open_session(tx, user.id, now)
        return NewSession(user, token)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        # an unknown email costs the same as a wrong password: no user enumeration by timing
        if password_hash is None:
            if self._dummy_hash is None:
                self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
            password_hash = self._dummy_hash
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._hasher.verify(password_hash, password)
            return False
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _check_rate_limit(self, keys: list[str], now: datetime) -> None:
        window = timedelta(seconds=self.settings.login_rate_window_seconds)
        async with self.db.read() as tx:
            for key in keys:
                count, oldest = await store.login_failures_since(tx, key, now - window)
                if count >= self.settings.login_rate_limit and oldest is not None:
                    retry_after = (oldest + window - now).total_seconds()
                    raise RateLimited(int(retry_after) + 1, "too many failed logins; try later")

    async def _open_session(self, tx: Tx, user_id: str, now: datetime) -> str:
        token = secrets.token_urlsafe(32)
        absolute = timedelta(seconds=self.settings.session_absolute_seconds)
        session = Session(rules.token_hash(token), user_id, now, now, now + absolute)
        await store.insert_session(tx, session)
        return token

    # authentication of requests

    async def authenticate_session(self, token: str) -> Principal:
        token_hash = rules.token_hash(token)
        now = self.clock.now()
        async with self.db.read() as tx:
            session = await store.get_session(tx, token_hash)
        if session is None or not session.is_valid(now, self.idle):
            raise Unauthorized("session is missing, invalid or expired")
        if now - session.last_seen_at >= _TOUCH_EVERY:
            async with self.db.write() as tx:
                await store.touch_session(tx, token_hash, now)
        return Principal(session.user_id, "session", token_hash)

    async def authenticate_token(self, token: str) -> Principal:
        now = self.clock.now()
        async with self.db.read() as tx:
            api_token = await store.get_token_by_hash(tx, rules.token_hash(token))
        if api_token is None or not api_token.is_valid(now):
            raise Unauthorized("API token is invalid or expired")
        if api_token.last_used_at is None or now - api_token.last_used_at >= _TOUCH_EVERY:
            async with self.db.write() as tx:
                await store.touch_token(tx, api_token.id, now)
        return Principal(api_token.user_id, "token")

    async def logout(self, principal: Principal) -> None:
        if principal.session_hash is None:
            return
        async with self.db.write() as tx:
            await store.delete_session(tx, principal.session_hash)

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
    ) -> None:
        values: dict[str, str] = {}
        if notification_preference is not None:
            try:
                values["notification_preference"] = NotificationPreference(
                    notification_preference
                ).value
            except ValueError as exc:
                raise ValidationError.field(
                    "notification_preference", "must be one of ALL, ALERTS, NONE"
                ) from exc
        if (current_password is None) != (new_password is None):
            field = "new_password" if new_password is None else "current_password"
            raise ValidationError.field(field, "current_password and new_password go together")
        if current_password is not None and new_password is not None:
            rules.check_password(new_password, "new_password")
            user = await self.get_user(principal)
            if not await asyncio.to_thread(self._verify, user.password_hash, current_password):
                raise ValidationError.field("current_password", "is wrong")
            values["password_hash"] = await asyncio.to_thread(self._hasher.hash, new_password)
        if not values:
            raise BadRequest("nothing to update")
        async with self.db.write() as tx:
            await store.update_user(tx, principal.user_id, self.clock.now(), **values)
            if "password_hash" in values:
                # a changed password ends every other session of the user
                await store.delete_user_sessions(tx, principal.user_id, keep=principal.session_hash)

    # personal API tokens

    async def create_token(
        self, principal: Principal, name: str, expires_in_days: int | None
    ) -> NewToken:
        name = name.strip()
        if not name or len(name) > rules.TOKEN_NAME_MAX:
            raise ValidationError.field("name", f"must be 1 to {rules.TOKEN_NAME_MAX} characters")
        if expires_in_days is not None and not 1 <= expires_in_days <= rules.TOKEN_MAX_DAYS:
            raise ValidationError.field(
                "expires_in_days", f"must be between 1 and {rules.TOKEN_MAX_DAYS}"
            )
        now = self.clock.now()
        secret = "hg_" + secrets.token_urlsafe(32)
        expires = now + timedelta(days=expires_in_days) if expires_in_days else None
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

"""The set of services one process uses, built once from settings, database, bus and clock."""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.domain.common import Clock, IdFactory, SystemClock, new_id
from hourglass.services.accounts import AccountService
from hourglass.settings import Settings
from hourglass.store.db import Database


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    clock: Clock
    accounts: AccountService

    @classmethod
    def build(
        cls,
        settings: Settings,
        db: Database,
        *,
        clock: Clock | None = None,
        ids: IdFactory = new_id,
    ) -> Services:
        clock = clock or SystemClock()
        return cls(
            settings=settings,
            db=db,
            clock=clock,
            accounts=AccountService(db, settings, clock, ids),
        )

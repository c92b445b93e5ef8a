"""Alembic migrations of the Hourglass schema; applied on start-up and by `hourglass migrate`."""

"""Persistence: SQLAlchemy Core over sqlite+aiosqlite and postgresql+asyncpg.

Only modules in this package build queries or touch drivers.
"""

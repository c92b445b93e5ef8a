"""Hourglass: a self-hosted job scheduler and orchestrator whose job logs people enjoy using."""

__version__ = "0.1.0"

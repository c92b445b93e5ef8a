"""The workflow kinds (HEARTBEAT, COMMAND, CONTAINER) behind one interface, and their registry."""

from __future__ import annotations

from hourglass.runtime.kinds.base import BuildError, Kind, OutputSink
from hourglass.runtime.kinds.command import CommandKind
from hourglass.runtime.kinds.container import ContainerKind
from hourglass.runtime.kinds.heartbeat import HeartbeatKind
from hourglass.runtime.outbound import policy_of
from hourglass.settings import Settings

__all__ = [
    "BuildError",
    "CommandKind",
    "ContainerKind",
    "HeartbeatKind",
    "Kind",
    "OutputSink",
    "kinds_for",
]


def kinds_for(settings: Settings) -> dict[str, Kind]:
    """One instance of each kind, configured from `settings`, by kind name.

    COMMAND is listed whatever `settings.command_kind_enabled` says: refusing COMMAND workflows
    is the API's decision, and a worker must still be able to stop or finish what was accepted.
    """
    return {
        "HEARTBEAT": HeartbeatKind(policy_of(settings)),
        "COMMAND": CommandKind(
            kill_grace_seconds=settings.kill_grace_seconds, job_cgroups=settings.job_cgroups
        ),
        "CONTAINER": ContainerKind(
            settings.docker_host, kill_grace_seconds=settings.kill_grace_seconds
        ),
    }

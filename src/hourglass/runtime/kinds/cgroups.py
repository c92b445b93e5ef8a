"""Job cgroups: each COMMAND attempt in a cgroup v2 group of its own, killed whole when it ends.

A process group holds a job only as long as nothing leaves it: `setsid sleep 300 &` does, and
outlives the job forever. A cgroup cannot be left (only root can move a process out), so where
cgroup v2 is writable each attempt runs in `<own cgroup>/hourglass-<pid>-<start>/job-<id>` and
`cgroup.kill` (Linux 5.14+) ends every process in it, however it was started.

The program enters its group before any of its code runs: it is started through a tiny exec
wrapper, `/bin/sh -c 'echo 0 >"$0" || exit 126; unset PWD; exec "$@"' <cgroup.procs> <program…>`,
which moves itself into the group and then becomes the program. (Python 3.11's subprocess has no
CLONE_INTO_CGROUP, moving the child from the parent after spawn would race with the program's
first fork, and a `preexec_fn` would fork the whole interpreter instead of vfork.) Measured cost:
about 0.7 ms per spawn.

The groups of a worker live under one parent named after the worker process (pid and start time,
so a reused pid is told apart); `sweep_orphans` kills and removes the parents of workers that are
gone. Where no writable cgroup v2 with `cgroup.kill` is found, `JobCgroups.open` returns None and
jobs run as before: in their own process group, killed by group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Mapping
from pathlib import Path

from hourglass.runtime.kinds.child import Child
from hourglass.runtime.kinds.container import owner_alive, owner_label

log = logging.getLogger("hourglass.worker")

SHELL = "/bin/sh"
# "0" is the writing process itself; the shell exports PWD, which the program's environment must
# not gain (dash; bash as sh also exports SHLVL, which cannot be unset)
_ENTER = 'echo 0 >"$0" || exit 126; unset PWD; exec "$@"'
_ENTER_KEEPING_PWD = 'echo 0 >"$0" || exit 126; exec "$@"'  # noqa: S105 - not a password
_PREFIX = "hourglass-"
_EMPTY_POLL_SECONDS = 0.005


def cgroup2_dir(mountinfo: str, proc_cgroup: str) -> Path | None:
    """The directory of this process's cgroup v2 group, from /proc/self/mountinfo and
    /proc/self/cgroup; None when no cgroup2 file system is mounted or the process has none."""
    own = next((line[3:] for line in proc_cgroup.splitlines() if line.startswith("0::")), None)
    if own is None:
        return None
    for line in mountinfo.splitlines():
        # "id parent major:minor root mount-point options [optional…] - fstype source options"
        fields, _, after = line.partition(" - ")
        parts = fields.split()
        if len(parts) < 5 or after.split(" ", 1)[0] != "cgroup2":
            continue
        root, mount_point = parts[3], parts[4]
        relative = own[len(root) :] if root != "/" and own.startswith(root) else own
        return Path(mount_point.replace("\\040", " ")) / relative.lstrip("/")
    return None


def _own_cgroup2_dir() -> Path | None:
    return cgroup2_dir(
        Path("/proc/self/mountinfo").read_text(), Path("/proc/self/cgroup").read_text()
    )


class JobCgroups:
    """The cgroup this worker process owns for its jobs (created when first needed)."""

    def __init__(self, base: Path) -> None:
        self.base = base  # the worker's own cgroup
        self.parent = base / f"{_PREFIX}{owner_label().replace(':', '-')}"

    @classmethod
    async def open(cls, base: Path | None = None) -> JobCgroups | None:
        """This process's job cgroups, or None (the reason logged) where they cannot be used:
        a probe program must be able to enter a group, and the group to be killed."""
        try:
            base = base or _own_cgroup2_dir()
            if base is None or not (base / "cgroup.procs").exists():
                raise OSError("no cgroup v2 group of this process was found")
            if not os.access(SHELL, os.X_OK):
                raise OSError(f"{SHELL} is missing")
            groups = cls(base)
            groups.parent.mkdir(exist_ok=True)
            await groups._probe()
        except OSError as exc:
            log.info("COMMAND jobs run in process groups, not cgroups: %s", exc)
            return None
        return groups

    async def _probe(self) -> None:
        """Run `true` in a job group: entering it needs write access to cgroup.procs here and in
        the common ancestor (cgroup v2 delegation), which a mkdir alone does not prove."""
        group = self.new_group()
        try:
            if not (group.path / "cgroup.kill").exists():
                raise OSError("cgroup.kill is missing (Linux 5.14 or later is needed)")
            env = {"PATH": "/usr/bin:/bin"}
            probe = await Child.start([*group.enter(env), "true"], env=env)
            try:
                await probe.exited
                errors = await probe.stderr.read()
            finally:
                probe.close()
            if probe.returncode != 0:
                raise OSError(f"cannot enter a job cgroup: {errors.decode(errors='replace')}")
        finally:
            await group.remove()

    def new_group(self) -> JobCgroup:
        """A fresh, empty group for one attempt; OSError if it cannot be made."""
        path = self.parent / f"job-{uuid.uuid4().hex[:16]}"
        for _attempt in range(3):
            # the parent goes with its last job group (JobCgroup.remove), maybe just now
            self.parent.mkdir(exist_ok=True)
            try:
                path.mkdir()
                break
            except FileNotFoundError:
                continue
        else:
            path.mkdir()  # the parent keeps vanishing: let mkdir say so
        return JobCgroup(path)

    async def sweep_orphans(self) -> int:
        """Kill and remove the job groups of worker processes that are gone; how many workers."""
        removed = 0
        for parent in self._orphaned():
            for job in _job_groups(parent):
                await job.remove()  # the last one takes the parent along
            if _removed(parent):
                removed += 1
                log.warning("killed and removed the job cgroups of gone worker %s", parent.name)
        return removed

    def _orphaned(self) -> list[Path]:
        """The parent groups (beside ours) of worker processes that no longer run."""
        return [
            parent
            for parent in self.base.glob(f"{_PREFIX}*")
            if parent != self.parent
            and not owner_alive(parent.name[len(_PREFIX) :].replace("-", ":", 1))
        ]


def _job_groups(parent: Path) -> list[JobCgroup]:
    try:
        return [JobCgroup(path) for path in parent.iterdir() if path.is_dir()]
    except FileNotFoundError:  # another worker swept it just now
        return []


def _removed(parent: Path) -> bool:
    """Remove `parent` if it is still there; whether it is gone."""
    with contextlib.suppress(OSError):
        parent.rmdir()
    return not parent.exists()


class JobCgroup:
    """One attempt's group: how to enter it, signal it, and end it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def enter(self, env: Mapping[str, str]) -> list[str]:
        """The exec wrapper that puts a program into this group before it runs (argv prefix),
        for a program started with `env` (a PWD there becomes the real working directory)."""
        script = _ENTER_KEEPING_PWD if "PWD" in env else _ENTER
        return [SHELL, "-c", script, str(self.path / "cgroup.procs")]

    def pids(self) -> list[int]:
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to every process in the group (SIGKILL through cgroup.kill: none escapes)."""
        if sig is signal.SIGKILL:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
            return
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def populated(self) -> bool:
        """Whether a live process is in the group (exited ones, zombies included, are not)."""
        try:
            return "populated 1" in (self.path / "cgroup.events").read_text()
        except OSError:
            return False

    async def remove(self, wait_seconds: float = 5.0) -> None:
        """Kill everything in the group, wait until it is empty, and remove it."""
        self.signal(signal.SIGKILL)
        deadline = asyncio.get_running_loop().time() + wait_seconds
        # cgroup.kill returns before the processes are gone; they take microseconds to die
        while self.populated():
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(_EMPTY_POLL_SECONDS)
        try:
            self.path.rmdir()
        except OSError as exc:
            log.warning("job cgroup %s not removed: %s", self.path, exc)
        # the worker's parent group goes with its last job group, so that no empty group is left
        # behind when the worker exits; a concurrent `new_group` makes it again
        with contextlib.suppress(OSError):
            self.path.parent.rmdir()

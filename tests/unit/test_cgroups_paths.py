"""Finding this process's cgroup v2 directory from /proc/self/mountinfo and /proc/self/cgroup."""

from __future__ import annotations

from pathlib import Path

from hourglass.runtime.kinds.cgroups import cgroup2_dir

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
UNIFIED = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
V1_ONLY = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"


def test_hybrid_hierarchy_finds_the_cgroup2_mount() -> None:
    """With cgroup v1 at /sys/fs/cgroup, the cgroup2 mount (here .../unified) is used."""
    found = cgroup2_dir(HYBRID, "4:memory:/x\n0::/\n")
    assert found == Path("/sys/fs/cgroup/unified")


def test_own_group_is_joined_to_the_mount_point() -> None:
    """The process's own group (the `0::` line) is a directory under the mount point."""
    found = cgroup2_dir(UNIFIED, "0::/system.slice/hourglass.service\n")
    assert found == Path("/sys/fs/cgroup/system.slice/hourglass.service")


def test_a_mount_of_a_subtree_is_not_joined_twice() -> None:
    """A cgroup2 mount whose root is a subtree (containers) strips that root from the path."""
    mountinfo = "50 40 0:26 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n"
    assert cgroup2_dir(mountinfo, "0::/docker/abc/sub\n") == Path("/sys/fs/cgroup/sub")


def test_no_cgroup2_means_none() -> None:
    """cgroup v1 only, or no `0::` line: there is no cgroup v2 group to use."""
    assert cgroup2_dir(V1_ONLY, "0::/\n") is None
    assert cgroup2_dir(HYBRID, "4:memory:/x\n") is None

"""Pure helpers of the workflow kinds: durations, sizes, image names, Docker stream frames."""

from __future__ import annotations

import pytest

from hourglass.runtime.kinds.base import signal_exit_code
from hourglass.runtime.kinds.command import child_env
from hourglass.runtime.kinds.container import container_config, parse_memory
from hourglass.runtime.kinds.docker_api import Demuxer, socket_path, split_image
from hourglass.runtime.kinds.heartbeat import header_items


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * 1024**2), ("1g", 1024**3), ("64MiB", 64 * 1024**2), ("1024", 1024)],
)
def test_parse_memory_reads_docker_sizes(text: str, size: int):
    """Memory sizes use Docker's binary units."""
    assert parse_memory(text) == size


def test_signal_exit_code_follows_the_shell():
    """Killed by signal N reads as 128+N; a plain exit code is kept."""
    assert (signal_exit_code(-9), signal_exit_code(3)) == (137, 3)


def test_split_image_defaults_the_tag_to_latest():
    """An untagged image pulls `latest`, never every tag; registry ports are not tags."""
    assert split_image("local/busybox") == ("local/busybox", "latest")
    assert split_image("busybox:1.36") == ("busybox", "1.36")
    assert split_image("reg:5000/team/app") == ("reg:5000/team/app", "latest")
    assert split_image("app@sha256:abc") == ("app", "sha256:abc")


def test_socket_path_accepts_unix_addresses_only():
    """DOCKER_HOST `unix:///path` gives the path; other schemes are refused."""
    assert socket_path("unix:///var/run/docker.sock") == "/var/run/docker.sock"
    with pytest.raises(Exception, match="unsupported"):
        socket_path("tcp://127.0.0.1:2375")


def test_demuxer_splits_frames_by_stream_and_merges_neighbours():
    """Frames become (stream, bytes) blocks; consecutive frames of one stream are merged."""
    data = frame(1, b"a\n") + frame(1, b"b\n") + frame(2, b"err\n") + frame(1, b"c\n")
    assert Demuxer().feed(data) == [("stdout", b"a\nb\n"), ("stderr", b"err\n"), ("stdout", b"c\n")]


def test_demuxer_handles_frames_cut_anywhere():
    """A stream fed one byte at a time yields the same bytes per stream."""
    data = frame(1, b"hello ") + frame(2, b"oops") + frame(1, b"world\n")
    demuxer = Demuxer()
    got: dict[str, bytes] = {"stdout": b"", "stderr": b""}
    for i in range(len(data)):
        for stream, block in demuxer.feed(data[i : i + 1]):
            got[stream] += block
    assert got == {"stdout": b"hello world\n", "stderr": b"oops"}
    assert not demuxer.pending


def test_child_env_is_minimal_path_env_then_secrets():
    """The child env is PATH plus env plus secrets, secrets winning on a clash."""
    env = child_env({"env": {"A": "1", "S": "env"}, "secrets": {"S": "secret"}})
    assert env == {"PATH": "/usr/local/bin:/usr/bin:/bin", "A": "1", "S": "secret"}


def test_header_items_repeat_list_values():
    """A header with a list value is sent once per element."""
    assert header_items({"A": "1", "B": ["x", "y"]}) == [("A", "1"), ("B", "x"), ("B", "y")]


def test_container_config_maps_limits_env_and_cmd():
    """cpus and memory become NanoCpus and Memory; env and secrets become Env."""
    config = container_config(
        {
            "image": "i",
            "cmd": ["sh"],
            "env": {"A": "1"},
            "secrets": {"B": "2"},
            "cpus": 0.5,
            "memory": "512m",
        }
    )
    assert config["Cmd"] == ["sh"]
    assert config["Env"] == ["A=1", "B=2"]
    assert config["HostConfig"] == {"NanoCpus": 500_000_000, "Memory": 512 * 1024**2}


def test_container_config_adds_our_labels_to_the_managed_one():
    """The labels naming the worker that runs a container join `dev.hourglass.managed`."""
    config = container_config({"image": "i"}, {"dev.hourglass.host": "h"})
    assert config["Labels"] == {"dev.hourglass.managed": "true", "dev.hourglass.host": "h"}

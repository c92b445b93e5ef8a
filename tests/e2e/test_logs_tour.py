"""The job-log tour a new user takes with `hourglass up` (issue "Job logs", as a user tries it):
a COMMAND job printing 3000 lines, read live over SSE, resumed, paged, searched, downloaded."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from tests.e2e.test_embedded import create, wait_for
from tests.support import UserClient, register

SCRIPT = "import sys,time; [print(i, flush=True) or time.sleep(0.01) for i in range(3000)]"


async def sse_events(client: httpx.AsyncClient, path: str, **kwargs: Any) -> list[dict[str, Any]]:
    """Read an SSE stream to its end; each event as {"id", "event", "data"}."""
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async with client.stream("GET", path, timeout=120, **kwargs) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if line == "":
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                current[field] = value.removeprefix(" ")
    return events


def log_seqs(events: list[dict[str, Any]]) -> list[int]:
    return [int(e["id"]) for e in events if e.get("event") == "log"]


async def test_logs_tour(user: UserClient, embedded: str) -> None:
    """Live SSE ends with `end`; resume at 1501; pages, search, download; 400 while running; 404
    for another user."""
    workflow_id = await create(user, "COMMAND", {"cmd": ["python3", "-c", SCRIPT]})
    await wait_for(user, f"/workflows/{workflow_id}", lambda w: w["build_status"] == "COMPLETED")
    scheduled = await user.post(
        f"/workflows/{workflow_id}/jobs/schedule", headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    job_path = f"/workflows/{workflow_id}/jobs/{scheduled.json()['id']}"
    await wait_for(user, job_path, lambda j: j["status"] == "RUNNING")

    assert (await user.get(f"{job_path}/logs/raw")).status_code == 400  # still running
    events = await sse_events(user.client, f"{job_path}/events")
    messages = [json.loads(e["data"])["message"] for e in events if e.get("event") == "log"]
    assert [str(i) for i in range(3000)] == [m for m in messages if m.isdigit()]
    assert log_seqs(events) == list(range(1, len(log_seqs(events)) + 1))
    assert events[-1]["event"] == "end"
    total = json.loads(events[-1]["data"])["total_lines"]

    resumed = await sse_events(user.client, f"{job_path}/events", headers={"Last-Event-ID": "1500"})
    assert log_seqs(resumed) == list(range(1501, total + 1))

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        page = (await user.get(f"{job_path}/logs", params=params)).json()
        seen += [line["sequence_num"] for line in page["logs"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert sorted(seen) == list(range(1, total + 1))

    found = (await user.get(f"{job_path}/logs/search", params={"q": "299"})).json()
    expected = [str(i) for i in range(3000) if "299" in str(i)]
    assert found["total_matches"] == len(expected)
    assert sorted(line["message"] for line in found["logs"]) == sorted(expected)
    for line in found["logs"]:  # every occurrence, as code-point offsets
        message = line["message"]
        starts = [i for i in range(len(message)) if message.startswith("299", i)]
        assert line["highlights"] == [[i, i + 3] for i in starts], message
    by_message = {line["message"]: line["highlights"] for line in found["logs"]}
    assert (by_message["299"], by_message["1299"], by_message["2995"]) == (
        [[0, 3]],
        [[1, 4]],
        [[0, 3]],
    )

    raw = await user.get(f"{job_path}/logs/raw")
    assert raw.status_code == 200
    assert raw.headers["content-disposition"] == (
        f'attachment; filename="{scheduled.json()["id"]}-logs.txt"'
    )
    assert [line for line in raw.text.splitlines() if line.isdigit()] == [
        str(i) for i in range(3000)
    ]

    stranger = await register(embedded)
    for suffix in ("/logs", "/logs/search?q=1", "/logs/raw", "/events"):
        assert (await stranger.get(f"{job_path}{suffix}")).status_code == 404
    await stranger.client.aclose()

"""A real local HTTP receiver standing in for webhook endpoints, and a running sender."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks import Webhook as Verifier

from hourglass.domain.webhooks import DeliveryPolicy
from hourglass.runtime.webhooks import Dispatcher
from hourglass.services.container import Services
from hourglass.services.webhooks import WebhookService
from tests.support import UserClient, free_socket

QUICK_RETRIES = DeliveryPolicy(max_attempts=5, base_seconds=0.05, factor=1.0, jitter=0.0)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)  # when it arrived (benchmarks)

    def json(self) -> Any:
        return json.loads(self.body)

    def verified(self, secret: str) -> Any:
        """The body, checked with the `standardwebhooks` package (raises if the signature or
        the timestamp is wrong)."""
        return Verifier(secret).verify(self.body, self.headers)


@dataclass
class Receiver:
    """Records every request; answers each with the next planned reply: a status code, or
    `("sleep", seconds)` (then 200), `"hold"` (200 once `release` is set, if the client is still
    there) or `("redirect", url)`; 200 once the plan runs out."""

    plan: list[Any] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        async with self._arrived:
            self.received.append(Received(scope["path"], headers, body))
            self._arrived.notify_all()
        reply = self.plan.pop(0) if self.plan else 200
        extra: list[tuple[bytes, bytes]] = []
        if reply == "hold":
            await self.release.wait()
            reply = 200
        elif isinstance(reply, tuple) and reply[0] == "sleep":
            await asyncio.sleep(reply[1])
            reply = 200
        elif isinstance(reply, tuple) and reply[0] == "redirect":
            extra, reply = [(b"location", reply[1].encode())], 302
        await send({"type": "http.response.start", "status": reply, "headers": extra})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, count: int, timeout: float = 15) -> list[Received]:
        """The first `count` requests, once they arrived."""
        async with asyncio.timeout(timeout), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]


@contextlib.asynccontextmanager
async def receiving(plan: list[Any] | None = None) -> AsyncIterator[Receiver]:
    """A `Receiver` served by uvicorn on a loopback port."""
    receiver = Receiver(plan=list(plan or []))
    config = uvicorn.Config(receiver, log_config=None, access_log=False, lifespan="off")
    config.timeout_graceful_shutdown = 0
    server = uvicorn.Server(config)
    sock = free_socket()
    sock.listen(128)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    receiver.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await task
        sock.close()


def quick(services: Services, policy: DeliveryPolicy = QUICK_RETRIES) -> Services:
    """The same services with fast webhook retries."""
    webhooks = WebhookService(
        services.db,
        services.settings,
        services.clock,
        services.webhooks.new_id,
        services.events,
        policy=policy,
    )
    return dataclasses.replace(services, webhooks=webhooks)


@contextlib.asynccontextmanager
async def sending(services: Services, **options: Any) -> AsyncIterator[Dispatcher]:
    """A webhook sender running until the block ends."""
    dispatcher = Dispatcher(services.webhooks, services.metrics, **options)
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield dispatcher
    finally:
        stop.set()
        await task


async def register_webhook(user: UserClient, url: str, **fields: Any) -> dict[str, Any]:
    body = {"url": url, "events": ["job.failed"], **fields}
    response = await user.post("/webhooks", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def deliveries(user: UserClient, webhook_id: str) -> list[dict[str, Any]]:
    response = await user.get(f"/webhooks/{webhook_id}/deliveries")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def settled(user: UserClient, webhook_id: str, timeout: float = 15) -> list[dict[str, Any]]:
    """The deliveries once none is pending any more (bounded)."""
    async with asyncio.timeout(timeout):
        while True:
            found = await deliveries(user, webhook_id)
            if found and all(d["status"] != "pending" for d in found):
                return found
            await asyncio.sleep(0.02)

"""Workflows as their owners manage them: create, read, replace, terminate, delete, list.

One transaction per use case. Create and replace run under an idempotency key (see
`idempotency.py`); replacing, terminating and deleting lock the workflow's row first, and cancel or
stop its jobs in the same transaction (the engine's lock order: workflow row, then its jobs).
Another user's workflow, or a malformed id, is `NotFound`: its existence is never leaked.

The engine hooks in through `on_changed(workflow_id)`, called after each committed change (not on
replays), so a scheduler or builder can wake up at once instead of at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hourglass.domain.common import Clock, IdFactory, is_valid_id
from hourglass.domain.cursors import decode_cursor, next_cursor
from hourglass.domain.events import Event, JobEnded, WorkflowTerminated
from hourglass.domain.outbound import OutboundPolicy
from hourglass.domain.workflows import (
    ListParams,
    Workflow,
    WorkflowSpec,
    apply_update,
    new_workflow,
    parse_list_params,
    spec_for_create,
    spec_for_update,
)
from hourglass.errors import NotFound, PreconditionFailed
from hourglass.services.accounts import Principal
from hourglass.services.events import Effects, EventRecorder
from hourglass.services.idempotency import IdempotencyService, Reply
from hourglass.settings import Settings, is_loopback
from hourglass.store import jobs as job_store
from hourglass.store import schedules as schedule_store
from hourglass.store import workflows as store
from hourglass.store.db import Database, Tx

log = logging.getLogger("hourglass.workflows")

OnChanged = Callable[[str], Awaitable[None]]
_NOT_FOUND = "workflow not found"


@dataclass(frozen=True, slots=True)
class WorkflowPage:
    workflows: list[Workflow]
    cursor: str | None  # the next page's cursor; None on the last page


@dataclass(eq=False)
class WorkflowService:
    db: Database
    settings: Settings
    clock: Clock
    new_id: IdFactory
    idempotency: IdempotencyService
    events: EventRecorder
    on_changed: OnChanged | None = None  # assignable: the composition root wires the engine here
    outbound: OutboundPolicy = field(init=False)

    def __post_init__(self) -> None:
        self.outbound = OutboundPolicy.for_instance(
            loopback_only=is_loopback(self.settings.host), allow=self.settings.outbound_allow
        )

    async def create(
        self, principal: Principal, body: Mapping[str, Any], *, idempotency_key: str | None
    ) -> Reply:
        """Create a workflow (build QUEUED, generation 1): `Reply(201, {"id"})`, or its replay."""
        checked: list[WorkflowSpec] = []

        async def check(tx: Tx) -> None:
            """The body checked, before the key's replay or 409."""
            settings = self.settings
            checked.append(
                spec_for_create(
                    body,
                    allow_command=settings.command_kind_enabled,
                    default_log_retention_days=settings.default_log_retention_days,
                    outbound=self.outbound,
                )
            )

        async def effect(tx: Tx) -> Reply:
            [spec] = checked
            workflow = new_workflow(self.new_id(), principal.user_id, spec, self.clock.now())
            await store.insert(tx, workflow)
            return Reply(201, {"id": workflow.id})

        reply = await self.idempotency.run(
            user_id=principal.user_id,
            key=idempotency_key,
            method="POST",
            path="/workflows",
            body=dict(body),
            effect=effect,
            check=check,
        )
        if not reply.replayed:
            await self._changed(reply.body["id"])
        return reply

    async def get(self, principal: Principal, workflow_id: str) -> Workflow:
        _check_id(workflow_id)
        async with self.db.read() as tx:
            workflow = await store.get_owned(self.db, tx, principal.user_id, workflow_id)
        if workflow is None:
            raise NotFound(_NOT_FOUND)
        return workflow

    async def update(
        self,
        principal: Principal,
        workflow_id: str,
        body: Mapping[str, Any],
        *,
        idempotency_key: str | None,
    ) -> Reply:
        """Replace the workflow's definition: `Reply(204)`, or its replay.

        Re-activates it and resets its failure count; a changed kind or payload starts a new
        generation (build QUEUED); a changed schedule cancels its PENDING/QUEUED automatic jobs
        and leaves the next run to the scheduler.
        """
        _check_id(workflow_id)
        checked: list[tuple[Workflow, WorkflowSpec]] = []
        effects = Effects()

        async def check(tx: Tx) -> None:
            """The locked row and the body checked against it, before the key's replay or 409."""
            current = await store.get_owned(self.db, tx, principal.user_id, workflow_id, lock=True)
            if current is None:
                raise NotFound(_NOT_FOUND)
            allow_command = self.settings.command_kind_enabled
            spec = spec_for_update(
                body, current, allow_command=allow_command, outbound=self.outbound
            )
            checked.append((current, spec))

        async def effect(tx: Tx) -> Reply:
            [(current, spec)] = checked
            now = self.clock.now()
            updated, change = apply_update(current, spec, now)
            await store.replace(tx, updated, change)
            if change.schedule_changed:
                canceled = await job_store.cancel_workflow_jobs(
                    tx, workflow_id, now, automatic_only=True
                )
                ended = [JobEnded(job, updated.name, updated.kind.value) for job in canceled]
                effects.merge(await self.events.record(tx, ended, now))
            return Reply(204)

        reply = await self.idempotency.run(
            user_id=principal.user_id,
            key=idempotency_key,
            method="PUT",
            path=f"/workflows/{workflow_id}",
            body=dict(body),
            effect=effect,
            check=check,
        )
        if not reply.replayed:
            await self.events.publish(effects)
            await self._changed(workflow_id)
        return reply

    async def terminate(self, principal: Principal, workflow_id: str) -> None:
        """Terminate (idempotent: the first `terminated_at` stays): cancel its PENDING/QUEUED jobs
        and ask the workers running its RUNNING ones to stop them."""
        _check_id(workflow_id)
        now = self.clock.now()

        async def work(tx: Tx) -> Effects:
            # the workflow's row before its jobs, even when it is already terminated (the
            # UPDATE below then locks nothing): the engine's lock order
            await schedule_store.lock_workflow(self.db, tx, workflow_id)
            terminated = await store.terminate(tx, principal.user_id, workflow_id, now)
            if not terminated and not await store.exists_owned(tx, principal.user_id, workflow_id):
                raise NotFound(_NOT_FOUND)
            canceled = await job_store.cancel_workflow_jobs(tx, workflow_id, now)
            await job_store.request_cancel_workflow(tx, workflow_id, now)
            events: list[Event] = []
            if terminated:
                name, _ = (await store.names(tx, [workflow_id])).get(workflow_id, ("", ""))
                events.append(WorkflowTerminated(workflow_id, principal.user_id, name, now))
            events += await self.events.job_ends(tx, canceled)
            return await self.events.record(tx, events, now)

        effects = await self.db.write_retrying(work)
        await self.events.publish(effects)
        await self._changed(workflow_id)

    async def delete(self, principal: Principal, workflow_id: str) -> None:
        """Delete a terminated workflow without running jobs, with its jobs and their logs."""
        _check_id(workflow_id)
        async with self.db.write() as tx:
            workflow = await store.get_owned(self.db, tx, principal.user_id, workflow_id, lock=True)
            if workflow is None:
                raise NotFound(_NOT_FOUND)
            if not workflow.terminated:
                raise PreconditionFailed("terminate the workflow (PATCH) before deleting it")
            if await store.has_running_job(tx, workflow_id):
                raise PreconditionFailed(
                    "the workflow still has a running job; delete it once the job has stopped"
                )
            await store.delete_workflow(tx, workflow_id)
        await self._changed(workflow_id)

    async def list(self, principal: Principal, params: ListParams) -> WorkflowPage:
        """One page of the caller's workflows, newest first; parameters as raw query strings."""
        where, size = parse_list_params(params)
        bound_to = {"user_id": principal.user_id, **where.as_dict()}
        position = decode_cursor(params.cursor, bound_to, _is_workflow_id)
        async with self.db.read() as tx:
            rows = await store.list_page(
                tx, principal.user_id, where, before_id=position, limit=size + 1
            )
        page = rows[:size]
        more = len(rows) > size
        return WorkflowPage(page, next_cursor(page[-1].id if page else None, bound_to, more=more))

    async def _changed(self, workflow_id: str) -> None:
        if self.on_changed is None:
            return
        try:
            await self.on_changed(workflow_id)
        except Exception:  # a failed wake-up must not turn a committed change into an error
            log.exception("on_changed hook failed for workflow %s", workflow_id)


def _is_workflow_id(position: Any) -> bool:
    return isinstance(position, str) and is_valid_id(position)


def _check_id(workflow_id: str) -> None:
    if not is_valid_id(workflow_id):
        raise NotFound(_NOT_FOUND)

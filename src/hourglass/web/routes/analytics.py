"""Analytics of the caller's jobs: totals, and one workflow's figures with a daily series."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from hourglass.web.deps import CurrentUser, ServicesDep

router = APIRouter(prefix="/analytics", tags=["analytics"])


@router.get("")
async def analytics(principal: CurrentUser, services: ServicesDep) -> dict[str, Any]:
    """Totals over every job of the caller that finished (durations in seconds)."""
    return await services.analytics.summary(principal.user_id)


@router.get("/{workflow_id}")
async def workflow_analytics(
    workflow_id: str,
    principal: CurrentUser,
    services: ServicesDep,
    days: Annotated[
        str | None, Query(description="1-366: the report covers these last days")
    ] = None,
) -> dict[str, Any]:
    """One workflow's totals, success rate, p50/p95 (ms), jobs by status and daily series."""
    return await services.analytics.workflow(principal.user_id, workflow_id, days)

"""GET /metrics: the Prometheus text exposition of kumo.metrics.REGISTRY."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kumo import metrics as kumo_metrics

router = APIRouter()


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(kumo_metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

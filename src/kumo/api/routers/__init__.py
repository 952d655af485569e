"""One router per area: health (GET /healthcheck), metrics (GET /metrics)."""

"""The app factory: ``create_app(controller)`` builds the FastAPI app ``kumo serve`` runs.

Routers read the controller from ``request.app.state.controller`` (kumo.serve.controller):
no module-level state, so tests build as many apps as they like.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from kumo.api.routers import health, metrics

if TYPE_CHECKING:
    from kumo.serve.controller import Controller


def create_app(controller: "Controller") -> FastAPI:
    app = FastAPI(title="kumo", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.controller = controller
    app.include_router(health.router)
    app.include_router(metrics.router)
    return app

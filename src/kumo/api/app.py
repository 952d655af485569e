"""The app factory: ``create_app(controller)`` builds the FastAPI app ``kumo serve`` runs.

Routers read the controller from ``request.app.state.controller`` (kumo.serve.controller):
no module-level state, so tests build as many apps as they like.

One port serves kumo's own endpoints (/healthcheck, /metrics, /openapi.json) and the OpenStack
APIs under their catalog prefixes: /identity (Keystone v3), /image (Glance v2), /compute/v2.1
(Nova), /ec2 (the EC2 Query API, kumo.ec2). Errors come in OpenStack's shapes (kumo.api.faults); request bodies are bounded by
``max_request_body``, except image data uploads, which stream to the image store.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from fastapi import FastAPI

from kumo.api import faults
from kumo.api.routers import (aggregates, compute, consoles, ec2, health, hypervisors,
                               identity, image, instance_actions, keypairs, kumo_ext, kumo_fleet,
                               metrics, network, server_password, servers)

if TYPE_CHECKING:
    from kumo.serve.controller import Controller

#: image data (PUT /image/v2/images/{id}/file or .../stage) streams to disk: no body limit there
_UPLOAD = re.compile(r"^/image/v2/images/[^/]+/(file|stage)/?$")


def _unbounded(path: str, method: str) -> bool:
    return method == "PUT" and _UPLOAD.match(path) is not None


def create_app(controller: "Controller") -> FastAPI:
    app = FastAPI(title="kumo", docs_url=None, redoc_url=None, openapi_url="/openapi.json")
    app.state.controller = controller
    faults.install(app)
    app.add_middleware(faults.BodyLimit, limit=controller.env.settings.max_request_body,
                       unbounded=_unbounded)
    # the servers' routes first: a request is matched against each route in turn, and shows
    # and lists of servers are the most frequent requests (wait_for_server polls a show)
    app.include_router(servers.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(identity.router)
    app.include_router(image.router)
    app.include_router(compute.router)
    app.include_router(instance_actions.router)
    app.include_router(server_password.router)
    app.include_router(consoles.router)
    app.include_router(hypervisors.router)
    app.include_router(aggregates.router)
    app.include_router(kumo_ext.router)
    app.include_router(kumo_fleet.router)
    app.include_router(network.router)
    app.include_router(keypairs.router)
    app.include_router(ec2.router)
    return app

"""The Compute API's cold migration and resize actions (``POST /servers/{id}/action``), over
kumo.compute.moves -- the functions ``kumo server migrate|resize`` call:

    {"migrate": null | {"host": H}}      202; ``host`` from microversion 2.56 (Nova's schema);
                                         admin only (os-migrate-server policy)
    {"resize": {"flavorRef": F}}         202; the owner's
    {"confirmResize": null}              204
    {"revertResize": null}               202

As Nova does, migrate and resize answer once the request is checked and the target claimed
(the server shows RESIZE); the guest's move runs on a worker thread, so ``openstack server
migrate --wait`` polls it to VERIFY_RESIZE (or back to ACTIVE, the error in the server's
events, when the move failed and was rolled back). Confirm and revert run within the request.
"""

from __future__ import annotations

import threading

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kumo import logs
from kumo.api.routers.compute import api_version
from kumo.compute import moves
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.errors import InvalidInput, KumoError

log = logs.get(__name__)

#: the Action model's fields this module serves
MOVE_ACTIONS = frozenset({"migrate", "resize", "confirmResize", "revertResize"})


class Migrate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, min_length=1, max_length=255)


class Resize(BaseModel):
    """Nova's resize body; ``OS-DCF:diskConfig`` is accepted and changes nothing (kumo's disks
    are grown by the guest, as Nova's MANUAL)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    flavorRef: str = Field(..., min_length=1, max_length=255)
    disk_config: str | None = Field(None, alias="OS-DCF:diskConfig")


def move_action(env: ComputeEnv, ctx: RequestContext, request: Request, server_id: str,
                body: BaseModel) -> Response:
    given = body.model_fields_set
    if "confirmResize" in given:
        moves.confirm(env, ctx, server_id)
        return Response(status_code=204)
    if "revertResize" in given:
        moves.revert(env, ctx, server_id)
        return Response(status_code=202)
    if "resize" in given:
        resize = getattr(body, "resize")
        started = moves.start(env, ctx, server_id, flavor=resize.flavorRef)
    else:
        migrate = getattr(body, "migrate")
        host = migrate.host if migrate is not None else None
        if host is not None and api_version(request) < (2, 56):
            raise InvalidInput("migrate's 'host' needs microversion 2.56 or later "
                               "(OpenStack-API-Version: compute 2.56)")
        started = moves.start(env, ctx, server_id, host=host)
    _in_background(env, started)
    return Response(status_code=202)


def _in_background(env: ComputeEnv, started: moves.Started) -> None:
    """The move's host-side work on a worker thread (as reschedule.build_in_background runs a
    create's build): a failure is rolled back by the move itself and logged here."""
    def work() -> None:
        try:
            moves.run(env, started)
        except KumoError as e:
            log.warning("move of server %s failed: %s", started.uuid, e,
                        extra={"instance": started.uuid})

    threading.Thread(target=work, name=f"move-{started.uuid[:8]}", daemon=True).start()

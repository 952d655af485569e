"""Compute v2.1 servers: create, list/detail, show, delete, actions (reboot, os-start, os-stop,
rebuild, evacuate; os-getConsoleOutput and os-getVNCConsole: kumo.api.routers.consoles; migrate, resize,
confirmResize, revertResize: kumo.api.routers.server_moves),
over kumo.compute.servers -- the same functions ``kumo server`` calls.

Create answers 202 once the server is validated, placed and recorded (BUILD); the host-side
build runs on a worker thread, as Nova's conductor does it, so ``openstack server create --wait``
and openstacksdk's ``wait_for_server`` poll it to ACTIVE (or ERROR with the fault). A request
the service refuses (unknown image or flavor, bad properties, no valid host) is answered at
once: 400/404, nothing left behind -- except "no valid host", which Nova too records as an
ERROR server; here it is answered 400 with the scheduler's summary and the ERROR record kept.
Actions and delete run within the request (the journal makes them safe to interrupt).

The create body's login and guest data, as the Compute API reference describes them
(https://docs.openstack.org/api-ref/compute/#create-server), one path with ``kumo server
create`` (kumo.compute.servers.new_instance):

    key_name   the caller's key pair; its public key goes on the config drive. A Windows
               guest takes only an RSA key pair, which encrypts its admin password
               (os-server-password) and is never installed; another type: 400 with the
               reason (kumo does not drop it silently)
    user_data  base64, at most 65535 characters (Nova's schema); on the config drive, decoded,
               as openstack/latest/user_data; shown to admins as OS-EXT-SRV-ATTR:user_data
               from microversion 2.3 on
    metadata   key -> string value, keys [a-zA-Z0-9-_:. ]{1,255}, values up to 255 characters,
               at most 128 items (more: 403, Nova's metadata_items quota); shown in every view
    adminPass  the Windows admin password to set; answered back in ``adminPass`` of the 202,
               generated when not given (Nova's enable_instance_password), held sealed until
               the build and never stored beyond it (its hash only, and its encryption for
               an RSA key pair). A guest that takes no admin password (Linux:
               its login is its key pair) refuses one given: 400.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.api.routers import consoles
from kumo.api.routers.compute import api_version, microversion
from kumo.api.routers.server_moves import MOVE_ACTIONS, Migrate, Resize, move_action
from kumo.compute import naming, pending_delete, reschedule
from kumo.compute import servers as service
from kumo.compute.context import RequestContext
from kumo.compute.states import host_id_hash
from kumo.errors import InvalidInput, NotFound

router = APIRouter(prefix="/compute/v2.1", tags=["compute"],
                   dependencies=[Depends(microversion)])


class BlockDevice(BaseModel):
    model_config = ConfigDict(extra="ignore")

    uuid: str | None = Field(None, max_length=36)
    source_type: str | None = Field(None, max_length=16)
    destination_type: str | None = Field(None, max_length=16)
    boot_index: int | str | None = None


class ServerBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str = Field(..., min_length=1, max_length=255)
    imageRef: str | None = Field(None, max_length=255)
    flavorRef: str = Field(..., min_length=1, max_length=255)
    key_name: str | None = Field(None, min_length=1, max_length=255)
    #: base64, at most 65535 characters (checked by kumo.compute.user_data, Nova's words)
    user_data: str | None = Field(None, max_length=65535)
    adminPass: str | None = Field(None, max_length=255)
    min_count: int = Field(1, ge=1, le=1)
    max_count: int = Field(1, ge=1, le=1)
    networks: Literal["auto", "none"] | list[dict[str, Any]] = "auto"
    security_groups: list[dict[str, str]] = Field(default_factory=list, max_length=16)
    block_device_mapping_v2: list[BlockDevice] = Field(default_factory=list, max_length=8)
    #: checked by kumo.compute.user_data (Nova's key pattern, value length, 128 items: 403)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=1024)


class ServerCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")

    server: ServerBody


def _image_of(body: ServerBody) -> str:
    """The image the server boots from: imageRef, or the image of block_device_mapping_v2's
    boot device. Every mapping must be that image on the server's local disk: a volume (or a
    volume to boot from, ``openstack server create --boot-from-volume``), a snapshot, a blank
    disk or a second image is refused, never dropped -- kumo has no block storage service."""
    for i, bdm in enumerate(body.block_device_mapping_v2):
        local_image = bdm.source_type == "image" and bdm.destination_type in (None, "local")
        if not local_image or (body.imageRef and bdm.uuid not in (None, body.imageRef)):
            raise InvalidInput(
                f"server.block_device_mapping_v2[{i}] (source_type {bdm.source_type!r}, "
                f"destination_type {bdm.destination_type!r}) is not supported: kumo boots a "
                "server from its image on the host's local disk and has no volumes")
    if body.imageRef:
        return body.imageRef
    for bdm in body.block_device_mapping_v2:
        if bdm.uuid and str(bdm.boot_index) == "0":
            return bdm.uuid
    raise InvalidInput("server.imageRef is required: kumo boots servers from an image "
                       "(volumes are not supported)")


def _nics_of(body: ServerBody) -> Any:
    """Nova's ``networks``: "auto" (kumo's default: the one network the project can use),
    "none", or a list of {"uuid": network id, "fixed_ip": address}; a port made beforehand
    ({"port": id}) is not supported (kumo makes a server's ports with it)."""
    from kumo.compute.networks import NO_NICS, NicRequest

    if body.networks == "none":
        return NO_NICS
    if body.networks == "auto" or not body.networks:
        return None
    nics = []
    for i, item in enumerate(body.networks):
        if item.get("port"):
            raise InvalidInput(f"server.networks[{i}].port is not supported: give the network "
                               "(uuid) and kumo makes the port")
        uuid = item.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise InvalidInput(f"server.networks[{i}] is invalid: allowed {{\"uuid\": NETWORK "
                               "ID, \"fixed_ip\": IP}}")
        fixed = item.get("fixed_ip")
        nics.append(NicRequest(uuid, fixed if isinstance(fixed, str) and fixed else None))
    return nics


def nova_server(view: dict[str, Any], ctx: RequestContext, version: tuple[int, int],
                base: str) -> dict[str, Any]:
    """Nova's server view of kumo's, as ``ctx`` may see it at microversion ``version`` (links
    under ``base``, the request's base URL): the host a server runs on (``OS-EXT-SRV-ATTR:*``)
    and a fault's details are an admin's (Nova policies os-extended-server-attributes and the
    fault's details); everyone gets ``hostId``."""
    fault = view.get("fault")
    out = {
        "id": view["id"], "name": view["name"], "status": view["status"],
        "tenant_id": view["project_id"], "user_id": view["user_id"],
        "image": {"id": view["image"]} if view.get("image") else "",
        "flavor": {"original_name": view["flavor"], "vcpus": view["vcpus"],
                   "ram": view["ram"], "disk": view["disk"], "ephemeral": 0, "swap": 0,
                   "extra_specs": {}},
        "key_name": view.get("key_name"), "metadata": view.get("metadata") or {},
        "addresses": {net: [{"addr": ip, "version": 4, "OS-EXT-IPS:type": "fixed"}
                            for ip in ips]
                      for net, ips in (view.get("addresses") or {}).items()},
        "created": view.get("created"), "updated": view.get("created"),
        "hostId": view.get("host_id") if "host_id" in view
        else host_id_hash(view["project_id"], view.get("host")),
        "OS-EXT-STS:vm_state": view.get("vm_state"),
        "OS-EXT-STS:task_state": view.get("task_state"),
        "OS-EXT-STS:power_state": _POWER.get(view.get("power_state") or "", 0),
        "OS-SRV-USG:launched_at": view.get("launched_at"),
        "config_drive": "True", "locked": False, "tags": [],
        "links": _links(base, view["id"]),
    }
    if ctx.is_admin:
        out["OS-EXT-SRV-ATTR:host"] = view.get("host")
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = view.get("host")
        out["OS-EXT-SRV-ATTR:instance_name"] = naming.domain_name(view["id"])
        if version >= (2, 3):  # Nova's extended attributes from 2.3 on
            out["OS-EXT-SRV-ATTR:user_data"] = view.get("user_data")
    if fault:
        out["fault"] = {"code": fault.get("code") or 500, "message": fault.get("message"),
                        "created": view.get("created")}
        if ctx.is_admin:
            out["fault"]["details"] = fault.get("details") or ""
    return out


#: kumo's power state names -> Nova's numeric power_state
_POWER = {"nostate": 0, "running": 1, "paused": 3, "shutdown": 4, "crashed": 6,
          "suspended": 7}


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _links(base: str, server_id: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": f"{base}/compute/v2.1/servers/{server_id}"}]


def _answer(body: dict[str, Any]) -> JSONResponse:
    """The most frequent answers (show, list) as JSON at once: FastAPI would otherwise validate
    and re-encode the returned dict against the ``dict`` return type, on another worker thread
    (a third of a show's CPU time)."""
    return JSONResponse(body)


def _visible(request: Request, ctx: RequestContext) -> list[dict[str, Any]]:
    all_projects = request.query_params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if all_projects:
        ctx.require_admin("listing every project's servers (all_tenants)")
    rows = service.list_servers(env_of(request), ctx, all_projects=all_projects)
    name = request.query_params.get("name")
    if name:  # Nova matches name as a regular expression; kumo exactly (no ReDoS)
        rows = [r for r in rows if r["name"] == name]
    status = request.query_params.get("status")
    if status:
        rows = [r for r in rows if r["status"] == status.upper()]
    return rows


@router.get("/servers/detail")
def list_detail(request: Request, ctx: RequestContext = Depends(context)) -> JSONResponse:
    version, base = api_version(request), _base(request)
    return _answer({"servers": [nova_server(r, ctx, version, base)
                                for r in _visible(request, ctx)]})


@router.get("/servers")
def list_servers(request: Request, ctx: RequestContext = Depends(context)) -> JSONResponse:
    base = _base(request)
    return _answer({"servers": [{"id": r["id"], "name": r["name"],
                                 "links": _links(base, r["id"])}
                                for r in _visible(request, ctx)]})


def _by_id(request: Request, ctx: RequestContext, server_id: str) -> dict[str, Any]:
    view = service.show_server(env_of(request), ctx, server_id)
    if view["id"] != server_id:  # a name is no id here: the clients fall back to ?name=
        raise NotFound(f"Instance {server_id} could not be found.")
    return view


@router.get("/servers/{server_id}")
def show(server_id: str, request: Request,
         ctx: RequestContext = Depends(context)) -> JSONResponse:
    return _answer({"server": nova_server(_by_id(request, ctx, server_id), ctx,
                                          api_version(request), _base(request))})


@router.post("/servers", status_code=202)
def create(body: ServerCreate, request: Request, ctx: RequestContext = Depends(context)) -> dict:
    s = body.server
    env = env_of(request)
    instance, host_name = service.new_instance(
        env, ctx, s.name, image=_image_of(s), flavor=s.flavorRef, key_name=s.key_name,
        user_data=s.user_data, metadata=s.metadata, admin_password=s.adminPass,
        networks=_nics_of(s),
        security_groups=[g.get("name", "") for g in s.security_groups] or None)
    # the Windows admin password is made here, not by the build, so that the one answer the
    # caller gets can carry it (Nova's adminPass); the build writes it to the config drive and
    # keeps only its hash (and its encryption for an RSA key pair: os-server-password)
    password = service.password_for_answer(env, instance, s.adminPass)
    entry_id = service.schedule_and_record(env, ctx, instance, host=host_name)
    uuid = instance.uuid
    reschedule.build_in_background(env, ctx, entry_id, uuid)
    answer: dict[str, Any] = {"id": uuid, "links": _links(_base(request), uuid),
        "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}]}
    if password is not None:  # shown once: kumo keeps only its hash
        answer["adminPass"] = password
    return {"server": answer}


def _evacuate(env: Any, ctx: RequestContext, server_id: str, host: str | None) -> None:
    """Checks and the claim within the request (409 for a source host that is up or not
    fenced, a vTPM, a busy server); the rebuild on the target on a worker thread, as a create's
    build (Nova's evacuate is asynchronous too: the server shows REBUILD/BUILD, then ACTIVE)."""
    from kumo.compute import evacuate

    uuid, entry_id = evacuate.evacuate_server(env, ctx, server_id, host)
    reschedule.build_in_background(env, ctx, entry_id, uuid)


@router.delete("/servers/{server_id}", status_code=204)
def delete(server_id: str, request: Request, ctx: RequestContext = Depends(context)) -> Response:
    _by_id(request, ctx, server_id)
    env = env_of(request)
    # a server still building (BUILD): the delete is queued behind its build, which stops at
    # its next step, as Nova deletes a server in BUILD (kumo.compute.pending_delete)
    if not pending_delete.request_in_background(env, ctx, server_id):
        service.delete_server(env, ctx, server_id)
    return Response(status_code=204)


class Reboot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["HARD", "SOFT", "hard", "soft"]


class Evacuate(BaseModel):
    """Nova's evacuate body (2.1-2.95): ``host`` optional; ``onSharedStorage`` (before 2.14)
    and ``force`` (2.29-2.67) are accepted and change nothing -- kumo knows it has no shared
    storage, and a named host is always checked by the scheduler's filters; ``adminPass`` is
    not taken (the rebuilt guest keeps what its image and config drive give it)."""

    model_config = ConfigDict(extra="forbid")

    host: str | None = Field(None, min_length=1, max_length=255)
    adminPass: str | None = Field(None, max_length=255)
    onSharedStorage: bool | None = None
    force: bool | None = None


class Rebuild(BaseModel):
    """Nova's rebuild body as openstacksdk/openstackclient send it. kumo's rebuild re-makes the
    root disk and config drive from ``imageRef`` and boots (kumo.compute.servers.rebuild_server,
    as ``kumo server rebuild``); what would change anything else about the server is refused
    with the reason, never silently dropped."""

    model_config = ConfigDict(extra="forbid")

    imageRef: str = Field(min_length=1, max_length=255)
    preserve_ephemeral: bool | None = None
    name: str | None = None
    adminPass: str | None = None
    accessIPv4: str | None = None
    accessIPv6: str | None = None
    metadata: dict[str, Any] | None = None
    user_data: str | None = None
    key_name: str | None = None
    description: str | None = None
    trusted_image_certificates: list[str] | None = None
    hostname: str | None = None
    personality: list[Any] | None = None

    def refusal(self) -> str | None:
        """Why kumo cannot rebuild as asked, or None."""
        if self.preserve_ephemeral:
            return ("preserve_ephemeral true is not supported: kumo's rebuild re-makes the "
                    "server's disks from the image (give false or leave it out)")
        given = sorted(k for k in self.model_fields_set
                       if k not in ("imageRef", "preserve_ephemeral"))
        if given:
            return (f"rebuild with {', '.join(given)} is not supported: kumo's rebuild takes "
                    "imageRef only (the server keeps its name, key pair, user data and "
                    "metadata; a Windows guest gets a new admin password, answered as adminPass)")
        return None


class Action(BaseModel):
    """One action per request (Nova's ``POST /servers/{id}/action``); the ones kumo serves."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    reboot: Reboot | None = None
    rebuild: Rebuild | None = None
    evacuate: Evacuate | None = None
    # cold migration and resize (kumo.api.routers.server_moves): migrate's body may be null
    migrate: Migrate | None = None
    resize: Resize | None = None
    confirmResize: None | dict = None
    revertResize: None | dict = None
    os_start: None | dict = Field(None, alias="os-start")
    os_stop: None | dict = Field(None, alias="os-stop")
    # kumo.api.routers.consoles answers these two
    os_getConsoleOutput: consoles.ConsoleOutput | None = Field(None, alias="os-getConsoleOutput")
    os_getVNCConsole: consoles.VncConsole | None = Field(None, alias="os-getVNCConsole")


@router.post("/servers/{server_id}/action", status_code=202)
def action(server_id: str, body: Action, request: Request,
           ctx: RequestContext = Depends(context)) -> Response:
    given = body.model_fields_set
    if len(given) != 1:
        raise InvalidInput("the body must name exactly one action: allowed reboot, rebuild, "
                           "os-start, os-stop, evacuate, os-getConsoleOutput, os-getVNCConsole, migrate, "
                           "resize, confirmResize, revertResize")
    _by_id(request, ctx, server_id)
    env = env_of(request)
    if body.os_getConsoleOutput is not None:
        return consoles.console_output(env, ctx, server_id, body.os_getConsoleOutput)
    if body.os_getVNCConsole is not None:
        return consoles.vnc_console(env, ctx, server_id, body.os_getVNCConsole)
    if given & MOVE_ACTIONS:
        return move_action(env, ctx, request, server_id, body)
    if body.evacuate is not None:
        _evacuate(env, ctx, server_id, body.evacuate.host)
        return Response(status_code=200)
    if body.rebuild is not None:
        return _rebuild(request, ctx, server_id, body.rebuild)
    if body.reboot is not None:
        service.reboot_server(env, ctx, server_id, hard=body.reboot.type.upper() == "HARD")
    elif "os_start" in given:
        service.start_server(env, ctx, server_id)
    else:
        service.stop_server(env, ctx, server_id)
    return Response(status_code=202)


def _rebuild(request: Request, ctx: RequestContext, server_id: str,
             body: Rebuild) -> JSONResponse:
    """Within the request, as the other actions here (the journal makes it safe to interrupt):
    the 202 comes when the server is rebuilt, with the server and, for a Windows guest, its new
    admin password (Nova's adminPass; shown once, kumo keeps its hash). A failed rebuild is
    answered with its reason, and the server shows ERROR with its fault."""
    refusal = body.refusal()
    if refusal is not None:
        raise InvalidInput(refusal)
    env = env_of(request)
    result = service.rebuild_server(env, ctx, server_id, image=body.imageRef)
    server = nova_server(result.server, ctx, api_version(request), _base(request))
    if result.admin_password is not None:
        server["adminPass"] = result.admin_password
    return JSONResponse({"server": server}, status_code=202)

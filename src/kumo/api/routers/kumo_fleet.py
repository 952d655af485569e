"""kumo's fleet-wide operations over HTTP, under ``/kumo/v1`` beside placement explain and lint
(kumo.api.routers.kumo_ext), so ``kumo audit|reconcile|host evacuate --os-cloud NAME`` run on a
remote controller. Each route calls the function the local command calls, with the caller's
context, and answers what the command prints, as JSON:

    GET  /kumo/v1/audit                    ?host=...&instance=...&all_projects=&guest_clock=
                                            &parallel=
                                           -> {"findings": [...], "summary", "worst", ...}
    POST /kumo/v1/reconcile                {"hosts", "instances", "all_projects",
                                            "set_properties", "unset_properties", "from_image",
                                            "sync_time", "reboot", "apply"}
                                           -> the plan {"plan": [...], "text"}, or with
                                              "apply" the run {"run_id", "state", "items"...}
    GET  /kumo/v1/reconcile/runs/{id}      -> the run
    POST /kumo/v1/reconcile/runs/{id}/revert  {"reboot"} -> the reverting run
    POST /kumo/v1/hosts/{host}/evacuate    {"accept_rebuild", "force_unfenced_reason",
                                            "accept_new_tpm", "parallel", "dry_run"}
                                           -> {"host", "moved", "skipped", "failed", "summary"}
                                              or with "dry_run" {"host", "plan", "reserved"}

All of them are an admin's: they read or change every project's servers and name hosts (Nova's
os-hypervisors and evacuate policies are admin-only too), so a member or reader is answered 403
before anything runs. Errors come in the Identity/Image shape (kumo.api.faults); a refused
evacuation (a host up, or not fenced) is 409 with the reason, as the Compute API's evacuate.
Reconcile and evacuate run within the request, as the local commands do (the journal makes
them resumable: a dropped connection leaves the run to be resumed by the same request).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from kumo.api.auth import context, env_of
from kumo.compute.context import RequestContext

router = APIRouter(prefix="/kumo/v1", tags=["kumo"])

NAMES = 64  # hosts or servers named in one request (the CLI's repeatable options)


def admin(action: str) -> Callable[..., RequestContext]:
    """A dependency: the caller's context if it is an admin's, else 403 naming ``action``."""
    def dependency(ctx: RequestContext = Depends(context)) -> RequestContext:
        ctx.require_admin(action)
        return ctx
    return dependency


AUDIT, RECONCILE = admin("kumo audit"), admin("kumo reconcile")
EVACUATE = admin("kumo host evacuate")


@router.get("/audit")
def audit(request: Request,
          host: list[str] = Query([], max_length=NAMES), instance: list[str] = Query(
              [], max_length=NAMES), all_projects: bool = False, guest_clock: bool = True,
          parallel: int = Query(8, ge=1, le=256),
          ctx: RequestContext = Depends(AUDIT)) -> dict[str, Any]:
    """``kumo audit``: every selected instance against its record, its image and today's
    rules (``host`` and ``instance`` repeatable, as the command's options)."""
    from kumo.audit.fleet import audit as run_audit
    from kumo.compute.selection import Selection

    report = run_audit(env_of(request), ctx, Selection.of(host, instance, all_projects),
                       parallel=parallel, guest_clock=guest_clock)
    return {"findings": [f.as_dict() for f in report.findings], "summary": report.summary(),
            "worst": report.worst, "instances": report.instances, "hosts": report.hosts}


class ReconcileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hosts: list[str] = Field(default_factory=list, max_length=NAMES)
    instances: list[str] = Field(default_factory=list, max_length=NAMES)
    all_projects: bool = False
    set_properties: dict[str, str] = Field(default_factory=dict, max_length=128)
    unset_properties: list[str] = Field(default_factory=list, max_length=128)
    from_image: bool = False
    sync_time: bool = False
    reboot: Literal["now", "on-next-stop"] | None = None
    apply: bool = False


class RevertBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reboot: Literal["now", "on-next-stop"] | None = None


@router.post("/reconcile")
def reconcile(body: ReconcileBody, request: Request,
              ctx: RequestContext = Depends(RECONCILE)) -> dict[str, Any]:
    """``kumo reconcile``: the plan, or with ``apply`` the run that carries it out."""
    from kumo.compute import reconcile as plans, reconcile_run
    from kumo.compute.selection import Selection

    asked = plans.Request(Selection.of(body.hosts, body.instances, body.all_projects),
                          body.set_properties, tuple(body.unset_properties), body.from_image,
                          body.sync_time, body.reboot)
    env = env_of(request)
    if body.apply:
        return reconcile_run.apply(env, ctx, asked).as_dict()
    found = plans.plan(env, ctx, asked)
    return {"plan": [p.as_dict() for p in found], "text": plans.plan_text(found)}


@router.get("/reconcile/runs/{run_id}")
def reconcile_run_show(run_id: str, request: Request,
                       ctx: RequestContext = Depends(RECONCILE)) -> dict[str, Any]:
    from kumo.compute import reconcile_run

    return reconcile_run.show_run(env_of(request), ctx, run_id).as_dict()


@router.post("/reconcile/runs/{run_id}/revert")
def reconcile_run_revert(run_id: str, request: Request, body: RevertBody | None = None,
                         ctx: RequestContext = Depends(RECONCILE)) -> dict[str, Any]:
    from kumo.compute import reconcile_run

    reboot = body.reboot if body is not None else None
    return reconcile_run.revert(env_of(request), ctx, run_id, reboot).as_dict()


class EvacuateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accept_rebuild: bool = False
    #: evacuate a down host not confirmed fenced, saying why (logged with who asked)
    force_unfenced_reason: str | None = Field(None, min_length=1, max_length=1024)
    accept_new_tpm: bool = False
    parallel: int | None = Field(None, ge=1, le=256)
    dry_run: bool = False


@router.post("/hosts/{host}/evacuate")
def evacuate_host(host: str, request: Request, body: EvacuateBody | None = None,
                  ctx: RequestContext = Depends(EVACUATE)) -> dict[str, Any]:
    """``kumo host evacuate HOST``: every server of the failed, fenced host rebuilt elsewhere
    (or with ``dry_run`` the plan)."""
    from kumo.compute import evacuate

    b = body or EvacuateBody()
    env = env_of(request)
    reason = b.force_unfenced_reason.strip() if b.force_unfenced_reason else None
    if b.force_unfenced_reason is not None and not reason:
        from kumo.errors import InvalidInput

        raise InvalidInput("force_unfenced_reason is blank: say why the host may be evacuated "
                           "unfenced (it is logged with who asked)")
    if b.dry_run:
        name, items = evacuate.plan(env, ctx, host, force_unfenced_reason=reason,
                                    accept_new_tpm=b.accept_new_tpm)
        return {"host": name, "reserved": evacuate.reserved_hosts(env, name),
                "plan": [asdict(i) for i in items]}
    summary = evacuate.evacuate(env, ctx, host, accept_rebuild=b.accept_rebuild,
                                force_unfenced_reason=reason, parallel=b.parallel,
                                accept_new_tpm=b.accept_new_tpm)
    return {"host": summary.host, "moved": [list(m) for m in summary.moved],
            "skipped": [list(m) for m in summary.skipped],
            "failed": [list(m) for m in summary.failed], "summary": summary.line()}

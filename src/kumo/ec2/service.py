"""One EC2 request, from its parameters and signature to the answer (the HTTP side is
kumo.api.routers.ec2): authenticate (SigV4 against the credential's secret, the scope, the
time window, then the replay check), find the action, check its parameters and the caller's
roles, run it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from kumo.api.routers.identity import REGION  # the catalog's region: EC2's scope too
from kumo.compute.env import ComputeEnv
from kumo.ec2 import replay, sigv4, xml
from kumo.ec2.call import Call, find
from kumo.ec2.errors import Ec2Error, auth_failure
from kumo.ec2.query import Params
from kumo.identity import ec2_credentials

log = logging.getLogger("kumo.api.ec2")


@dataclass(frozen=True)
class Answer:
    action: str
    body: bytes


def dispatch(env: ComputeEnv, req: sigv4.Request, pairs: list[tuple[str, str]], now: datetime,
             endpoint: str, request_id: str) -> Answer:
    import kumo.ec2.actions  # noqa: F401  (registers the actions)

    params = Params.of(pairs)
    sig = sigv4.parse(req, params.values)
    found = ec2_credentials.authenticate(env.db, env.settings.credential_key_file,
                                         sig.access_key)
    if found is None:
        raise auth_failure("AWS was not able to validate the provided access credentials: "
                           f"access key {sig.access_key} is unknown or disabled")
    sigv4.check_scope(sig, REGION)
    sigv4.check_time(sig, now)
    sigv4.verify(req, sig, found.secret)
    ctx = found.context
    act = find(params.action)
    if act.mutating:  # kumo.ec2.replay: why only requests that change something
        replay.accept_once(env.db, sig.signature, sig.valid_until, now)
    version = params.version
    params.check_known(act.params)
    call = Call(env, ctx, params, endpoint)
    if act.mutating and call.reader_only:
        raise Ec2Error("UnauthorizedOperation", f"You are not authorized to perform this "
                       f"operation: {act.name} changes resources, and user {ctx.user_id} "
                       f"holds only the reader role on project {ctx.project_id}", 403)
    if params.boolean("DryRun"):
        raise Ec2Error("DryRunOperation", "Request would have succeeded, but DryRun flag is "
                                          "set.", 412)
    log.info("ec2 %s by %s (user %s, project %s)", act.name, sig.access_key, ctx.user_id,
             ctx.project_id, extra={"request_id": request_id})
    body = act.handler(call)
    return Answer(act.name, xml.response(act.name, version, request_id, body))

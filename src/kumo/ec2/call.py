"""One EC2 action call: who asks, with which parameters, over which environment; and the
table of actions (``action`` registers one with the parameters it takes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.ec2.errors import Ec2Error
from kumo.ec2.query import Params


@dataclass(frozen=True)
class Call:
    env: ComputeEnv
    #: who asks: the credential's user and project with their roles now
    ctx: RequestContext
    params: Params
    #: this API's URL (for DescribeRegions' endpoint)
    endpoint: str

    @property
    def own(self) -> RequestContext:
        """ctx seeing only what the project owns (and public images): EC2 has no view across
        projects, even for an admin's credentials."""
        return RequestContext(self.ctx.user_id, self.ctx.project_id, (), self.ctx.request_id)

    @property
    def reader_only(self) -> bool:
        return not ({"admin", "member"} & set(self.ctx.roles))


@dataclass(frozen=True)
class Action:
    name: str
    handler: Callable[[Call], dict[str, Any]]
    params: frozenset[str]
    #: changes something: refused to a reader, and answered DryRunOperation under DryRun
    mutating: bool


ACTIONS: dict[str, Action] = {}


def action(name: str, params: tuple[str, ...] = (), mutating: bool = False):
    def register(handler: Callable[[Call], dict[str, Any]]):
        ACTIONS[name] = Action(name, handler, frozenset(params), mutating)
        return handler
    return register


def find(name: str) -> Action:
    try:
        return ACTIONS[name]
    except KeyError:
        shown = name if len(name) <= 64 else name[:64] + "..."
        raise Ec2Error("InvalidAction", f"The action {shown} is not valid for this web "
                       f"service: kumo serves {', '.join(sorted(ACTIONS))}") from None



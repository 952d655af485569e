"""Security groups: named sets of rules a port's traffic must match, per project.

Every project has a ``default`` group, made the first time one of its servers gets a port: it
allows all egress (IPv4) and, because the filters are stateful, the replies to it; nothing comes
in until an ingress rule lets it (protocol tcp/udp/icmp or any, a port range for tcp/udp, a
remote CIDR). New ports get the default group. The rules are enforced on each host by libvirt's
nwfilter (kumo.compute.host_networks, kumo.backends.libvirt_xml.nwfilter), as Nova's libvirt
firewall driver did; changing a group redefines its filter on every host with a port in it, and
libvirt re-applies a redefined filter to the running guests that use it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kumo.catalog.names import check_name
from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.compute.lookup import _find
from kumo.db.models import RuleDirection, SecurityGroup, SecurityGroupRule
from kumo.errors import InvalidInput, StateError

DEFAULT = "default"
PROTOCOLS = ("tcp", "udp", "icmp")


def group_visible(ctx: RequestContext) -> Any:
    if ctx.is_admin:
        return SecurityGroup.id.is_not(None)
    return SecurityGroup.project_id == ctx.project_id


def find_group(s: Session, ctx: RequestContext, ref: str) -> SecurityGroup:
    """A group by id or name; a name is looked up in the caller's project first (every project
    has a group named default)."""
    own = s.scalars(select(SecurityGroup).where(SecurityGroup.name == ref,
                                                SecurityGroup.project_id == ctx.project_id)
                    ).first()
    if own is not None:
        return own
    return _find(s, "security group", SecurityGroup, SecurityGroup.uuid, SecurityGroup.name,
                 group_visible(ctx), ref)


def ensure_default(env: ComputeEnv, project_id: str) -> int:
    """The id of the project's default group, made (with its egress rule) if missing. Two
    processes making it at once: the unique (project, name) constraint lets one win, the other
    reads the winner's."""
    for _ in range(3):
        with env.db.session_scope(readonly=True) as s:
            found = s.scalar(select(SecurityGroup.id).where(
                SecurityGroup.project_id == project_id, SecurityGroup.name == DEFAULT))
        if found is not None:
            return found
        try:
            with env.db.session_scope() as s:
                group = SecurityGroup(name=DEFAULT, project_id=project_id,
                                      description="Default security group: all egress and "
                                                  "its replies; no ingress")
                group.rules.append(SecurityGroupRule(direction=RuleDirection.EGRESS.value))
                s.add(group)
                s.flush()
                return group.id
        except IntegrityError:
            continue
    raise StateError(f"could not make the default security group of project {project_id}")


def create_group(env: ComputeEnv, ctx: RequestContext, name: str,
                 description: str | None = None) -> dict[str, Any]:
    check_name("security group", name)
    with env.db.session_scope() as s:
        if s.scalar(select(SecurityGroup.id).where(SecurityGroup.name == name,
                                                   SecurityGroup.project_id == ctx.project_id)):
            raise InvalidInput(f"security group name {name!r} is already taken in project "
                               f"{ctx.project_id}")
        group = SecurityGroup(name=name, project_id=ctx.project_id, description=description)
        group.rules.append(SecurityGroupRule(direction=RuleDirection.EGRESS.value))
        s.add(group)
        s.flush()
        return group_view(group)


def list_groups(env: ComputeEnv, ctx: RequestContext) -> list[dict[str, Any]]:
    ensure_default(env, ctx.project_id)  # as Neutron: a project's first look makes it
    with env.db.session_scope(readonly=True) as s:
        return [group_view(g) for g in s.scalars(select(SecurityGroup)
                                                 .where(group_visible(ctx))
                                                 .order_by(SecurityGroup.id))]


def show_group(env: ComputeEnv, ctx: RequestContext, ref: str) -> dict[str, Any]:
    ensure_default(env, ctx.project_id)
    with env.db.session_scope(readonly=True) as s:
        return group_view(find_group(s, ctx, ref))


def delete_group(env: ComputeEnv, ctx: RequestContext, ref: str) -> str:
    with env.db.session_scope() as s:
        group = find_group(s, ctx, ref)
        if group.name == DEFAULT:
            raise StateError("the default security group cannot be deleted (Neutron refuses "
                             "it too)")
        from kumo.db.models import port_security_groups
        used = s.scalar(select(port_security_groups.c.port_id).where(
            port_security_groups.c.security_group_id == group.id).limit(1))
        if used is not None:
            raise StateError(f"security group {ref!r} is in use by ports: delete their servers "
                             "first")
        uuid = group.uuid
        s.delete(group)
    return uuid


def parse_rule(direction: str, protocol: str | None, port_range: str | None,
               remote_ip: str | None) -> SecurityGroupRule:
    """A rule from the command's words, or InvalidInput naming the bad one."""
    if direction not in ("ingress", "egress"):
        raise InvalidInput(f"direction {direction!r} is invalid: allowed ingress, egress")
    proto = None if protocol in (None, "any") else protocol
    if proto is not None and proto not in PROTOCOLS:
        raise InvalidInput(f"protocol {protocol!r} is invalid: allowed tcp, udp, icmp, any")
    low = high = None
    if port_range is not None:
        if proto not in ("tcp", "udp"):
            raise InvalidInput(f"--dst-port {port_range!r} needs protocol tcp or udp")
        first, _, last = port_range.partition(":")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            raise InvalidInput(f"--dst-port {port_range!r} is invalid: allowed PORT or "
                               "MIN:MAX, 1 to 65535") from None
        if not 1 <= low <= high <= 65535:
            raise InvalidInput(f"--dst-port {port_range!r} is invalid: allowed PORT or MIN:MAX "
                               "with 1 <= MIN <= MAX <= 65535")
    prefix = None
    if remote_ip is not None:
        try:
            net = ipaddress.ip_network(remote_ip, strict=False)
        except ValueError:
            raise InvalidInput(f"--remote-ip {remote_ip!r} is invalid: allowed an IPv4 CIDR "
                               "such as 10.0.0.0/24") from None
        if net.version != 4:
            raise InvalidInput(f"--remote-ip {remote_ip!r} is invalid (IPv6): allowed an IPv4 "
                               "CIDR such as 10.0.0.0/24")
        prefix = str(net)
    return SecurityGroupRule(direction=direction, ethertype="IPv4", protocol=proto,
                             port_range_min=low,
                             port_range_max=high, remote_ip_prefix=prefix)


def add_rule(env: ComputeEnv, ctx: RequestContext, group_ref: str, rule: SecurityGroupRule
             ) -> dict[str, Any]:
    """Add ``rule`` (parse_rule) to the group and update the filters of its running guests."""
    from kumo.compute import host_networks

    ensure_default(env, ctx.project_id)
    with env.db.session_scope() as s:
        group = find_group(s, ctx, group_ref)
        for r in group.rules:
            if _same(r, rule):
                raise InvalidInput(f"security group {group.name!r} already has this rule "
                                   f"({r.uuid})")
        group.rules.append(rule)
        s.flush()
        view, group_id = rule_view(rule), group.id
    warnings = host_networks.update_group(env, group_id)
    return {**view, "warnings": warnings} if warnings else view


def delete_rule(env: ComputeEnv, ctx: RequestContext, rule_uuid: str) -> str:
    from kumo.compute import host_networks

    with env.db.session_scope() as s:
        rule = s.scalar(select(SecurityGroupRule).where(SecurityGroupRule.uuid == rule_uuid))
        if rule is None or not (ctx.is_admin or rule.group.project_id == ctx.project_id):
            raise InvalidInput(f"security group rule {rule_uuid!r} not found")
        group_id = rule.security_group_id
        s.delete(rule)
    host_networks.update_group(env, group_id)
    return rule_uuid


def _same(a: SecurityGroupRule, b: SecurityGroupRule) -> bool:
    return (a.direction, a.protocol, a.port_range_min, a.port_range_max, a.remote_ip_prefix) \
        == (b.direction, b.protocol, b.port_range_min, b.port_range_max, b.remote_ip_prefix)


def rule_view(r: SecurityGroupRule) -> dict[str, Any]:
    ports = (None if r.port_range_min is None else
             f"{r.port_range_min}" if r.port_range_min == r.port_range_max else
             f"{r.port_range_min}:{r.port_range_max}")
    return {"id": r.uuid, "direction": r.direction, "ethertype": r.ethertype,
            "protocol": r.protocol or "any", "port_range": ports,
            "remote_ip_prefix": r.remote_ip_prefix or "0.0.0.0/0"}


def group_view(g: SecurityGroup) -> dict[str, Any]:
    return {"id": g.uuid, "name": g.name, "project_id": g.project_id,
            "description": g.description, "rules": [rule_view(r) for r in g.rules]}

"""``kumo network ...`` (create, list, show, delete) and ``kumo security-group ...`` (create,
list, show, delete, rule create, rule delete), thin over kumo.compute.networks and
kumo.compute.secgroups."""

from __future__ import annotations

import click

from kumo.cli.output import Output, list_options, show_options
from kumo.cli.servers import run
from kumo.compute import networks as service
from kumo.compute import secgroups

LIST_COLUMNS = ("id", "name", "mode", "subnet", "gateway", "dhcp", "shared", "ports")
GROUP_COLUMNS = ("id", "name", "project_id", "description")
RULE_COLUMNS = ("id", "direction", "protocol", "port_range", "remote_ip_prefix")


@click.group("network")
def network() -> None:
    """Networks: a subnet, kumo's addresses for servers' ports, a libvirt network (or host
    bridge) on each host."""


@network.command("create")
@click.argument("name")
@click.option("--subnet", required=True, metavar="CIDR", help="IPv4 subnet, e.g. 10.0.0.0/24.")
@click.option("--gateway", default=None, metavar="IP",
              help="Gateway address (default: the subnet's first address; in nat, route and "
                   "isolated modes the host's address on the network).")
@click.option("--dhcp/--no-dhcp", default=True, show_default=True,
              help="Hand out each port's address by DHCP reservation (else the guest sets it "
                   "from its config drive's network_data.json).")
@click.option("--mode", type=click.Choice(service.MODES), default="nat", show_default=True,
              help="nat: out through the host; route: routed without NAT; isolated: guests "
                   "only; bridge: an existing host bridge (--bridge).")
@click.option("--bridge", default=None, metavar="BR", help="The host bridge (mode bridge).")
@click.option("--shared", is_flag=True, help="Every project may attach to it (admin).")
@show_options
def create(name: str, subnet: str, gateway: str | None, dhcp: bool, mode: str,
           bridge: str | None, shared: bool, out: Output) -> None:
    """Create a network; hosts get it when a guest there first needs it."""
    out.one(run(lambda env, ctx: service.create_network(
        env, ctx, name, subnet=subnet, gateway=gateway, dhcp=dhcp, mode=mode, bridge=bridge,
        shared=shared)), f"network {name}")


@network.command("list")
@list_options
def list_(out: Output) -> None:
    """List the networks you may attach to (yours and shared ones)."""
    out.many(run(service.list_networks), LIST_COLUMNS, "networks")


@network.command("show")
@click.argument("ref", metavar="NETWORK")
@show_options
def show(ref: str, out: Output) -> None:
    """Show a network, its subnet and how many ports it has."""
    out.one(run(lambda env, ctx: service.show_network(env, ctx, ref)))


@network.command("delete")
@click.argument("refs", metavar="NETWORK...", nargs=-1, required=True)
def delete(refs: tuple[str, ...]) -> None:
    """Delete networks (refused while servers have ports on them); each host's libvirt network
    goes with it."""
    def action(env, ctx) -> None:
        for ref in refs:
            uuid, warnings = service.delete_network(env, ctx, ref)
            for w in warnings:
                click.echo(f"kumo: warning: {w}", err=True)
            click.echo(f"deleted network {uuid}")
    run(action)


# --- security groups -----------------------------------------------------------------------------

@click.group("security-group")
def security_group() -> None:
    """Security groups: ingress and egress rules enforced on ports by libvirt nwfilter."""


@security_group.command("create")
@click.argument("name")
@click.option("--description", default=None)
@show_options
def group_create(name: str, description: str | None, out: Output) -> None:
    """Create a group (it allows all egress and its replies until you change its rules)."""
    out.one(run(lambda env, ctx: secgroups.create_group(env, ctx, name, description)),
            f"security group {name}")


@security_group.command("list")
@list_options
def group_list(out: Output) -> None:
    """List your project's groups."""
    out.many(run(secgroups.list_groups), GROUP_COLUMNS, "security groups")


@security_group.command("show")
@click.argument("ref", metavar="GROUP")
@show_options
def group_show(ref: str, out: Output) -> None:
    """Show a group and its rules."""
    out.one(run(lambda env, ctx: secgroups.show_group(env, ctx, ref)))


@security_group.command("delete")
@click.argument("ref", metavar="GROUP")
def group_delete(ref: str) -> None:
    """Delete a group no port uses (not default)."""
    click.echo(f"deleted security group {run(lambda env, ctx: secgroups.delete_group(env, ctx, ref))}")


@security_group.group("rule")
def rule() -> None:
    """A group's rules."""


@rule.command("create")
@click.argument("group", metavar="GROUP")
@click.option("--ingress", "direction", flag_value="ingress", default=True,
              help="Traffic to the guests (default).")
@click.option("--egress", "direction", flag_value="egress", help="Traffic from the guests.")
@click.option("--protocol", default="any", show_default=True,
              type=click.Choice(["tcp", "udp", "icmp", "any"]))
@click.option("--dst-port", "port_range", default=None, metavar="PORT[:MAX]",
              help="Destination port or range (tcp, udp).")
@click.option("--remote-ip", default=None, metavar="CIDR",
              help="The peers' prefix (default: anywhere).")
@show_options
def rule_create(group: str, direction: str, protocol: str, port_range: str | None,
                remote_ip: str | None, out: Output) -> None:
    """Add a rule; the filters of running guests in the group are updated at once."""
    new = secgroups.parse_rule(direction, protocol, port_range, remote_ip)
    out.one(run(lambda env, ctx: secgroups.add_rule(env, ctx, group, new)))


@rule.command("delete")
@click.argument("rule_id", metavar="RULE")
def rule_delete(rule_id: str) -> None:
    """Remove a rule; the running guests' filters follow."""
    click.echo(f"deleted rule {run(lambda env, ctx: secgroups.delete_rule(env, ctx, rule_id))}")

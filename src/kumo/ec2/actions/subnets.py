"""DescribeSubnets, and the subnet a RunInstances' SubnetId names: kumo networks' subnets as
EC2 subnets (``subnet-`` ids from the subnet's uuid, stable: kumo.ec2.ids), each network as
the VPC of its one subnet (``vpc-``).

What a project sees is what it may attach a server to (kumo.compute.networks
network_visible): its own networks and shared ones -- never another project's, even with an
admin's credentials (EC2 has no view across accounts). Subnets are not tied to one
availability zone in kumo (any host can carry a network): each is shown in the first zone, as
EC2 requires one.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.compute.networks import network_visible
from kumo.db.models import Network, Port, Subnet
from kumo.ec2 import ids
from kumo.ec2.actions.zones import zone_names
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error
from kumo.ec2.paging import paged
from kumo.scheduler.inventory import DEFAULT_ZONE

FILTERS = ("subnet-id", "vpc-id", "cidr-block", "cidr-block-association.cidr-block",
           "state", "availability-zone", "owner-id", "default-for-az", "tag:", "tag-key",
           "tag-value")


def visible_subnets(s: Session, call: Call) -> list[Subnet]:
    return list(s.scalars(select(Subnet).join(Network).where(network_visible(call.own))
                          .order_by(Subnet.id)))


def find_subnet(s: Session, call: Call, ec2_id: str) -> Subnet:
    """The visible subnet ``subnet-...``; InvalidSubnetID.Malformed / .NotFound."""
    ids.parse(ec2_id, ("subnet",), "InvalidSubnetID.Malformed", "subnet")
    found = [sn for sn in visible_subnets(s, call) if ids.subnet_id(sn.uuid) == ec2_id
             or (len(ec2_id) == 15 and ids.hex17(sn.uuid).startswith(ec2_id[7:]))]
    if len(found) != 1:
        raise Ec2Error("InvalidSubnetID.NotFound", f"The subnet ID '{ec2_id}' does not exist")
    return found[0]


def ec2_subnet(sn: Subnet, used: int, zone: str) -> dict[str, Any]:
    net = ipaddress.ip_network(sn.cidr)
    # network, broadcast and gateway are never given out (kumo.compute.ipam)
    free = max(net.num_addresses - 2 - (1 if sn.gateway_ip else 0) - used, 0)
    return {
        "subnetId": ids.subnet_id(sn.uuid), "subnetArn": None,
        "state": "available", "vpcId": ids.vpc_id(sn.network.uuid),
        "ownerId": sn.network.project_id, "cidrBlock": sn.cidr,
        "availableIpAddressCount": free, "availabilityZone": zone,
        "defaultForAz": False, "mapPublicIpOnLaunch": False,
        "tagSet": [{"key": "Name", "value": sn.network.name}],
    }


@action("DescribeSubnets", ("SubnetId", "Filter", "MaxResults", "NextToken"))
def describe_subnets(call: Call) -> dict[str, Any]:
    p = call.params
    wanted = p.strings("SubnetId")
    filters = p.filters(FILTERS)
    with call.env.db.session_scope(readonly=True) as s:
        rows = [find_subnet(s, call, w) for w in wanted] if wanted else visible_subnets(s, call)
        used = dict(s.execute(select(Port.subnet_id, func.count()).group_by(Port.subnet_id))
                    .all())
        zone = (zone_names(s) or [DEFAULT_ZONE])[0]
        views = [ec2_subnet(sn, used.get(sn.id, 0), zone) for sn in rows]
    items = [v for v in views if _matches(filters, v)]
    page = paged(p, "DescribeSubnets", items, lambda v: [v["subnetId"]], low=5)
    return {"subnetSet": page.items, "nextToken": page.next_token}


def _matches(filters, v: dict[str, Any]) -> bool:
    return (filters.match("subnet-id", v["subnetId"]) and filters.match("vpc-id", v["vpcId"])
            and filters.match("cidr-block", v["cidrBlock"])
            and filters.match("cidr-block-association.cidr-block", v["cidrBlock"])
            and filters.match("state", v["state"])
            and filters.match("availability-zone", v["availabilityZone"])
            and filters.match("owner-id", v["ownerId"])
            and filters.match("default-for-az", "false")
            and filters.tags({t["key"]: t["value"] for t in v["tagSet"]}))

"""DescribeRegions (the one region of kumo's catalog), DescribeAvailabilityZones (the zones of
kumo's enabled hosts: a host's own zone, else its aggregates', else "nova", as the scheduler's
AvailabilityZone filter reads them), DescribeInstanceTypes (the flavors the project may use)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kumo.api.routers.identity import REGION  # the catalog's region: EC2's zone's too
from kumo.compute import flavors as flavor_service
from kumo.db.models import Host
from kumo.ec2.call import Call, action
from kumo.ec2.errors import Ec2Error
from kumo.scheduler.inventory import zone_of


def zone_names(s: Session) -> list[str]:
    hosts = s.scalars(select(Host).where(Host.enabled.is_(True))
                      .options(selectinload(Host.aggregates)))
    return sorted({zone_of(h) for h in hosts})


@action("DescribeRegions", ("RegionName", "Filter", "AllRegions"))
def describe_regions(call: Call) -> dict[str, Any]:
    p = call.params
    names = p.strings("RegionName")
    filters = p.filters(("region-name", "endpoint", "opt-in-status"))
    p.boolean("AllRegions")
    unknown = [n for n in names if n != REGION]
    if unknown:
        raise Ec2Error("InvalidParameterValue", f"Invalid region: {', '.join(unknown)[:200]} "
                                                f"(allowed {REGION})")
    region = {"regionName": REGION, "regionEndpoint": call.endpoint,
              "optInStatus": "opt-in-not-required"}
    ok = (filters.match("region-name", REGION) and filters.match("endpoint", call.endpoint)
          and filters.match("opt-in-status", "opt-in-not-required"))
    return {"regionInfo": [region] if ok else []}


@action("DescribeAvailabilityZones", ("ZoneName", "ZoneId", "Filter", "AllAvailabilityZones"))
def describe_availability_zones(call: Call) -> dict[str, Any]:
    p = call.params
    names = p.strings("ZoneName") + p.strings("ZoneId")
    filters = p.filters(("zone-name", "zone-id", "state", "region-name", "zone-type"))
    p.boolean("AllAvailabilityZones")
    with call.env.db.session_scope(readonly=True) as s:
        zones = zone_names(s)
    unknown = [n for n in names if n not in zones]
    if unknown:
        raise Ec2Error("InvalidParameterValue",
                       f"Invalid availability zone: [{', '.join(unknown)[:200]}]")
    items = [{"zoneName": z, "zoneId": z, "zoneState": "available", "regionName": REGION,
              "zoneType": "availability-zone", "messageSet": []}
             for z in zones if not names or z in names]
    return {"availabilityZoneInfo": [
        z for z in items if filters.match("zone-name", z["zoneName"])
        and filters.match("zone-id", z["zoneId"]) and filters.match("state", z["zoneState"])
        and filters.match("region-name", REGION) and filters.match("zone-type", z["zoneType"])]}


@action("DescribeInstanceTypes", ("InstanceType", "Filter", "MaxResults", "NextToken",
                                  "DryRun"))
def describe_instance_types(call: Call) -> dict[str, Any]:
    p = call.params
    wanted = p.strings("InstanceType")
    filters = p.filters(("instance-type", "vcpu-info.default-vcpus", "memory-info.size-in-mib",
                         "current-generation"))
    p.integer("MaxResults", None, 5, 100)
    flavors = flavor_service.list_flavors(call.env, call.ctx)
    names = {f["name"] for f in flavors}
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise Ec2Error("InvalidInstanceType",
                       f"The following supplied instance types do not exist: "
                       f"[{', '.join(unknown)[:200]}]")
    items = []
    for f in flavors:
        if wanted and f["name"] not in wanted:
            continue
        item = {
            "instanceType": f["name"], "currentGeneration": True,
            "freeTierEligible": False,
            "supportedUsageClasses": ["on-demand"],
            "supportedRootDeviceTypes": ["instance-store"],
            "supportedVirtualizationTypes": ["hvm"],
            "bareMetal": False, "hypervisor": "kvm",
            "processorInfo": {"supportedArchitectures": ["x86_64"]},
            "vCpuInfo": {"defaultVCpus": f["vcpus"]},
            "memoryInfo": {"sizeInMiB": f["ram"]},
            "instanceStorageSupported": True,
            "instanceStorageInfo": {"totalSizeInGB": f["disk"] + (f.get("ephemeral") or 0)},
        }
        if (filters.match("instance-type", f["name"])
                and filters.match("vcpu-info.default-vcpus", str(f["vcpus"]))
                and filters.match("memory-info.size-in-mib", str(f["ram"]))
                and filters.match("current-generation", "true")):
            items.append(item)
    return {"instanceTypeSet": items}

"""The EC2 actions kumo serves; importing this package registers them (kumo.ec2.call)."""

from kumo.ec2.actions import images, instances, keypairs, run, subnets, tags, zones

__all__ = ["images", "instances", "keypairs", "run", "subnets", "tags", "zones"]

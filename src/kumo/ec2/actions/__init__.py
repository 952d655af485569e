"""The EC2 actions kumo serves; importing this package registers them (kumo.ec2.call)."""

from kumo.ec2.actions import (images, instances, keypairs, run, subnets,  # noqa: F401
                              tags, zones)

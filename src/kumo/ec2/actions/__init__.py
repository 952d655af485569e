"""The EC2 actions kumo serves; importing this package registers them (kumo.ec2.call)."""

from kumo.ec2.actions import images, instances, keypairs, tags, zones  # noqa: F401

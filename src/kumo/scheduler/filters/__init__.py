"""The built-in filters; importing this package registers them."""

from kumo.scheduler.filters.host import ComputeUp, HostEnabled
from kumo.scheduler.filters.image import ImageProperties, MachineFirmware
from kumo.scheduler.filters.placement import (AggregateImageIsolation, AvailabilityZone,
                                              ServerGroup)
from kumo.scheduler.filters.resources import RAM, VCPU, Disk

__all__ = ["AggregateImageIsolation", "AvailabilityZone", "ComputeUp", "Disk", "HostEnabled",
           "ImageProperties", "MachineFirmware", "RAM", "ServerGroup", "VCPU"]

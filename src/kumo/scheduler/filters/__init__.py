"""The built-in filters; importing this package registers them."""

from kumo.scheduler.filters.host import ComputeUp, HostEnabled
from kumo.scheduler.filters.image import ImageProperties
from kumo.scheduler.filters.placement import (AggregateImageIsolation, AvailabilityZone,
                                              ServerGroup)
from kumo.scheduler.filters.policy import GuestPolicy
from kumo.scheduler.filters.resources import RAM, VCPU, Disk

__all__ = ["AggregateImageIsolation", "AvailabilityZone", "ComputeUp", "Disk", "HostEnabled",
           "GuestPolicy", "ImageProperties", "RAM", "ServerGroup", "VCPU"]

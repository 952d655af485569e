"""The guest policy as a filter: a host passes when kumo can build the guest there.

Before this filter the scheduler had rules of its own about machine types, firmware, Secure Boot
and TPM, and the policy refused what the scheduler had chosen (a Windows 11 image weighed onto a
large host without a TPM, then ``create`` failed although a small TPM host fitted). Now the
policy is the one answer: its error findings on a host are this filter's reasons, with the lint
ids ``kumo lint`` prints ("GuestPolicy: tpm-unavailable (TPM 2.0 (tpm-crb) is not offered ...)").

The policy depends only on the request and the host's capabilities, so it runs once per
(capability class, request) and the answer is cached by the capabilities value itself (a
fingerprint that cannot collide: equal capabilities, equal answer). A fleet of 10,000 hosts in
50 classes costs 50 policy runs per distinct image and flavor, and only for the classes that
still have a candidate after the cheaper static filters (``within``).

The guest request is built as ``kumo.compute.instance_request.guest_request`` builds it for
create: the effective image properties, the flavor's sizes, a config drive (kumo always attaches
one), a direct-boot kernel when the image names one; paths are placeholders (no rule refuses a
guest for a path).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Hashable

import numpy as np

from kumo.catalog.flavor import Flavor
from kumo.guest.build import plan_guest
from kumo.guest.policy.identity import arch_runs_on, hypervisor_runs
from kumo.guest.request import GuestRequest
from kumo.hosts.capabilities import HostCapabilities
from kumo.scheduler.model import HostView, RequestSpec
from kumo.scheduler.plugins import (DecisionContext, FilterResult, StaticFilter,
                                    register_filter)
from kumo.scheduler.reasons import PolicyRefusal

#: placeholders: rules look at whether a device exists, not at its path or the guest's uuid
_UUID = "00000000-0000-4000-8000-000000000000"
_CONFIG_DRIVE = "/var/lib/kumo/placement/disk.config"
_KERNEL = "/var/lib/kumo/placement/kernel"


def policy_request(request: RequestSpec, caps: HostCapabilities) -> GuestRequest:
    """The GuestRequest create would build for ``request`` on a host with ``caps``."""
    f = request.flavor
    # the image is already effective (extra specs applied): the flavor carries sizes only
    flavor = Flavor(f.vcpus, f.ram_mib, f.disk_gib, name=f.name, ephemeral_gib=f.ephemeral_gib)
    return GuestRequest(image=request.image, flavor=flavor, host=caps, uuid=_UUID,
                        config_drive=_CONFIG_DRIVE if request.config_drive else None,
                        kernel=_KERNEL if request.facts.direct_kernel else None,
                        disk_format=request.image.get("disk_format"))


def refusals(request: RequestSpec, caps: HostCapabilities) -> tuple[PolicyRefusal, ...]:
    """The policy's error findings for ``request`` on ``caps``, as scheduler reasons."""
    plan = plan_guest(policy_request(request, caps), explain=False)
    return tuple(PolicyRefusal(f.id, f.message, f.fix) for f in plan.errors)


@register_filter
class GuestPolicy(StaticFilter):
    """The host passes when the guest policy finds no error building the guest for it."""

    NAME = "GuestPolicy"
    KIND_ONLY = True  # hypervisor, capabilities, aggregates
    #: (capabilities, request) answers kept; a fleet has few classes and requests repeat
    OPTIONS = {"cache_size": 8192}

    def __init__(self, **options):
        super().__init__(**options)
        self._answers: OrderedDict[tuple[HostCapabilities, Hashable],
                                   tuple[PolicyRefusal, ...]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = int(self.options["cache_size"])

    def _refusals(self, caps: HostCapabilities,
                  request: RequestSpec) -> tuple[PolicyRefusal, ...]:
        key = (caps, request.guest_key)
        with self._lock:
            got = self._answers.get(key)
            if got is not None:
                self._answers.move_to_end(key)
                return got
        got = refusals(request, caps)
        with self._lock:
            self._answers[key] = got
            if len(self._answers) > self._size:
                self._answers.popitem(last=False)
        return got

    def evaluate(self, host: HostView, request: RequestSpec, ctx: DecisionContext) -> FilterResult:
        assert host.capabilities is not None  # HostView derives them when not given
        return self.result(self._refusals(host.capabilities, request))

    def host_key(self, host: HostView) -> Hashable:
        return host.capabilities

    def request_key(self, request: RequestSpec) -> Hashable:
        return request.guest_key

    def mask(self, fleet, request: RequestSpec, ctx: DecisionContext,
             within: np.ndarray | None = None) -> np.ndarray | None:
        """Per class, evaluated only for classes with a host in ``within`` (the hosts the
        filters before it left); hosts outside ``within`` read False -- they are rejected
        already, and the answer for them is not used."""
        codes, reps = fleet.classes(self)
        if within is None:
            needed = range(len(reps))
        else:
            needed = np.flatnonzero(np.bincount(codes[within], minlength=len(reps))).tolist()
        return self.class_ok(fleet, request, ctx, needed)[codes]

    def class_ok(self, fleet, request: RequestSpec, ctx: DecisionContext,
                 needed) -> np.ndarray:
        _codes, reps = fleet.classes(self)
        facts = request.facts
        ok = np.zeros(len(reps), dtype=bool)
        for c in needed:
            caps = reps[c].capabilities
            # the policy's own identity rules first: a class they refuse fails without a full
            # build (the verdict is the same; explain still runs the policy for every finding)
            if not (arch_runs_on(facts.arch, caps.arch)
                    and hypervisor_runs(facts.hypervisor_type, caps.hypervisor)):
                continue
            ok[c] = not self._refusals(caps, request)
        return ok

"""kumo's scheduler: explainable filters and weighers over every host, and race-free claims.

    from kumo.scheduler import Scheduler, SchedulerConfig, InMemoryClaimStore, RequestSpec

    scheduler = Scheduler(SchedulerConfig(), hosts, claims)     # hosts: HostView values
    placement = scheduler.select(RequestSpec.for_boot(flavor, image))  # or raises NoValidHost
    placement.host, placement.claims                            # claims are already made
    scheduler.explain(request).table()                          # why each host was (not) chosen

Filters and weighers are plugins with stable names (``FILTERS``, ``WEIGHERS``); each has a
per-host rule (the reference, used by ``explain`` and ``ReferenceScheduler``) and a columnar
one (used by ``Scheduler``), and the two agree exactly.
"""

from kumo.scheduler.claims import (Claim, ClaimResult, ClaimStore, HostUsage, InMemoryClaimStore,
                                   Placement)
from kumo.scheduler.config import DEFAULT_FILTERS, DEFAULT_WEIGHERS, SchedulerConfig
from kumo.scheduler.engine import Scheduler
from kumo.scheduler.errors import NoValidHost
from kumo.scheduler.explain import Explanation, HostRow
from kumo.scheduler.model import Aggregate, HostView, RequestSpec, ServerGroup
from kumo.scheduler.plugins import (FILTERS, WEIGHERS, DecisionContext, Filter, FilterResult,
                                    StaticFilter, Weigher, register_filter, register_weigher)
from kumo.scheduler.reasons import (AggregateIsolation, ComputeDown, GroupPolicyViolation,
                                    HostDisabled, InsufficientResource, PropertyMismatch, Reason,
                                    VersionMismatch, ZoneMismatch, format_summary)
from kumo.scheduler.reference import ReferenceScheduler

__all__ = [
    "Aggregate", "AggregateIsolation", "Claim", "ClaimResult", "ClaimStore", "ComputeDown",
    "DEFAULT_FILTERS", "DEFAULT_WEIGHERS", "DecisionContext", "Explanation", "FILTERS", "Filter",
    "FilterResult", "GroupPolicyViolation", "HostDisabled", "HostRow", "HostUsage", "HostView",
    "InMemoryClaimStore", "InsufficientResource", "NoValidHost", "Placement", "PropertyMismatch",
    "Reason", "ReferenceScheduler", "RequestSpec", "Scheduler", "SchedulerConfig", "ServerGroup",
    "StaticFilter", "VersionMismatch", "WEIGHERS", "Weigher", "ZoneMismatch", "format_summary",
    "register_filter", "register_weigher",
]

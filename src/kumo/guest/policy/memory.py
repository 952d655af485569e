"""Rules: guest memory backing and NUMA - what kumo renders and what it refuses.

kumo places guests by vCPUs, RAM and disk only; it does not track a host's huge pages, NUMA cells
or memory-encryption slots. A property that needs one of them would either be ignored (the guest
silently lacks what the image asked for) or fail at start on a host without it, so each such
request is an error naming the property, while the values that ask for nothing are accepted:

- hw_mem_page_size (Nova: small | large | any | a size): ``small`` and ``any`` are the normal
  4 KiB pages; ``large`` or a size needs huge pages reserved on the host
  (libvirt formatdomain.html#memory-backing ``<hugepages>``).
- hw_mem_encryption (Nova: AMD SEV, libvirt ``<launchSecurity type='sev'>``): needs an SEV host
  and a firmware that supports it.
- hw_numa_nodes (Nova: guest NUMA cells, each pinned to a host cell): 1 is the default single
  cell; more need NUMA-aware placement.
"""

from __future__ import annotations

from kumo.guest.policy.context import Context

PLAIN_PAGES = ("small", "any")


def check_memory(c: Context) -> None:
    d = c.d
    size = c.props.get("hw_mem_page_size")
    if size is not None:
        name, given = c.prop("hw_mem_page_size")
        if size in PLAIN_PAGES:
            d.decide("memory.page_size", "small", "memory.small-pages", name, given,
                     "normal 4 KiB pages (no huge pages are reserved for the guest)")
        else:
            d.error("mem-page-size-unsupported", f"hw_mem_page_size={given}: kumo does not back "
                    "guests with huge pages (it does not track the huge pages hosts reserve)",
                    "remove hw_mem_page_size or set it to small or any")
    if c.props.get("hw_mem_encryption"):
        name, given = c.prop("hw_mem_encryption")
        d.error("mem-encryption-unsupported", f"{name}={given}: kumo does not configure memory "
                "encryption (AMD SEV) and does not place guests on SEV hosts",
                "remove hw_mem_encryption or set it to false")
    nodes = c.props.get("hw_numa_nodes")
    if nodes is not None:
        name, given = c.prop("hw_numa_nodes")
        if nodes == 1:
            d.decide("memory.numa_nodes", 1, "memory.single-numa-node", name, given,
                     "one guest NUMA cell: the default")
        else:
            d.error("numa-nodes-unsupported", f"hw_numa_nodes={given}: kumo gives every guest "
                    "one NUMA cell (it does not place guest NUMA cells on host cells)",
                    "remove hw_numa_nodes or set it to 1")

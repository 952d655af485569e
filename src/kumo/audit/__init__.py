"""``kumo audit``: a running fleet compared with its records and with today's rules.

For every instance, each difference with its consequence in plain words and a severity:

    properties  its frozen image properties vs its image's current ones, and what the image's
                properties would change in the guest (kumo.audit.properties)
    config      the configuration kumo's rules give it today (kumo.compute.domain_config.desired:
                what a hard reboot defines) vs the domain XML its host has, running and defined,
                compared element by element through the renderer's mapping (kumo.audit.domain_diff)
    record      the record vs the host: power state, domains gone, domains this installation made
                that no record owns, stale copies (kumo.audit.record); another installation's
                domains (their <kumo:instance> mark names another id) are never reported
    clock       where the guest runs the QEMU guest agent, its own clock against the host's UTC
                clock (kumo.audit.clock)

Hosts are audited in parallel (a bound; one connection each); kumo.audit.fleet runs it.
"""

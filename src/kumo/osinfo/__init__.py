"""kumo.osinfo: OS identity from image metadata.

``resolve(os_distro, os_version, os_type)`` turns Glance's os_* properties (or libosinfo short
ids) into an :class:`OSIdentity` of facts - family, release, 64-bit, q35, firmware, inbox drivers -
that guest policy rules read instead of the raw strings.

Modules: ``windows`` (Windows release table and os_version spellings), ``linux`` (distro releases
-> kernel -> drivers), ``bsd`` (BSDs and the other Glance systems), ``osinfo_db`` (lazy reader of
the installed osinfo-db, for short ids the tables do not list), ``resolve`` (the order of reading).
"""

from kumo.osinfo.identity import OSIdentity
from kumo.osinfo.resolve import resolve

__all__ = ["OSIdentity", "resolve"]

"""The vCPU topology (sockets x cores x threads) that fits the flavor and the image's limits.

Nova's hw_cpu_sockets/cores/threads are preferences and hw_cpu_max_sockets/cores/threads are
limits (nova/virt/hardware.py ``_get_cpu_topology_constraints`` / ``_get_possible_cpu_topologies``):
every topology whose product is the vCPU count and that stays within the limits is possible, and
the preferred one is taken when it is among them. Licensing is why the limits exist: Windows
client editions use at most two sockets, some software is licensed per socket.
"""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int, int, int]  # sockets, cores, threads


@dataclass(frozen=True)
class Limits:
    sockets: int | None = None
    cores: int | None = None
    threads: int | None = None

    def admit(self, shape: Shape) -> bool:
        return all(limit is None or value <= limit
                   for value, limit in zip(shape, (self.sockets, self.cores, self.threads)))

    def exceeded(self, shape: Shape) -> list[str]:
        """'sockets 4 > hw_cpu_max_sockets 2', ... for each limit ``shape`` breaks."""
        return [f"{what} {value} > hw_cpu_max_{what} {limit}"
                for what, value, limit in zip(("sockets", "cores", "threads"), shape,
                                              (self.sockets, self.cores, self.threads))
                if limit is not None and value > limit]


def possible(vcpus: int, limits: Limits) -> list[Shape]:
    """Every (sockets, cores, threads) with product ``vcpus`` within ``limits``."""
    out = []
    for sockets in range(1, vcpus + 1):
        if vcpus % sockets:
            continue
        rest = vcpus // sockets
        for cores in range(1, rest + 1):
            if rest % cores == 0 and limits.admit((sockets, cores, rest // cores)):
                out.append((sockets, cores, rest // cores))
    return out


def fit(vcpus: int, preferred: Shape, limits: Limits, prefer_cores: bool) -> Shape | None:
    """``preferred`` when the limits admit it, else the possible shape with the fewest threads
    and then the most sockets (most cores when ``prefer_cores``, as for Windows); None when no
    shape fits."""
    if limits.admit(preferred):
        return preferred
    shapes = possible(vcpus, limits)
    if not shapes:
        return None
    if prefer_cores:
        return min(shapes, key=lambda s: (s[2], -s[1], -s[0]))
    return min(shapes, key=lambda s: (s[2], -s[0], -s[1]))

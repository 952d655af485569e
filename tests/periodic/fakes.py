"""A scripted host for the periodic tasks' tests: domain states, pool volumes, and whether it
answers at all. (Only what the periodic tasks call; the compute layer's own fake host is
kumo.hosts.fake when it exists.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from kumo.errors import HostUnreachable
from kumo.hosts.libvirt_host import DomainState, DomainStatus, NodeInfo


@dataclass
class ScriptedHost:
    uri: str = "fake:///"
    domains: dict[str, DomainStatus] = field(default_factory=dict)
    volumes: set[str] = field(default_factory=set)
    answers: bool = True
    deleted: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)

    def _check(self) -> None:
        if not self.answers:
            raise HostUnreachable(f"cannot connect to {self.uri}: connection refused")

    def domain_states(self) -> dict[str, DomainStatus]:
        self._check()
        return dict(self.domains)

    def node_info(self) -> NodeInfo:
        self._check()
        return NodeInfo("x86_64", 8, 16384, 2000, 1, 1, 8, 1)

    def refresh_pool(self, pool: str) -> None:
        self._check()

    def list_volumes(self, pool: str) -> list[str]:
        self._check()
        return sorted(self.volumes)

    def delete_volume(self, pool: str, name: str) -> None:
        self._check()
        self.volumes.discard(name)
        self.deleted.append(name)

    # what a journaled start (sync_power_state_restart) calls
    def domain_exists(self, name: str) -> bool:
        return name in self.domains

    def domain_state(self, name: str) -> DomainState:
        return self.domains[name].state

    def start(self, name: str) -> None:
        self.started.append(name)
        self.domains[name] = DomainStatus(DomainState.RUNNING)

    def close(self) -> None:
        pass

"""kumo's Prometheus metrics (prometheus-client), one registry per process.

Counted where they happen (this process):

    kumo_placements_total{result}                       placed | no_valid_host | lost_races
    kumo_operation_step_duration_seconds{operation,step}  histogram: each journaled step, and
                                                        step="total" for the whole operation
    kumo_periodic_task_runs_total{task,result}          ok | error | skipped (another controller
                                                        holds the task, or ran it this interval)
    kumo_periodic_task_duration_seconds{task}           histogram of runs (ok and error)
    kumo_periodic_task_last_success_timestamp_seconds{task}
    kumo_state_corrections_total{task,kind}             records the periodic tasks corrected

Read from the database at each scrape (every controller sees the same):

    kumo_hosts{state}                                   up | down | unknown (kumo host list)
    kumo_instances{vm_state}                            live instances by vm_state
    kumo_journal_entries{state}                         journal entries by state
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry(auto_describe=True)

PLACEMENTS = Counter("kumo_placements", "Placement attempts by result", ["result"],
                     registry=REGISTRY)
OPERATION_STEP_SECONDS = Histogram(
    "kumo_operation_step_duration_seconds", "Duration of each journaled step of a lifecycle "
    "operation (step=total: the whole operation)", ["operation", "step"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300))
TASK_RUNS = Counter("kumo_periodic_task_runs", "Periodic task runs by result",
                    ["task", "result"], registry=REGISTRY)
TASK_SECONDS = Histogram("kumo_periodic_task_duration_seconds", "Periodic task run duration",
                         ["task"], registry=REGISTRY,
                         buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300))
TASK_LAST_SUCCESS = Gauge("kumo_periodic_task_last_success_timestamp_seconds",
                          "Unix time of the task's last successful run in this process",
                          ["task"], registry=REGISTRY)
AUDIT_FINDINGS = Gauge("kumo_audit_findings", "Findings of the last periodic audit (kumo.periodic."
                       "audit) by severity and kind", ["severity", "kind"], registry=REGISTRY)
AUDIT_LAST_RUN = Gauge("kumo_audit_last_run_timestamp_seconds",
                       "Unix time of the last periodic audit in this process", registry=REGISTRY)
CORRECTIONS = Counter("kumo_state_corrections", "Records corrected by periodic tasks",
                      ["task", "kind"], registry=REGISTRY)

# --- operation step timing (fed by kumo.compute.journal) -----------------------------------------

_steps: dict[int, tuple[str, str, float, float]] = {}  # entry id -> (op, step, t_step, t_begin)
_steps_lock = threading.Lock()


def step_started(entry_id: int, operation: str, step: str) -> None:
    now = time.monotonic()
    with _steps_lock:
        previous = _steps.get(entry_id)
        if previous is not None:
            OPERATION_STEP_SECONDS.labels(previous[0], previous[1]).observe(now - previous[2])
        _steps[entry_id] = (operation, step, now, previous[3] if previous else now)


def operation_ended(entry_id: int) -> None:
    now = time.monotonic()
    with _steps_lock:
        previous = _steps.pop(entry_id, None)
    if previous is not None:
        OPERATION_STEP_SECONDS.labels(previous[0], previous[1]).observe(now - previous[2])
        OPERATION_STEP_SECONDS.labels(previous[0], "total").observe(now - previous[3])


# --- gauges read from the database at scrape time ------------------------------------------------

class DatabaseCollector:
    """kumo_hosts, kumo_instances, kumo_journal_entries from the reader ``read_from`` set, at
    each scrape: it returns {"hosts": {state: n}, "instances": {...}, "journal": {...}}."""

    def __init__(self) -> None:
        self.read: Callable[[], dict[str, dict[str, int]]] = dict

    def describe(self) -> list[Any]:
        return []  # read only at scrape time, never at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        data = self.read()
        for name, label, key, doc in (
                ("kumo_hosts", "state", "hosts", "Hosts by liveness state"),
                ("kumo_instances", "vm_state", "instances", "Live instances by vm_state"),
                ("kumo_journal_entries", "state", "journal", "Journal entries by state")):
            family = GaugeMetricFamily(name, doc, labels=[label])
            for value, count in sorted(data.get(key, {}).items()):
                family.add_metric([value], count)
            yield family


_database = DatabaseCollector()
REGISTRY.register(_database)


def read_from(reader: Callable[[], dict[str, dict[str, int]]]) -> None:
    """Where the database gauges come from (the running controller's counts)."""
    _database.read = reader

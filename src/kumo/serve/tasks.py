"""Runs the periodic tasks (kumo.periodic): each on its interval, one controller at a time.

At each tick of a task (its interval, first tick a random fraction of it in, so controllers
started together do not tick together) the controller

1. takes the task's lock (kumo.serve.locks) -- another controller running it: skipped;
2. reads the task's row in ``periodic_runs``: if any controller started a run less than an
   interval ago, skipped (one run per interval across the fleet, whoever ticks first);
3. records the start (owner, time), runs the task, records the end, the last success or the
   error; logs both lines with the run's request id and counts the run, its duration and its
   corrections in the metrics.

A task that raises is logged with its traceback and counted as an error; the loop goes on.
Stopping (SIGTERM) lets a run in progress finish and starts no new one.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kumo import logs, metrics
from kumo.compute.env import ComputeEnv
from kumo.compute.states import now
from kumo.db.models import PeriodicRun
from kumo.periodic import Outcome
from kumo.serve.locks import TaskLocks

log = logs.get(__name__)


@dataclass(frozen=True)
class Task:
    name: str
    interval: float
    run: Callable[[ComputeEnv, datetime | None], Outcome]


class TaskRunner:
    def __init__(self, env: ComputeEnv, tasks: list[Task], locks: TaskLocks,
                 clock: Callable[[], datetime] = now):
        self.env, self.tasks, self.locks, self.clock = env, tasks, locks, clock
        self.stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self.busy = threading.Semaphore(len(tasks) or 1)

    def start(self) -> None:
        for task in self.tasks:
            if task.interval <= 0:
                log.info("periodic task %s disabled (interval 0)", task.name)
                continue
            ctx = contextvars.copy_context()
            thread = threading.Thread(target=ctx.run, args=(self._loop, task),
                                      name=f"kumo-{task.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
            log.info("periodic task %s every %g s", task.name, task.interval)

    def _loop(self, task: Task) -> None:
        delay = random.uniform(0.1, 0.5) * task.interval
        while not self.stopping.wait(delay):
            started = time.monotonic()
            self.run_once(task)
            delay = max(0.0, task.interval - (time.monotonic() - started))

    def run_once(self, task: Task) -> str:
        """One tick of ``task``: ran, skipped or error (see the module docstring)."""
        with self.locks.hold(task.name) as held:
            if not held:
                metrics.TASK_RUNS.labels(task.name, "skipped").inc()
                log.debug("periodic task %s: another controller runs it", task.name)
                return "skipped"
            if self.stopping.is_set():
                return "skipped"
            at = self.clock()
            if not self._claim_interval(task, at):
                metrics.TASK_RUNS.labels(task.name, "skipped").inc()
                log.debug("periodic task %s: already run this interval", task.name)
                return "skipped"
            return self._run(task, at)

    def _claim_interval(self, task: Task, at: datetime) -> bool:
        with self.env.db.session_scope() as s:
            row = s.get(PeriodicRun, task.name, with_for_update=True)
            if row is None:
                row = PeriodicRun(task=task.name, runs=0)
                s.add(row)
            elif (row.started_at is not None
                  and at - row.started_at < timedelta(seconds=task.interval * 0.9)):
                return False
            row.owner, row.started_at, row.finished_at = self.env.owner, at, None
            row.runs = (row.runs or 0) + 1
        return True

    def _run(self, task: Task, at: datetime) -> str:
        request_id = f"req-{uuid.uuid4()}"
        with logs.log_context(request_id=request_id):
            log.info("periodic task %s: run started", task.name)
            t0 = time.monotonic()
            error = None
            try:
                outcome = task.run(self.env, None)
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                log.exception("periodic task %s: run failed", task.name)
            seconds = time.monotonic() - t0
            metrics.TASK_SECONDS.labels(task.name).observe(seconds)
            end = self.clock()
            with self.env.db.session_scope() as s:
                row = s.get_one(PeriodicRun, task.name)
                row.finished_at = end
                row.last_error = error
                if error is None:
                    row.last_success_at = end
            if error is not None:
                metrics.TASK_RUNS.labels(task.name, "error").inc()
                return "error"
            metrics.TASK_RUNS.labels(task.name, "ok").inc()
            metrics.TASK_LAST_SUCCESS.labels(task.name).set(time.time())
            for kind, n in outcome.corrections.items():
                metrics.CORRECTIONS.labels(task.name, kind).inc(n)
            log.info("periodic task %s: run finished in %.3f s: %s", task.name, seconds,
                     outcome.summary)
            return "ok"

    def stop(self, timeout: float) -> bool:
        """Start no new run; wait up to ``timeout`` for runs in progress. True if all ended."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

"""OpenStack API benchmark: a real ``kumo serve`` (its own data directory, SQLite, 127.0.0.1)
holding N servers and N images, asked by keep-alive HTTP clients as the OpenStack clients ask.

    .venv/bin/python bench/api.py [--servers 1000] [--images 1000] [--clients 4]
                                  [--list-clients 1] [--workers 1]

Prints, for each request kind -- token issue (``POST /identity/v3/auth/tokens``, an argon2id
verification each), ``GET /servers/{id}``, ``GET /servers/detail`` of every server,
``GET /v2/images`` of every image -- requests/s (wall), p50 and p99 latency, and the server's
CPU-seconds per request (its processes' user+system time, from /proc) and the clients' (this
process's), with the load average: on a busy machine wall figures are depressed, CPU per request
much less so; on an idle machine with N cores, requests/s is at most N / (server + client CPU).
Targets on a 2-core machine: >= 500 GET /servers/{id}/s (``--workers 2``: one worker process
is one core), GET /servers/detail p50 <= 100 ms (one operator's listing: ``--list-clients 1``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from sqlalchemy import select  # noqa: E402

from kumo.db import Database  # noqa: E402
from kumo.db.models import Host, Image, Instance, Project  # noqa: E402
from tests.api.live import ADMIN_PASSWORD, start, stop  # noqa: E402
from tests.support.hosts import add_host  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of ``pid`` and its children (uvicorn workers)."""
    total = 0.0
    pids = [pid]
    try:
        for line in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            pids.append(int(line))
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def populate(db: Database, servers: int, images: int) -> list[str]:
    add_host(db, "bench-1", vcpus=4096, ram_mib=1 << 24, disk_gib=1 << 20)
    with db.session_scope() as s:
        project = s.scalar(select(Project.id).where(Project.name == "admin"))
        host = s.scalar(select(Host).where(Host.name == "bench-1"))
        for i in range(images):
            image = Image(name=f"img-{i:05d}", project_id=project, visibility="public",
                          status="active", disk_format="qcow2", container_format="bare",
                          size=1 << 20)
            image.property_rows  # noqa: B018 (load the empty collection)
            s.add(image)
        s.flush()
        uuids = []
        for i in range(servers):
            inst = Instance(name=f"srv-{i:05d}", project_id=project, user_id="admin",
                            host_id=host.id, node=host.name, vcpus=1, ram_mib=256, disk_gib=1,
                            flavor_name="bench", vm_state="active", power_state=1)
            s.add(inst)
            s.flush()
            uuids.append(inst.uuid)
    return uuids


def run(name: str, url: str, count: int, clients: int, pid: int, make_request) -> None:
    """``count`` requests spread over ``clients`` threads, each on its own keep-alive client."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(n: int, offset: int) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=60) as client:
            for i in range(n):
                t0 = time.perf_counter()
                r = make_request(client, offset + i)
                mine.append(time.perf_counter() - t0)
                if r.status_code >= 300:
                    errors.append(f"{r.status_code} {r.text[:200]}")
        with lock:
            latencies.extend(mine)

    per = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
    threads = [threading.Thread(target=worker, args=(n, sum(per[:i])))
               for i, n in enumerate(per)]
    cpu0, own0, t0 = cpu_seconds(pid), time.process_time(), time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall, cpu = time.perf_counter() - t0, cpu_seconds(pid) - cpu0
    own = time.process_time() - own0
    if errors:
        print(f"{name}: {len(errors)} failed requests, first: {errors[0]}")
    q = statistics.quantiles(latencies, n=100)
    print(f"{name:38s} {count / wall:8.1f} req/s   p50 {q[49] * 1000:7.1f} ms   "
          f"p99 {q[98] * 1000:7.1f} ms   server CPU {cpu / count * 1000:6.2f} ms/req   "
          f"client CPU {own / count * 1000:5.2f} ms/req   ({count} requests, {clients} clients)")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--servers", type=int, default=1000)
    p.add_argument("--images", type=int, default=1000)
    p.add_argument("--clients", type=int, default=4, help="clients for tokens and shows")
    p.add_argument("--list-clients", type=int, default=1,
                   help="clients for the listings: their p50 is one operator's wait (with "
                        "several, it is mostly queueing behind the others)")
    p.add_argument("--workers", type=int, default=1, help="kumo serve's api_workers")
    p.add_argument("--show", type=int, default=2000, help="GET /servers/{id} requests")
    p.add_argument("--lists", type=int, default=40, help="requests per listing")
    p.add_argument("--tokens", type=int, default=100, help="token issues")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        live = start(Path(tmp), {"KUMO_API_WORKERS": str(args.workers)})
        try:
            db = Database(f"sqlite:///{Path(tmp) / 'data' / 'kumo.db'}")
            t0 = time.perf_counter()
            uuids = populate(db, args.servers, args.images)
            db.dispose()
            print(f"populated {args.servers} servers, {args.images} images in "
                  f"{time.perf_counter() - t0:.1f} s; kumo serve with {args.workers} "
                  f"worker(s); load average {os.getloadavg()[0]:.2f} "
                  f"{os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, "
                  f"{os.cpu_count()} CPUs")
            token = live.token()
            auth = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.95"}
            body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": ADMIN_PASSWORD}}},
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
            pid = live.proc.pid
            run("POST /identity/v3/auth/tokens", live.url, args.tokens, args.clients, pid,
                lambda c, i: c.post("/identity/v3/auth/tokens", json=body))
            run("GET /compute/v2.1/servers/{id}", live.url, args.show, args.clients, pid,
                lambda c, i: c.get(f"/compute/v2.1/servers/{uuids[i % len(uuids)]}",
                                   headers=auth))
            run(f"GET /compute/v2.1/servers/detail ({args.servers})", live.url, args.lists,
                args.list_clients, pid, lambda c, i: c.get("/compute/v2.1/servers/detail",
                                                      headers=auth))
            run(f"GET /image/v2/images ({args.images})", live.url, args.lists,
                args.list_clients, pid,
                lambda c, i: c.get("/image/v2/images", params={"limit": 1000}, headers=auth))
            print(f"load average after: {os.getloadavg()[0]:.2f}")
        finally:
            stop(live)


if __name__ == "__main__":
    main()

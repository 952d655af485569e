"""The columnar engine and the per-host reference agree exactly on random fleets: the same
pass/fail sets, bit-identical weights, the same host for every request (ties included), the same
NoValidHost summaries, and the same usage after claiming -- on each of the engine's paths: the
numpy one (one-shot commands) and the compiled kernel (long-running processes)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from kumo.scheduler import fleet as fleet_module
from kumo.scheduler import (DEFAULT_FILTERS, Claim, InMemoryClaimStore, NoValidHost,
                            ReferenceScheduler, Scheduler, SchedulerConfig, ServerGroup)
from kumo.scheduler.plugins import DecisionContext, StaticFilter

from tests.scheduler.helpers import NOW, agg, host, request
from tests.support.hosts import recorded_caps

TCG_72 = recorded_caps().with_hypervisor("qemu")

AGGREGATES = [
    agg("win", os_type="windows"),
    agg("win-strict", os_type="windows", kumo_isolation="strict",
        like_images_weight_multiplier="-2"),
    agg("linux-only", os_type="linux"),
    agg("highmem", ram_allocation_ratio="1.5"),
    agg("dense", cpu_allocation_ratio="8", free_vcpu_weight_multiplier="3"),
    agg("pack", free_ram_weight_multiplier="-1", instance_count_weight_multiplier="-0.5"),
    agg("typo", ram_allocation_ratio="lots"),
]
TEMPLATES = [
    dict(hv="kvm", version=(7, 2), firmware=("bios", "efi"), secure_boot=True, tpm_versions=("2.0",)),
    dict(hv="kvm", version=(6, 2)),
    dict(hv="qemu", version=(8, 2), firmware=("bios", "efi")),
    dict(hv="xen", version=(4, 17)),
    dict(hv="hyperv", version=(6, 2)),
    dict(hv="hyperv", version=(6, 3)),
    dict(hv="hyperv", version=(10, 0), tpm_versions=("2.0",)),
    dict(hv="hyperv", version=None),
    dict(hv="kvm", version=(7, 2), arch="aarch64", machines=("virt",)),
    # probed hosts (the machine's libvirtd as recorded): per-family firmware, swtpm, CPU modes
    dict(hv="qemu", version=(7, 2, 22), capabilities=TCG_72),
    dict(hv="qemu", version=(7, 2, 22), capabilities=replace(TCG_72, swtpm=False)),
    dict(hv="kvm", version=(8, 2, 0), capabilities=replace(
        TCG_72, hypervisor="kvm", hypervisor_version=(8, 2, 0),
        cpu_modes=("host-passthrough", "host-model", "custom"))),
]
IMAGES = [
    {},
    {"os_type": "linux"},
    {"os_type": "windows"},
    {"os_type": "windows", "hw_machine_type": "hyperv-gen2", "hypervisor_version_requires": ">=6.3"},
    {"hypervisor_type": "hyperv", "hypervisor_version_requires": ">=6.3,<10.0"},
    {"os_type": "windows", "hw_firmware_type": "uefi", "os_secure_boot": "required",
     "hw_tpm_version": "2.0"},
    {"vm_mode": "xen", "os_type": "linux"},
    {"architecture": "aarch64"},
    {"hypervisor_type": "qemu", "hw_machine_type": "pc-q35-8.2"},
    {"hypervisor_version_requires": "==7.2"},
    {"os_distro": "windows", "os_version": "11"},  # UEFI, Secure Boot, TPM 2.0 by default
    {"os_distro": "windows", "os_version": "10"},  # Windows by os_distro alone (seed 000)
    {"os_distro": "ubuntu", "os_version": "22.04", "hw_vif_model": "igb"},
    {"os_distro": "ubuntu", "os_version": "22.04", "hw_cpu_mode": "host-passthrough"},
    {"os_secure_boot": "required"},
]


def random_fleet(rng: random.Random, n: int):
    names = rng.sample(range(10_000), n)  # sorted order unrelated to creation order
    hosts = []
    for k in range(n):
        t = dict(rng.choice(TEMPLATES))
        hv, version = t.pop("hv"), t.pop("version")
        vcpus = rng.choice([4, 8])
        ram = rng.choice([8192, 16384])
        disk = rng.choice([100, 200])
        fill = rng.choice([0.0, 0.0, 0.25, 0.5, 0.9])
        hosts.append(host(
            f"n{names[k]:04d}", hv, version, **t,
            vcpus=vcpus, vcpus_used=int(vcpus * fill), ram_mib=ram, ram_mib_used=int(ram * fill),
            disk_gib=disk, disk_gib_used=int(disk * fill), instances=int(4 * fill),
            cpu_allocation_ratio=rng.choice([1.0, 2.0, 4.0]),
            ram_allocation_ratio=rng.choice([1.0, 1.0, 1.25]),
            aggregates=tuple(rng.sample(AGGREGATES, rng.choice([0, 0, 1, 2]))),
            availability_zone=rng.choice(["az1", "az2"]),
            enabled=rng.random() > 0.05, forced_down=rng.random() < 0.03,
            last_heartbeat=rng.choice([NOW - 1, NOW - 60, NOW - 61, None, NOW - 5]),
            image_property_counts={"os_type": {"windows": rng.choice([0, 0, 1, 3]),
                                               "linux": rng.choice([0, 2])}}))
    return hosts


def random_requests(rng: random.Random, hosts, n: int):
    names = [h.name for h in hosts] + ["gone-host"]
    out = []
    for k in range(n):
        g = None
        if rng.random() < 0.25:
            policy = rng.choice(["affinity", "anti-affinity"])
            g = ServerGroup(f"g{k % 3}", policy, tuple(rng.sample(names, rng.choice([0, 1, 2]))),
                            rng.choice([1, 2]) if policy == "anti-affinity" else 1)
        out.append(request(
            vcpus=rng.choice([1, 2, 4]), ram=rng.choice([512, 2048, 4096, 12288]),
            disk=rng.choice([10, 40]), ephemeral=rng.choice([0, 0, 20]),
            props=rng.choice(IMAGES), availability_zone=rng.choice([None, None, "az1", "az2"]),
            group=g, num_instances=rng.choice([1, 1, 1, 2, 3])))
    return out


#: the engine's decision paths (Scheduler's ``compiled``)
PATHS = {"numpy": False, "compiled": True}


def engine(config, hosts, store, path: str) -> Scheduler:
    s = Scheduler(config, hosts, store, compiled=PATHS[path])
    # the path asked for is the one deciding (a plugin the kernel does not know would fall
    # back to numpy silently: these configs use built-in plugins only)
    assert (s._plan is not None) == PATHS[path]
    return s


CONFIGS = {
    "defaults": SchedulerConfig(),
    "everything": SchedulerConfig(
        alternates=4,
        weighers={"FreeRAM": 1.0, "FreeVCPU": 0.7, "FreeDisk": 0.3, "InstanceCount": 0.5,
                  "LikeImages": -1.5},
        options={"AggregateImageIsolation": {"required": {"os_type": ["windows"]}},
                 "LikeImages": {"properties": {"os_type": 1.0, "hw_machine_type": 0.5}}}),
    "pack-reordered": SchedulerConfig(
        filters=tuple(reversed(DEFAULT_FILTERS)),
        weighers={"LikeImages": 1.0, "FreeRAM": -1.0, "InstanceCount": -0.25, "FreeDisk": -2.0}),
}


def outcome(scheduler, req):
    try:
        p = scheduler.select(req, now=NOW)
    except NoValidHost as e:
        return ("NoValidHost", str(e))
    return (p.hosts, p.weights, p.alternates)


def usage_of(h):
    counts = {p: {v: c for v, c in vals.items() if c} for p, vals in
              h.image_property_counts.items()}
    return (h.name, h.vcpus_used, h.ram_mib_used, h.disk_gib_used, h.instances,
            {p: v for p, v in counts.items() if v})


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", range(8))
def test_columnar_equals_reference(seed, config, path):
    rng = random.Random(seed)
    hosts = random_fleet(rng, rng.choice([25, 60, 120]))
    fast = engine(config, hosts, InMemoryClaimStore.from_hosts(hosts), path)
    slow = ReferenceScheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    outcomes = set()
    for k, req in enumerate(random_requests(rng, hosts, 90)):
        if k % 3 == 0:
            assert fast.passing(req, NOW) == [h.name for h in slow.passing(req, NOW)]
            assert fast.scores(req, NOW) == slow.scores(req, NOW)
        a, b = outcome(fast, req), outcome(slow, req)
        assert a == b, f"request {k}: {req}"
        outcomes.add(a[0] == "NoValidHost")
    assert outcomes == {True, False}, "the run should both place and reject"
    assert [usage_of(h) for h in fast.fleet.views()] == [usage_of(h) for h in slow.hosts]


def test_explain_chooses_what_select_chooses():
    rng = random.Random(11)
    hosts = random_fleet(rng, 40)
    fast = Scheduler(CONFIGS["everything"], hosts, InMemoryClaimStore.from_hosts(hosts))
    for req in random_requests(rng, hosts, 30):
        req = request(vcpus=req.vcpus, ram=req.ram_mib, props=dict(req.image.to_glance()))
        chosen = fast.explain(req, now=NOW).chosen
        try:
            assert fast.select(req, now=NOW).host == chosen
        except NoValidHost:
            assert chosen is None


def _other_schedulers(rng: random.Random, hosts, stores):
    """Rows changed by others between two decisions: claims and deletions made by other
    schedulers (on every store alike), heartbeats that arrive or stop, hosts forced down or
    back up. Returns (usage of the hosts whose usage changed, liveness of the others)."""
    usage, liveness = {}, {}
    for h in rng.sample(hosts, 4):
        if rng.random() < 0.5:
            claim = Claim(h.name, rng.choice([1, 2]), rng.choice([512, 2048]), 10,
                          10**6, 10**9, 10**6)
            results = [s.claim(claim) for s in stores]
            usage[h.name] = results[0].usage
        elif h.instances:
            claim = Claim(h.name, 1, 512, 10, 0, 0, 0)
            usage[h.name] = [s.release(claim) for s in stores][0]
    for h in rng.sample(hosts, 3):
        liveness[h.name] = (rng.choice([NOW - 1, NOW - 61, NOW - 60, None]), rng.random() < 0.2)
    return usage, liveness


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("seed", range(6))
def test_columnar_equals_reference_as_rows_change_between_decisions(seed, path):
    """The engine kept in step incrementally (``apply_changes``: usage and liveness of the
    rows that changed; ``update_hosts(keep_usage=True)`` when a host's static columns
    changed) decides as the reference does on the changed hosts, NoValidHost included."""
    config = CONFIGS["everything"]
    rng = random.Random(1000 + seed)
    hosts = random_fleet(rng, rng.choice([30, 60]))
    fast_store = InMemoryClaimStore.from_hosts(hosts)
    slow_store = InMemoryClaimStore.from_hosts(hosts)
    fast = engine(config, hosts, fast_store, path)
    slow = ReferenceScheduler(config, hosts, slow_store)
    failures = 0
    for k, req in enumerate(random_requests(rng, hosts, 80)):
        usage, liveness = _other_schedulers(rng, slow.hosts, [fast_store, slow_store])
        for name, u in usage.items():
            slow._update(name, u, (), 0)
        slow.hosts = [replace(h, last_heartbeat=liveness[h.name][0],
                              forced_down=liveness[h.name][1]) if h.name in liveness else h
                      for h in slow.hosts]
        fast.apply_changes(usage, liveness)
        if k % 10 == 9:  # an operator disables or enables a host: its static columns change
            i = rng.randrange(len(slow.hosts))
            slow.hosts[i] = replace(slow.hosts[i], enabled=not slow.hosts[i].enabled)
            fast.update_hosts(slow.hosts, keep_usage=True)
        a, b = outcome(fast, req), outcome(slow, req)
        assert a == b, f"request {k}: {req}"
        failures += a[0] == "NoValidHost"
    assert 0 < failures < 80, "the run should both place and reject"
    assert [usage_of(h) for h in fast.fleet.views()] == [usage_of(h) for h in slow.hosts]


@pytest.mark.parametrize("seed", range(3))
def test_paths_draw_alike_with_host_subset_size(seed):
    """host_subset_size > 1 (one of the best at random): the reference has no draw, so the
    paths are compared with each other -- the same random stream, the same picks."""
    config = replace(CONFIGS["everything"], host_subset_size=3)
    rng = random.Random(2000 + seed)
    hosts = random_fleet(rng, 80)
    requests = random_requests(rng, hosts, 60)
    outcomes = []
    for path in PATHS:
        s = engine(config, hosts, InMemoryClaimStore.from_hosts(hosts), path)
        s._rng = random.Random(seed)
        outcomes.append([outcome(s, req) for req in requests])
    assert outcomes[0] == outcomes[1]
    assert len({o[0] for o in outcomes[0] if o[0] != "NoValidHost"}) > 3


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("config", ["defaults", "pack-reordered"])
@pytest.mark.parametrize("seed", range(3))
def test_columnar_equals_reference_with_every_static_mask_cold(seed, config, path,
                                                                monkeypatch):
    """A static-mask cache of one entry: (nearly) every request computes its static
    candidates, from the classes the static filters but the last passed for an earlier
    request with the same keys (Fleet.prefix_get) -- and decides as the reference does."""
    monkeypatch.setattr(fleet_module, "MASK_CACHE_SIZE", 1)
    rng = random.Random(3000 + seed)
    hosts = random_fleet(rng, 60)
    fast = engine(CONFIGS[config], hosts, InMemoryClaimStore.from_hosts(hosts), path)
    slow = ReferenceScheduler(CONFIGS[config], hosts, InMemoryClaimStore.from_hosts(hosts))
    hits = []
    get = fast.fleet.prefix_get

    def counting_get(key):
        got = get(key)
        hits.append(got is not None)
        return got

    fast.fleet.prefix_get = counting_get
    for k, req in enumerate(random_requests(rng, hosts, 90)):
        assert outcome(fast, req) == outcome(slow, req), f"request {k}: {req}"
    assert any(hits), "requests should share the prefix's classes"
    assert [usage_of(h) for h in fast.fleet.views()] == [usage_of(h) for h in slow.hosts]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", range(3))
def test_columnar_equals_reference_answering_classes_lazily(seed, config, path, monkeypatch):
    """A filter seeing more than EAGER_CLASSES capability classes (65 in bench/scheduler.py's
    fleet) answers only the classes a request's candidates use, and more as later requests
    use others (Fleet.class_answers): the random fleets here have fewer, so the limit is
    lowered to make every static filter answer lazily -- and decide as the reference does."""
    monkeypatch.setattr(fleet_module, "EAGER_CLASSES", 0)
    monkeypatch.setattr(fleet_module, "MASK_CACHE_SIZE", 1)
    rng = random.Random(5000 + seed)
    hosts = random_fleet(rng, 120)
    fast = engine(config, hosts, InMemoryClaimStore.from_hosts(hosts), path)
    slow = ReferenceScheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    for k, req in enumerate(random_requests(rng, hosts, 90)):
        assert outcome(fast, req) == outcome(slow, req), f"request {k}: {req}"
    assert [usage_of(h) for h in fast.fleet.views()] == [usage_of(h) for h in slow.hosts]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("seed", range(3))
def test_columnar_equals_reference_with_class_answers_forgotten(seed, config, path,
                                                                monkeypatch):
    """The last static filter's answers gathered onto the static classes
    (Fleet.static_answers) outlive the per-class answers they came from: with one entry of
    each kept and the prefix's classes computed anew each time, the per-class answers are
    forgotten between any two requests, and a request whose image and flavor came before
    with another zone answers only its own classes again -- what was gathered before must
    still serve the earlier zone."""
    monkeypatch.setattr(fleet_module, "EAGER_CLASSES", 0)
    monkeypatch.setattr(fleet_module, "MASK_CACHE_SIZE", 1)
    monkeypatch.setattr(fleet_module, "ANSWER_CACHE_SIZE", 1)
    monkeypatch.setattr(fleet_module, "PREFIX_CACHE_BYTES", 0)  # the prefix asked each time
    rng = random.Random(7000 + seed)
    hosts = random_fleet(rng, 120)
    fast = engine(config, hosts, InMemoryClaimStore.from_hosts(hosts), path)
    slow = ReferenceScheduler(config, hosts, InMemoryClaimStore.from_hosts(hosts))
    # runs of one image and flavor in every zone: each comes with several prefixes
    reqs = random_requests(rng, hosts, 40)
    for k in range(120):
        base = reqs[k // 12]
        req = replace(base, availability_zone=rng.choice([None, "az1", "az2"]), group=None,
                      num_instances=1)
        assert outcome(fast, req) == outcome(slow, req), f"request {k}: {req}"
    assert [usage_of(h) for h in fast.fleet.views()] == [usage_of(h) for h in slow.hosts]


def test_requests_alike_but_for_the_flavor_share_one_static_set():
    """Requests whose static filters pass the same classes -- here the same image and zone,
    flavors the policy does not tell apart -- share one static set (Fleet.static_set: its
    arrays are built once), while another zone gets its own; each still decides as the
    reference does."""
    rng = random.Random(41)
    hosts = random_fleet(rng, 60)
    fast = engine(CONFIGS["defaults"], hosts, InMemoryClaimStore.from_hosts(hosts), "compiled")
    slow = ReferenceScheduler(CONFIGS["defaults"], hosts, InMemoryClaimStore.from_hosts(hosts))
    reqs = [request(vcpus=1, ram=ram, props={"os_type": "linux"}, availability_zone=az)
            for az, ram in [("az1", 512), ("az1", 1024), ("az1", 2048), ("az2", 512)]]
    sets = []
    for req in reqs:
        assert outcome(fast, req) == outcome(slow, req)
        sets.append(fast.fleet.cache_get(fast._static_key(req)))
    assert sets[0] is sets[1] is sets[2]
    assert sets[3] is not sets[0] and sets[0].size > 0
    assert [fast.fleet.names[i] for i in sets[0].indices()] == [
        h.name for h in slow.hosts if h.availability_zone == "az1"
        and all(f.evaluate(h, reqs[0], DecisionContext(NOW)).passed for f in slow.filters
                if isinstance(f, StaticFilter))]

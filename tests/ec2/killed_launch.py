"""A controller of its own for the ClientToken crash tests: ``python -m tests.ec2.killed_launch
JSON`` runs one RunInstances (the JSON's params, as user alice of p-alice) against the test's
database and image store, its hosts in-memory fakes (kumo.hosts.fake) -- with KUMO_FAILPOINT
set it SIGKILLs itself there, leaving exactly what a dead controller leaves. With ``environ``
in the JSON (an installation's KUMO_* settings, tests/e2e) it is that installation's controller
on its real hosts instead, acting as the JSON's ``user``/``project``/``roles``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kumo.compute.context import RequestContext
from kumo.compute.env import ComputeEnv
from kumo.config import Settings
from kumo.db import Database
from kumo.hosts.fake import FakeHosts


def main(spec: dict) -> None:
    from tests.ec2.support import run

    if "environ" in spec:
        env = ComputeEnv.from_env(spec["environ"])
        ctx = RequestContext(spec["user"], spec["project"], tuple(spec["roles"]))
        print(json.dumps(run(env, ctx, "RunInstances", **spec["params"])))
        return
    settings = Settings(data_dir=Path(spec["data_dir"]), database_url=spec["database_url"],
                        image_dir=Path(spec["image_dir"]))
    env = ComputeEnv(db=Database(spec["database_url"]), settings=settings,
                     pool_name=spec["pool_name"], pool_path=spec["pool_path"],
                     stop_timeout_s=2.0, connect=FakeHosts())
    alice = RequestContext(user_id="alice", project_id="p-alice", roles=("member",))
    print(json.dumps(run(env, alice, "RunInstances", **spec["params"])))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))

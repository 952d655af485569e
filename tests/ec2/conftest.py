"""The compute fixtures (a ComputeEnv on SQLite and PostgreSQL, request contexts, fake
hosts), and ``cloud``: tests.compute.fakehost's fake cloud, whose background builds (RunInstances
builds on worker threads, as the Compute API) are over before the database is emptied."""

import threading

import pytest

from tests.compute.conftest import admin, alice, bob, env, fake_hosts, image_file  # noqa: F401
from tests.compute.fakehost import fake_cloud
from tests.db.fixtures import *  # noqa: F401,F403


@pytest.fixture
def cloud(env, admin, image_file, fake_hosts):  # noqa: F811
    host = fake_cloud(env, admin, image_file, fake_hosts)
    yield env, host
    for thread in threading.enumerate():
        if thread.name.startswith("build-"):
            thread.join(60)

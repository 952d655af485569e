from tests.compute.conftest import admin, alice, bob, env, fake_hosts, image_file  # noqa: F401
from tests.db.fixtures import *  # noqa: F401,F403

from tests.compute.conftest import admin, env, kvm_host  # noqa: F401
from tests.db.fixtures import *  # noqa: F401,F403

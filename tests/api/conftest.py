import pytest

from tests.api.live import Live, start, stop


@pytest.fixture(scope="package")
def live(tmp_path_factory) -> Live:
    """One live kumo serve for the API tests (each client run costs a second or two of CPU:
    the tests share the server and use names of their own)."""
    server = start(tmp_path_factory.mktemp("api"))
    yield server
    stop(server)

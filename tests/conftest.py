import pytest
from django.test import override_settings

from site_management.caddy.background import syncer
from tests.harness import CaddyHarness, Upstream


@pytest.fixture(scope="session")
def caddy_harness(tmp_path_factory, django_db_setup, django_db_blocker):
    harness = CaddyHarness()
    harness.start()
    logs = tmp_path_factory.mktemp("logs")
    with override_settings(
        CADDY_API_URL=harness.api_url,
        CADDY_HTTP_PORT=harness.http_port,
        CADDY_HTTPS_PORT=harness.https_port,
        CADDY_BIND="127.0.0.1",
        CADDY_TLS_ISSUER="internal",
        CADDY_LOG_DIR=str(logs),
        CADDY_BASE_PATH=str(harness.base / "control"),
        CADDY_SYNC_DEBOUNCE_MS=100,
        CADDY_TIMEOUT_SECONDS=5,
    ):
        yield harness
        # Settle any retry while Caddy and the test database still exist, so
        # the exit hook finds nothing to do.
        if not harness.running:
            harness.start()
        with django_db_blocker.unblock():
            syncer.reconcile_every(None)
            syncer.flush()
    harness.stop()


@pytest.fixture
def caddy(caddy_harness, transactional_db):
    """A running Caddy, left running and in step with an empty database."""
    if not caddy_harness.running:
        caddy_harness.start()
    yield caddy_harness
    if not caddy_harness.running:
        caddy_harness.start()
    assert syncer.flush(), "a sync was still running at the end of the test"


@pytest.fixture
def upstreams():
    started = []

    def make(name):
        upstream = Upstream(name)
        started.append(upstream)
        return upstream

    yield make
    for upstream in started:
        upstream.close()


def wait_for_sync():
    assert syncer.flush(), "the sync did not finish"

"""An upstream that cannot be reached is the site's problem, not the sync's:
the config is taken, that site answers 502, and every other site is served."""

import socket

import pytest

from tests.conftest import wait_for_sync
from tests.support import assert_serves, create_site

pytestmark = [pytest.mark.caddy]


@pytest.fixture
def silent_address():
    """host:port of a bound port that nobody listens on: connections to it are
    refused, and no other process can take the port while the test runs."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{reserved.getsockname()[1]}"


def assert_only_the_broken_site_fails(caddy, broken, healthy):
    broken.refresh_from_db()
    assert (broken.sync_status, broken.sync_error) == ("live", "")
    assert caddy.get(broken.host).status_code == 502
    assert_serves(caddy, "healthy.test", healthy)


def test_an_upstream_that_does_not_resolve_answers_502_alone(caddy, upstreams):
    healthy = upstreams("healthy")
    create_site("healthy.test", healthy.address)
    broken = create_site("unresolved.test", "nonexistent.invalid:80")

    wait_for_sync()

    assert_only_the_broken_site_fails(caddy, broken, healthy)


def test_an_upstream_with_nothing_listening_answers_502_alone(
    caddy, upstreams, silent_address
):
    healthy = upstreams("healthy")
    create_site("healthy.test", healthy.address)
    broken = create_site("refused.test", silent_address)

    wait_for_sync()

    assert_only_the_broken_site_fails(caddy, broken, healthy)


def test_a_site_with_one_dead_upstream_of_two_is_still_served(
    caddy, upstreams, silent_address
):
    alive = upstreams("alive")
    create_site("half.test", silent_address, alive.address)
    wait_for_sync()

    for _ in range(4):
        assert_serves(caddy, "half.test", alive)

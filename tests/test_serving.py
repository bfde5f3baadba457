"""What Caddy serves, asked over HTTP, as sites change through the ORM.

Every test keeps a second site, the bystander, and checks after each step
that a change to one site never disturbs another.
"""

import pytest
from django.core.management import call_command

from site_management.caddy.render import (
    MAINTENANCE_BODY,
    NO_UPSTREAM_BODY,
    NOT_FOUND_BODY,
)
from site_management.models import Site
from tests.conftest import wait_for_sync
from tests.support import assert_serves, create_site

pytestmark = [pytest.mark.caddy]


@pytest.fixture
def bystander(caddy, upstreams):
    """A site that no test touches, and a check that it is still served."""
    upstream = upstreams("bystander")
    create_site("bystander.test", upstream.address)

    def check():
        assert_serves(caddy, "bystander.test", upstream)

    return check


def assert_not_found(response):
    assert response.status_code == 404
    assert response.text == NOT_FOUND_BODY
    assert response.headers["Content-Type"].startswith("text/html")


def test_a_new_site_is_served_from_its_upstream(caddy, upstreams, bystander):
    app = upstreams("app")

    create_site("app.test", app.address)
    wait_for_sync()

    assert_serves(caddy, "app.test", app)
    bystander()


def test_changing_a_sites_address_moves_traffic_to_the_new_upstream(
    caddy, upstreams, bystander
):
    old, new = upstreams("old"), upstreams("new")
    site = create_site("moving.test", old.address)
    wait_for_sync()
    assert_serves(caddy, "moving.test", old)
    bystander()

    address = site.addresses.get()
    address.ip_address = new.address
    address.save()
    wait_for_sync()

    old_hits = old.hits
    assert_serves(caddy, "moving.test", new)
    assert old.hits == old_hits
    bystander()


def test_a_site_with_two_addresses_sends_traffic_to_both(caddy, upstreams, bystander):
    first, second = upstreams("first"), upstreams("second")
    create_site("pair.test", first.address, second.address)
    wait_for_sync()

    answers = [caddy.get("pair.test") for _ in range(10)]

    assert {response.status_code for response in answers} == {200}
    assert {response.text for response in answers} == {
        "upstream first",
        "upstream second",
    }
    assert (first.hits, second.hits) == (5, 5)  # round robin
    bystander()


def test_an_inactive_site_gets_the_404_page(caddy, upstreams, bystander):
    app = upstreams("app")
    site = create_site("sleepy.test", app.address)
    wait_for_sync()
    assert_serves(caddy, "sleepy.test", app)

    site.status = Site.Status.INACTIVE
    site.save()
    wait_for_sync()

    assert_not_found(caddy.get("sleepy.test"))
    bystander()
    site.refresh_from_db()
    assert site.sync_status == "live"


def test_reactivating_an_inactive_site_serves_it_again(caddy, upstreams, bystander):
    app = upstreams("app")
    site = create_site("back.test", app.address, status=Site.Status.INACTIVE)
    wait_for_sync()
    assert_not_found(caddy.get("back.test"))
    bystander()

    site.status = Site.Status.ACTIVE
    site.save()
    wait_for_sync()

    assert_serves(caddy, "back.test", app)
    bystander()


def test_a_site_in_maintenance_answers_503_with_the_maintenance_page(
    caddy, upstreams, bystander
):
    app = upstreams("app")
    site = create_site("fixing.test", app.address)
    wait_for_sync()

    site.status = Site.Status.MAINTENANCE
    site.save()
    wait_for_sync()

    hits = app.hits
    response = caddy.get("fixing.test")
    assert response.status_code == 503
    assert response.text == MAINTENANCE_BODY
    assert response.headers["Retry-After"] == "300"
    assert app.hits == hits
    bystander()

    site.status = Site.Status.ACTIVE
    site.save()
    wait_for_sync()

    assert_serves(caddy, "fixing.test", app)
    bystander()


def test_deleting_a_site_stops_serving_it(caddy, upstreams, bystander):
    app = upstreams("app")
    site = create_site("gone.test", app.address)
    wait_for_sync()
    assert_serves(caddy, "gone.test", app)

    site.delete()
    wait_for_sync()

    assert_not_found(caddy.get("gone.test"))
    bystander()


def test_removing_one_of_two_addresses_sends_all_traffic_to_the_other(
    caddy, upstreams, bystander
):
    kept, dropped = upstreams("kept"), upstreams("dropped")
    site = create_site("shrink.test", kept.address, dropped.address)
    wait_for_sync()

    site.addresses.get(ip_address=dropped.address).delete()
    wait_for_sync()

    hits = dropped.hits
    for _ in range(4):
        assert_serves(caddy, "shrink.test", kept)
    assert dropped.hits == hits
    bystander()


def test_renaming_a_site_moves_it_to_the_new_host(caddy, upstreams, bystander):
    app = upstreams("app")
    site = create_site("before.test", app.address)
    wait_for_sync()

    site.host = "after.test"
    site.save()
    wait_for_sync()

    assert_serves(caddy, "after.test", app)
    assert_not_found(caddy.get("before.test"))
    bystander()


def test_an_active_site_without_addresses_answers_502_with_a_page(caddy, bystander):
    create_site("empty.test")
    wait_for_sync()

    response = caddy.get("empty.test")
    assert (response.status_code, response.text) == (502, NO_UPSTREAM_BODY)
    bystander()


def test_an_unknown_host_gets_a_404_page_not_an_empty_200(caddy, bystander):
    wait_for_sync()

    assert_not_found(caddy.get("nobody.test"))
    bystander()


def test_with_no_sites_at_all_every_host_gets_the_404_page(caddy):
    call_command("caddy_sync")

    assert_not_found(caddy.get("nobody.test"))

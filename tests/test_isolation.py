"""A site whose config Caddy refuses is found, marked failed with Caddy's own
message and held back, while every other site goes live and keeps serving.

Our validation refuses every input that Caddy could reject, so no row saved
through the models can make Caddy refuse a config. The fault is therefore
put in at the one seam between the rows and Caddy's JSON: the renderer gives
the chosen sites a handler module that Caddy does not have. Caddy itself is
real and really refuses the document, with its own message.
"""

import pytest
from django.db import transaction

from site_management.caddy import render
from site_management.caddy.render import NOT_FOUND_BODY
from site_management.caddy.sync import sync_all
from site_management.models import CaddyNode, Site, SyncAttempt
from tests.conftest import wait_for_sync
from tests.support import (
    assert_serves,
    create_site,
    database_config,
    live_config,
)

pytestmark = [pytest.mark.caddy]
CADDY_SAYS = ("unknown module", "no_such_handler")


class Fault:
    """Which sites the renderer spoils: by default hosts starting with bad."""

    def __init__(self):
        self.active = True
        self.hits = lambda spec: spec.host.startswith("bad")


@pytest.fixture
def caddy_refuses(monkeypatch):
    fault = Fault()
    real_handler = render._site_handler

    def site_handler(spec):
        if fault.active and fault.hits(spec):
            return {"handler": "no_such_handler"}
        return real_handler(spec)

    monkeypatch.setattr(render, "_site_handler", site_handler)
    return fault


def node():
    return CaddyNode.objects.get(name="default")


def assert_refused_by_caddy(host):
    site = Site.objects.get(host=host)
    assert site.sync_status == "failed"
    for words in CADDY_SAYS:
        assert words in site.sync_error


def assert_not_served(caddy, host):
    response = caddy.get(host)
    assert (response.status_code, response.text) == (404, NOT_FOUND_BODY)


def create_together(*sites):
    """Create (host, upstream) sites in one transaction: one sync sees all."""
    with transaction.atomic():
        for host, upstream in sites:
            create_site(host, upstream.address)
    wait_for_sync()


@pytest.fixture
def one_refused(caddy, upstreams, caddy_refuses):
    """Two good new sites and a bad one, created together."""
    first, second = upstreams("first"), upstreams("second")
    create_together(
        ("good-1.test", first), ("bad.test", first), ("good-2.test", second)
    )
    return first, second


def test_a_new_site_caddy_refuses_fails_with_caddys_message_and_the_rest_go_live(
    caddy, one_refused
):
    first, second = one_refused

    assert_serves(caddy, "good-1.test", first)
    assert_serves(caddy, "good-2.test", second)
    assert_not_served(caddy, "bad.test")
    assert_refused_by_caddy("bad.test")
    assert set(
        Site.objects.exclude(host="bad.test").values_list("sync_status", flat=True)
    ) == {"live"}
    attempt = SyncAttempt.objects.first()
    assert attempt.result == "partial"
    assert "bad.test" in attempt.error and "no_such_handler" in attempt.error
    assert node().last_result == "partial"
    assert "bad.test" in node().last_error
    assert "no_such_handler" in node().last_error


def test_a_live_site_changed_into_a_refused_version_keeps_its_last_good_version(
    caddy, upstreams, caddy_refuses
):
    old, new, other = upstreams("old"), upstreams("new"), upstreams("other")
    caddy_refuses.hits = lambda spec: new.address in spec.upstreams
    site = create_site("changing.test", old.address)
    wait_for_sync()
    assert_serves(caddy, "changing.test", old)

    with transaction.atomic():
        address = site.addresses.get()
        address.ip_address = new.address
        address.save()
        create_site("other.test", other.address)
    wait_for_sync()

    assert_serves(caddy, "changing.test", old)
    assert new.hits == 0
    assert_refused_by_caddy("changing.test")
    assert_serves(caddy, "other.test", other)
    assert Site.objects.get(host="other.test").sync_status == "live"
    assert node().last_result == "partial"


def test_a_sync_with_no_change_does_not_try_a_refused_site_again(caddy, one_refused):
    posts = caddy.config_posts()
    refused = Site.objects.get(host="bad.test")

    (outcome,) = sync_all("test")

    assert caddy.config_posts() == posts
    assert outcome.result == "partial"
    assert set(outcome.refused) == {"bad.test"}
    again = Site.objects.get(host="bad.test")
    assert (again.sync_status, again.sync_error) == ("failed", refused.sync_error)
    assert "bad.test" in node().last_error
    assert node().failing_since is not None  # no "recovered" notice
    assert_serves(caddy, "good-1.test", one_refused[0])


def test_saving_a_refused_site_unchanged_keeps_it_failed_and_does_not_retry_it(
    caddy, one_refused
):
    refused = Site.objects.get(host="bad.test")
    posts = caddy.config_posts()

    refused.save()
    wait_for_sync()

    assert caddy.config_posts() == posts
    again = Site.objects.get(host="bad.test")
    assert (again.sync_status, again.sync_error) == ("failed", refused.sync_error)
    assert node().last_result == "partial"


def test_fixing_a_refused_site_makes_it_live(caddy, one_refused, caddy_refuses):
    first, _ = one_refused
    caddy_refuses.active = False

    Site.objects.get(host="bad.test").save()
    wait_for_sync()

    assert_serves(caddy, "bad.test", first)
    site = Site.objects.get(host="bad.test")
    assert (site.sync_status, site.sync_error) == ("live", "")
    assert (node().last_result, node().last_error) == ("applied", "")
    assert live_config(caddy) == database_config()


def test_fixing_a_refused_change_of_a_live_site_moves_it_to_the_new_version(
    caddy, upstreams, caddy_refuses
):
    old, new = upstreams("old"), upstreams("new")
    caddy_refuses.hits = lambda spec: new.address in spec.upstreams
    site = create_site("changing.test", old.address)
    wait_for_sync()
    address = site.addresses.get()
    address.ip_address = new.address
    address.save()
    wait_for_sync()
    assert_refused_by_caddy("changing.test")
    caddy_refuses.active = False

    Site.objects.get(host="changing.test").save()
    wait_for_sync()

    assert_serves(caddy, "changing.test", new)
    site.refresh_from_db()
    assert (site.sync_status, site.sync_error) == ("live", "")


def test_two_refused_sites_among_ten_are_both_found(caddy, upstreams, caddy_refuses):
    app = upstreams("app")
    hosts = [f"good-{n}.test" for n in range(10)]
    hosts[3], hosts[7] = "bad-3.test", "bad-7.test"

    create_together(*[(host, app) for host in hosts])

    for host in hosts:
        if host.startswith("bad"):
            assert_refused_by_caddy(host)
            assert_not_served(caddy, host)
        else:
            assert_serves(caddy, host, app)
            assert Site.objects.get(host=host).sync_status == "live"
    assert node().last_result == "partial"
    assert "bad-3.test" in node().last_error
    assert "bad-7.test" in node().last_error

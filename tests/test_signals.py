"""The signals other code sends after changing rows behind the ORM's back:
each one leads to a sync, so Caddy catches up with the change."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from site_management.models import Addresses, Site
from site_management.signals import caddy_sync_required, ssl_certificate_uploaded
from tests.conftest import wait_for_sync
from tests.support import assert_serves, create_site

pytestmark = [pytest.mark.caddy]


def update_in_sql(site, **values):
    """Change a row with raw SQL, the one write path no signal can see."""
    assignments = ", ".join(f"{name} = %s" for name in values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Site._meta.db_table} SET {assignments} WHERE id = %s",
            [*values.values(), site.pk],
        )


@pytest.fixture
def served(caddy, upstreams):
    """A live site and its upstream."""
    app = upstreams("app")
    site = create_site("signalled.test", app.address)
    wait_for_sync()
    assert_serves(caddy, "signalled.test", app)
    return site, app


def test_caddy_sync_required_update_applies_a_change_made_in_sql(caddy, served):
    site, app = served
    update_in_sql(site, status=Site.Status.MAINTENANCE)
    wait_for_sync()
    assert_serves(caddy, "signalled.test", app)  # nothing has told the sync yet

    caddy_sync_required.send(sender=Site, instance=site, action="update")
    wait_for_sync()

    assert caddy.get("signalled.test").status_code == 503
    site.refresh_from_db()
    assert site.sync_status == "live"


def test_caddy_sync_required_delete_applies_a_delete_made_in_sql(caddy, served):
    site, app = served
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Addresses._meta.db_table} WHERE site_id = %s", [site.pk]
        )
        cursor.execute(f"DELETE FROM {Site._meta.db_table} WHERE id = %s", [site.pk])
    wait_for_sync()
    assert_serves(caddy, "signalled.test", app)  # nothing has told the sync yet

    caddy_sync_required.send(sender=Site, instance=site, action="delete")
    wait_for_sync()

    assert caddy.get("signalled.test").status_code == 404


@pytest.mark.parametrize(
    "send",
    [
        lambda site: caddy_sync_required.send(
            sender=Site, instance=site, action="update_ssl"
        ),
        lambda site: ssl_certificate_uploaded.send(sender=Site, instance=site),
    ],
    ids=["caddy_sync_required-update_ssl", "ssl_certificate_uploaded"],
)
def test_a_certificate_signal_applies_a_switch_to_https(caddy, served, send):
    site, app = served
    update_in_sql(site, protocol="https", auto_ssl=True)
    wait_for_sync()
    assert_serves(caddy, "signalled.test", app)  # nothing has told the sync yet

    send(site)
    wait_for_sync()

    redirect = caddy.get("signalled.test", "/page?x=1")
    assert redirect.status_code == 308
    assert redirect.headers["Location"] == (
        f"https://signalled.test:{caddy.https_port}/page?x=1"
    )
    site.refresh_from_db()
    assert site.sync_status == "live"


def test_caddy_sync_required_with_an_unknown_action_raises(caddy, served):
    site, _ = served

    with pytest.raises(ValueError, match="'rebuild'"):
        caddy_sync_required.send(sender=Site, instance=site, action="rebuild")


def test_a_queryset_update_is_applied_without_a_signal(caddy, served):
    site, _ = served

    Site.objects.filter(pk=site.pk).update(status=Site.Status.MAINTENANCE)
    wait_for_sync()

    assert caddy.get("signalled.test").status_code == 503
    site.refresh_from_db()
    assert site.sync_status == "live"


def test_a_queryset_update_with_a_bad_host_is_refused_and_nothing_changes(
    caddy, served
):
    site, app = served

    with pytest.raises(ValidationError) as refused:
        Site.objects.filter(pk=site.pk).update(host="bad{host}.test")

    assert "host" in refused.value.message_dict
    site.refresh_from_db()
    assert site.host == "signalled.test"
    assert_serves(caddy, "signalled.test", app)


def test_bulk_created_sites_are_validated_and_served(caddy, upstreams):
    app = upstreams("bulk")
    with pytest.raises(ValidationError):
        Site.objects.bulk_create([Site(host="ok.bulk.test"), Site(host="bad host")])
    assert not Site.objects.filter(host="ok.bulk.test").exists()

    sites = Site.objects.bulk_create([Site(host="one.bulk.test")])
    Addresses.objects.bulk_create([Addresses(site=sites[0], ip_address=app.address)])
    wait_for_sync()

    assert caddy.get("one.bulk.test").text == "upstream bulk"

"""The admin shows the truth at a glance: the Sync now button and action, the
dashboard, the sync history and the audit trail, against a real Caddy where a
sync happens."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from site_management.caddy.sync import default_node
from site_management.models import Addresses, Certificate, Site, SyncAttempt
from tests.certs import authority
from tests.conftest import wait_for_sync
from tests.support import assert_serves, create_site, live_config

SITES = "/admin/site_management/site/"
SYNC_NOW = SITES + "sync-now/"
DASHBOARD = SITES + "dashboard/"
AUDIT_SITES = "/admin/site_management/historicalsite/"
CERTS = "/admin/site_management/certificate/"
AUDIT_CERTS = "/admin/site_management/historicalcertificate/"
CA = authority("Audit")


def manual_syncs():
    return SyncAttempt.objects.filter(trigger__startswith="sync now by")


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def change_form(site, **fields):
    """The POST the site change form sends, with its addresses inline."""
    addresses = list(site.addresses.all())
    data = {
        "host": site.host,
        "protocol": site.protocol,
        "status": site.status,
        "certificate": site.certificate_id or "",
        "addresses-TOTAL_FORMS": len(addresses),
        "addresses-INITIAL_FORMS": len(addresses),
        "addresses-MIN_NUM_FORMS": 0,
        "addresses-MAX_NUM_FORMS": 1000,
    }
    if site.auto_ssl:
        data["auto_ssl"] = "on"
    for index, address in enumerate(addresses):
        data[f"addresses-{index}-id"] = address.pk
        data[f"addresses-{index}-site"] = site.pk
        data[f"addresses-{index}-ip_address"] = address.ip_address
    data.update(fields)
    return data


@pytest.fixture
def restarted_empty(caddy, upstreams):
    """A live site whose Caddy restarted without its config, as after a crash
    of a Caddy run without --resume: only a sync brings the site back."""
    app = upstreams("app")
    create_site("button.test", app.address)
    wait_for_sync()
    caddy.stop()
    caddy.start()
    assert "apps" not in live_config(caddy)  # no http server, nothing served
    return app


@pytest.mark.caddy
def test_the_sync_now_button_puts_the_database_back_into_caddy(
    caddy, restarted_empty, admin_client
):
    response = admin_client.post(SYNC_NOW, {"next": SITES}, follow=True)

    assert response.redirect_chain == [(SITES, 302)]
    assert messages_of(response) == ["Caddy serves the database (applied)"]
    attempt = manual_syncs().get()
    assert (attempt.trigger, attempt.result) == ("sync now by admin", "applied")
    assert Site.objects.get(host="button.test").sync_status == "live"
    assert_serves(caddy, "button.test", restarted_empty)


@pytest.mark.caddy
def test_the_sync_now_action_syncs_too(caddy, restarted_empty, admin_client):
    site = Site.objects.get(host="button.test")
    data = {"action": "sync_now_action", "_selected_action": [site.pk]}

    response = admin_client.post(SITES, data, follow=True)

    assert messages_of(response) == ["Caddy serves the database (applied)"]
    assert manual_syncs().get().result == "applied"
    assert_serves(caddy, "button.test", restarted_empty)


@pytest.mark.caddy
def test_a_second_sync_now_reports_unchanged(caddy, admin_client):
    admin_client.post(SYNC_NOW, follow=True)  # follow: its message is shown

    response = admin_client.post(SYNC_NOW, follow=True)

    assert messages_of(response) == ["Caddy serves the database (unchanged)"]
    assert manual_syncs().count() == 2


@pytest.mark.caddy
def test_sync_now_while_caddy_is_down_shows_the_problem(caddy, admin_client):
    caddy.stop()

    response = admin_client.post(SYNC_NOW, follow=True)

    [message] = response.context["messages"]
    assert message.level_tag == "error"
    assert manual_syncs().get().error in str(message)
    assert manual_syncs().get().result == "unreachable"


@pytest.mark.caddy
def test_a_get_does_not_sync(caddy, admin_client):
    response = admin_client.get(SYNC_NOW)

    assert response.status_code == 405
    assert not manual_syncs().exists()


@pytest.mark.caddy
def test_a_user_who_is_not_staff_is_refused(caddy, client, django_user_model):
    user = django_user_model.objects.create_user("visitor", password="x")
    client.force_login(user)

    response = client.post(SYNC_NOW)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert not manual_syncs().exists()


@pytest.mark.caddy
def test_staff_who_may_only_view_sites_get_no_button_and_are_refused(
    caddy, client, django_user_model
):
    user = django_user_model.objects.create_user("viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_site"))
    client.force_login(user)

    page = client.get(SITES).content.decode()
    response = client.post(SYNC_NOW)

    assert SYNC_NOW not in page
    assert response.status_code == 403
    assert not manual_syncs().exists()


@pytest.mark.django_db
def test_the_list_and_the_change_page_offer_the_button_with_a_csrf_token(
    admin_client,
):
    site = Site.objects.create(host="form.test")

    for url in (SITES, f"{SITES}{site.pk}/change/"):
        page = admin_client.get(url).content.decode()
        form = page[page.index(f'action="{SYNC_NOW}"') :]
        assert 'method="post"' in page
        assert form.index("csrfmiddlewaretoken") < form.index("</form>")


@pytest.mark.django_db
def test_the_dashboard_is_linked_from_the_index_and_the_site_list(admin_client):
    assert DASHBOARD in admin_client.get("/admin/").content.decode()
    assert DASHBOARD in admin_client.get(SITES).content.decode()


def set_state(host, state, error=""):
    # Only the sync's own fields: no new sync is asked for.
    Site.objects.filter(host=host).update(sync_status=state, sync_error=error)


def failed_attempt(node, error):
    return SyncAttempt.objects.create(
        node=node,
        started_at=timezone.now() - timedelta(minutes=1),
        duration_ms=3,
        trigger="test",
        result=SyncAttempt.Result.REJECTED,
        config_hash="0" * 64,
        site_count=4,
        error=error,
    )


@pytest.mark.caddy
def test_the_dashboard_counts_sites_per_state_and_shows_what_failed(
    caddy, upstreams, admin_client
):
    app = upstreams("app")
    for host in ("a.test", "b.test", "c.test", "d.test", "e.test"):
        create_site(host, app.address)
    wait_for_sync()
    set_state("c.test", "pending", "Caddy unreachable: connection refused")
    set_state("d.test", "failed", "route 0: bad upstream")
    set_state("e.test", "drifted")
    failed_attempt(default_node(), "server main: loading handler")

    response = admin_client.get(DASHBOARD)

    page = response.content.decode()
    counts = {item["state"]: item["count"] for item in response.context["states"]}
    assert counts == {"live": 2, "pending": 1, "failed": 1, "drifted": 1}
    assert f'href="{SITES}?sync_status__exact=failed"' in page
    assert "route 0: bad upstream" in page
    assert "Caddy unreachable: connection refused" in page
    assert "server main: loading handler" in page
    assert "default" in page and "applied" in page  # the node's last result


@pytest.mark.django_db
def test_a_state_link_lists_only_the_sites_in_that_state(admin_client):
    for host in ("ok.test", "bad.test"):
        Site.objects.create(host=host)
    set_state("bad.test", "failed", "refused")

    page = admin_client.get(SITES + "?sync_status__exact=failed").content.decode()

    assert "bad.test" in page
    assert "ok.test" not in page


@pytest.mark.django_db
def test_the_sync_history_is_listed_and_readable(admin_client):
    attempt = failed_attempt(default_node(), "server main: loading handler")

    listing = admin_client.get("/admin/site_management/syncattempt/")
    detail = admin_client.get(f"/admin/site_management/syncattempt/{attempt.pk}/")

    assert "server main: loading handler" in listing.content.decode()
    assert detail.status_code == 302  # the admin's /<id>/ forwards to the page
    page = admin_client.get(detail["Location"]).content.decode()
    assert "server main: loading handler" in page
    assert 'name="_save"' not in page


@pytest.mark.caddy
def test_the_audit_trail_names_who_changed_a_site_even_after_it_is_deleted(
    caddy, upstreams, admin_client, admin_user
):
    site = create_site("audit.test", upstreams("app").address)
    change = f"{SITES}{site.pk}/change/"

    response = admin_client.post(change, change_form(site, status="maintenance"))
    assert response.status_code == 302
    admin_client.post(f"{SITES}{site.pk}/delete/", {"post": "yes"})
    wait_for_sync()

    records = Site.history.filter(id=site.pk)
    assert [(r.history_type, r.history_user) for r in records] == [
        ("-", admin_user),
        ("~", admin_user),
        ("+", None),  # created through the ORM, outside any request
    ]
    trail = admin_client.get(AUDIT_SITES).content
    assert "status: active \u2192 maintenance" in trail.decode()
    assert "updated_at" not in trail.decode()  # noise every save brings
    assert "Deleted" in trail.decode() and "admin" in trail.decode()
    addresses = admin_client.get("/admin/site_management/historicaladdresses/")
    assert "audit.test" in addresses.content.decode()  # the site is gone


@pytest.mark.django_db
def test_the_audit_trail_cannot_be_edited(admin_client):
    Site.objects.create(host="fixed.test")
    record = Site.history.get()
    url = f"{AUDIT_SITES}{record.pk}/change/"

    page = admin_client.get(url).content.decode()
    deleted = admin_client.post(f"{AUDIT_SITES}{record.pk}/delete/", {"post": "yes"})

    assert "fixed.test" in page and 'name="_save"' not in page
    assert admin_client.get(AUDIT_SITES + "add/").status_code == 403
    assert deleted.status_code == 403
    assert Site.history.count() == 1


@pytest.mark.django_db
def test_the_object_history_cannot_revert(admin_client):
    site = Site.objects.create(host="old.test")
    site.host = "new.test"
    site.save()
    first = Site.history.earliest()
    url = f"{SITES}{site.pk}/history/{first.history_id}/"

    response = admin_client.post(url, change_form(first.instance))

    assert response.status_code == 405
    assert Site.objects.get().host == "new.test"


@pytest.mark.django_db
def test_no_certificate_history_page_shows_the_key(admin_client, admin_user):
    leaf = CA.leaf("shop.test")
    add = {"name": "shop", "certificate": leaf.pem, "private_key": leaf.key_pem()}
    admin_client.post(CERTS + "add/", add)
    cert = Certificate.objects.get()
    change = f"{CERTS}{cert.pk}/change/"
    admin_client.post(change, {"name": "renamed", "certificate": leaf.pem})
    key_lines = cert.private_key.splitlines()[1:-1]

    history = f"{CERTS}{cert.pk}/history/"
    pages = [history, AUDIT_CERTS]
    for record in cert.history.all():
        pages += [f"{history}{record.history_id}/", f"{AUDIT_CERTS}{record.pk}/"]

    assert [r.history_user for r in cert.history.all()] == [admin_user] * 2
    for url in pages:
        response = admin_client.get(url, follow=True)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "shop" in page or "renamed" in page, url
        assert not any(line in page for line in key_lines), url
        assert "PRIVATE KEY" not in page, url


@pytest.mark.django_db
def test_address_changes_show_in_the_audit_trail_with_their_site(admin_client):
    site = Site.objects.create(host="upstreams.test")
    address = Addresses.objects.create(site=site, ip_address="127.0.0.1:9001")
    address.ip_address = "127.0.0.1:9002"
    address.save()

    page = admin_client.get("/admin/site_management/historicaladdresses/").content

    assert "ip_address: 127.0.0.1:9001 \u2192 127.0.0.1:9002" in page.decode()
    assert "upstreams.test" in page.decode()

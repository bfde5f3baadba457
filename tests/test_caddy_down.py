"""Saving never fails while Caddy is down; the change waits on the rows and is
applied once Caddy is back."""

from io import StringIO

import httpx
import pytest
from django.core.management import CommandError, call_command

from site_management.caddy.render import MAINTENANCE_BODY, NOT_FOUND_BODY
from site_management.models import CaddyNode, Site, SyncAttempt
from tests.conftest import wait_for_sync
from tests.support import (
    OperationsLog,
    assert_serves,
    create_site,
    database_config,
    live_config,
)

pytestmark = [pytest.mark.caddy]
REFUSED = "Connection refused"


def assert_pending_because_caddy_is_down(site):
    site.refresh_from_db()
    assert site.sync_status == "pending"
    assert REFUSED in site.sync_error
    assert site.last_sync_attempt_at is not None


def assert_node_unreachable():
    node = CaddyNode.objects.get(name="default")
    assert node.last_result == "unreachable"
    assert REFUSED in node.last_error
    attempt = SyncAttempt.objects.filter(node=node).first()
    assert attempt.result == "unreachable"
    assert REFUSED in attempt.error


def assert_failure_banner(oplog, host):
    banner = oplog.banner("CADDY AUTO-SYNC FAILED", host)
    assert banner is not None, f"no failure banner for {host}"
    assert banner[1].startswith("# ERROR: ")
    assert REFUSED in banner[1]


def test_saving_a_site_while_caddy_is_down_keeps_it_pending(caddy, upstreams):
    app = upstreams("app")
    oplog = OperationsLog()
    caddy.stop()

    site = create_site("down.test", app.address)
    wait_for_sync()

    assert_pending_because_caddy_is_down(site)
    assert site.last_synced_at is None
    assert_node_unreachable()
    assert_failure_banner(oplog, "down.test")


def test_editing_a_site_while_caddy_is_down_keeps_the_edit_pending(caddy, upstreams):
    old, new = upstreams("old"), upstreams("new")
    site = create_site("edited.test", old.address)
    wait_for_sync()
    site.refresh_from_db()
    assert site.sync_status == "live"
    oplog = OperationsLog()
    caddy.stop()

    site.status = Site.Status.MAINTENANCE
    site.save()
    address = site.addresses.get()
    address.ip_address = new.address
    address.save()
    wait_for_sync()

    assert_pending_because_caddy_is_down(site)
    assert_node_unreachable()
    assert_failure_banner(oplog, "edited.test")


def test_deleting_a_site_while_caddy_is_down_succeeds_and_logs_the_failure(
    caddy, upstreams
):
    app = upstreams("app")
    site = create_site("deleted.test", app.address)
    wait_for_sync()
    oplog = OperationsLog()
    caddy.stop()

    site.delete()
    wait_for_sync()

    assert not Site.objects.filter(host="deleted.test").exists()
    assert_node_unreachable()
    assert_failure_banner(oplog, "deleted.test")


def test_caddy_sync_fails_while_caddy_is_down(caddy, upstreams):
    create_site("waiting.test", upstreams("app").address)
    wait_for_sync()
    caddy.stop()
    errors = StringIO()

    with pytest.raises(CommandError, match="stays pending"):
        call_command("caddy_sync", stdout=StringIO(), stderr=errors)

    assert "unreachable" in errors.getvalue()
    assert REFUSED in errors.getvalue()


def test_changes_made_while_caddy_was_down_are_applied_by_caddy_sync(caddy, upstreams):
    kept, edited, added, deleted = (
        upstreams(name) for name in ("kept", "edited", "added", "deleted")
    )
    create_site("kept.test", kept.address)
    to_edit = create_site("edited.test", edited.address)
    to_delete = create_site("deleted.test", deleted.address)
    wait_for_sync()
    caddy.stop()

    create_site("added.test", added.address)
    to_edit.status = Site.Status.MAINTENANCE
    to_edit.save()
    to_delete.delete()
    wait_for_sync()
    assert dict(Site.objects.values_list("host", "sync_status")) == {
        "added.test": "pending",
        "edited.test": "pending",
        # Untouched, but nothing is served while Caddy is down: not live.
        "kept.test": "pending",
    }

    # A restarted Caddy starts empty. The background retry may get there
    # before the command does; either way the command must leave Caddy
    # exactly as the database says.
    caddy.start()
    call_command("caddy_sync", stdout=StringIO())

    assert live_config(caddy) == database_config()
    assert_serves(caddy, "kept.test", kept)
    assert_serves(caddy, "added.test", added)
    maintenance = caddy.get("edited.test")
    assert (maintenance.status_code, maintenance.text) == (503, MAINTENANCE_BODY)
    gone = caddy.get("deleted.test")
    assert (gone.status_code, gone.text) == (404, NOT_FOUND_BODY)
    assert set(Site.objects.values_list("sync_status", flat=True)) == {"live"}
    assert set(Site.objects.values_list("sync_error", flat=True)) == {""}
    call_command("caddy_status", stdout=StringIO())  # raises unless all match


def test_caddy_sync_puts_back_a_caddy_that_restarted_empty(caddy, upstreams):
    app = upstreams("app")
    create_site("restarted.test", app.address)
    wait_for_sync()

    caddy.stop()
    caddy.start()
    assert "apps" not in live_config(caddy)
    with pytest.raises(httpx.ConnectError):
        caddy.get("restarted.test")  # an empty Caddy listens on no http port

    out = StringIO()
    call_command("caddy_sync", stdout=out)

    assert "default: applied" in out.getvalue()
    assert live_config(caddy) == database_config()
    assert_serves(caddy, "restarted.test", app)


def test_a_change_saved_while_caddy_was_down_is_retried_once_caddy_is_back(
    caddy, upstreams
):
    app = upstreams("app")
    caddy.stop()
    site = create_site("retried.test", app.address)
    wait_for_sync()
    assert_pending_because_caddy_is_down(site)

    caddy.start()
    wait_for_sync()  # runs the pending retry now instead of after its backoff

    assert_serves(caddy, "retried.test", app)
    site.refresh_from_db()
    assert (site.sync_status, site.sync_error) == ("live", "")
    assert CaddyNode.objects.get(name="default").last_result == "applied"

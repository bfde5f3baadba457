"""The manager facade old scripts call: it saves, waits for the sync, and
says whether Caddy took the change."""

import pytest

from site_management.models import Site
from site_management.utils.enhanced_caddy_manager import (
    CaddyConfig,
    EnhancedCaddyManager,
)
from tests.conftest import wait_for_sync
from tests.support import (
    OperationsLog,
    assert_serves,
    create_site,
    live_config,
)

pytestmark = [pytest.mark.caddy]


@pytest.fixture
def manager():
    return EnhancedCaddyManager(enable_logging=True)


def test_add_site_reports_success_once_caddy_serves_the_site(caddy, upstreams, manager):
    app = upstreams("app")
    oplog = OperationsLog()

    result = manager.add_site(CaddyConfig(host="added.test", addresses=[app.address]))

    assert (result.success, result.saved, result.error) == (True, True, "")
    assert result.sync_status == "live"
    assert_serves(caddy, "added.test", app)
    assert oplog.banner("ADD SITE COMPLETE", "added.test") is not None


def test_update_site_moves_the_site_to_its_new_upstream(caddy, upstreams, manager):
    old, new = upstreams("old"), upstreams("new")
    assert manager.add_site(CaddyConfig(host="moved.test", addresses=[old.address]))

    result = manager.update_site(
        CaddyConfig(host="moved.test", addresses=[new.address])
    )

    assert (result.success, result.saved) == (True, True)
    assert_serves(caddy, "moved.test", new)
    addresses = Site.objects.get(host="moved.test").addresses
    assert list(addresses.values_list("ip_address", flat=True)) == [new.address]


def test_remove_site_stops_serving_it(caddy, upstreams, manager):
    app = upstreams("app")
    assert manager.add_site(CaddyConfig(host="removed.test", addresses=[app.address]))

    result = manager.remove_site("removed.test")

    assert (result.success, result.saved) == (True, True)
    assert caddy.get("removed.test").status_code == 404
    assert not Site.objects.filter(host="removed.test").exists()


def test_add_site_with_a_bad_host_writes_nothing(caddy, upstreams, manager):
    app = upstreams("app")
    create_site("existing.test", app.address)
    wait_for_sync()
    config_before = live_config(caddy)
    oplog = OperationsLog()

    result = manager.add_site(CaddyConfig(host="bad{host}.test", addresses=[]))

    assert (result.success, result.saved) == (False, False)
    assert result.error.startswith("host: ")
    assert "braces" in result.error
    assert list(Site.objects.values_list("host", flat=True)) == ["existing.test"]
    assert live_config(caddy) == config_before
    assert oplog.banner("ADD SITE COMPLETE", "bad{host}.test") is None


def test_add_site_with_a_bad_address_writes_nothing(caddy, manager):
    oplog = OperationsLog()

    result = manager.add_site(CaddyConfig(host="noport.test", addresses=["127.0.0.1"]))

    assert (result.success, result.saved) == (False, False)
    assert "127.0.0.1" in result.error
    assert not Site.objects.filter(host="noport.test").exists()
    assert oplog.banner("SITE CREATED", "noport.test") is None


def test_add_site_while_caddy_is_down_saves_it_and_reports_the_failure(
    caddy, upstreams, manager
):
    app = upstreams("app")
    caddy.stop()
    oplog = OperationsLog()

    result = manager.add_site(CaddyConfig(host="later.test", addresses=[app.address]))

    assert (result.success, result.saved) == (False, True)
    assert result.sync_status == "pending"
    assert "Connection refused" in result.error
    assert Site.objects.filter(host="later.test").exists()
    assert oplog.banner("ADD SITE COMPLETE", "later.test") is None
    assert oplog.banner("CADDY AUTO-SYNC FAILED", "later.test") is not None


def test_remove_site_of_an_unknown_host_says_so(caddy, manager):
    result = manager.remove_site("nobody.test")

    assert (result.success, result.saved) == (False, False)
    assert "nobody.test" in result.error


def test_update_site_of_an_unknown_host_says_so(caddy, manager):
    result = manager.update_site(CaddyConfig(host="nobody.test"))

    assert (result.success, result.saved) == (False, False)
    assert "nobody.test" in result.error


def test_add_site_of_a_host_that_exists_writes_nothing(caddy, upstreams, manager):
    app = upstreams("app")
    assert manager.add_site(CaddyConfig(host="twice.test", addresses=[app.address]))

    result = manager.add_site(CaddyConfig(host="twice.test", addresses=[]))

    assert (result.success, result.saved) == (False, False)
    assert result.error.startswith("host: ")
    assert list(Site.objects.get(host="twice.test").addresses.all()) != []
    assert_serves(caddy, "twice.test", app)


def test_sites_are_found_by_the_name_they_were_added_with(caddy, upstreams, manager):
    old, new = upstreams("old"), upstreams("new")
    added = manager.add_site(CaddyConfig(host="Bücher.Test.", addresses=[old.address]))
    assert added.host == "xn--bcher-kva.test"

    updated = manager.update_site(
        CaddyConfig(host="Bücher.Test.", addresses=[new.address])
    )
    assert updated.success, updated.error
    assert_serves(caddy, "xn--bcher-kva.test", new)

    removed = manager.remove_site("Bücher.Test.")
    assert removed.success, removed.error
    assert caddy.get("xn--bcher-kva.test").status_code == 404


def test_remove_site_of_a_malformed_host_says_so(caddy, manager):
    result = manager.remove_site("bad{host}.test")

    assert (result.success, result.saved) == (False, False)
    assert "braces" in result.error

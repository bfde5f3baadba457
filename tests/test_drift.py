"""A Caddy changed behind the project's back (edited by hand, restarted empty)
is noticed and put back as the database says; a Caddy already in step is
left alone."""

import httpx
import pytest

from site_management.caddy.specs import admin_listen
from site_management.caddy.sync import sync_all
from site_management.models import CaddyNode, SyncAttempt
from tests.conftest import wait_for_sync
from tests.support import (
    assert_serves,
    create_site,
    database_config,
    eventually,
    live_config,
    reconciling,
)

pytestmark = [pytest.mark.caddy]
HAND_EDITED = "edited by hand"


@pytest.fixture
def served(caddy, upstreams):
    """One site, live and served, synced by the project."""
    app = upstreams("app")
    posts = caddy.config_posts()
    site = create_site("drift.test", app.address)
    wait_for_sync()
    assert_serves(caddy, "drift.test", app)
    assert caddy.config_posts() > posts, "Caddy's log shows no POST of the sync"
    return site, app


def load_by_hand(caddy):
    """Replace Caddy's config the way an operator with curl would: another
    server on the same port that answers every host, same admin address."""
    config = {
        "admin": {"listen": admin_listen(caddy.api_url)},
        "apps": {
            "http": {
                "servers": {
                    "by_hand": {
                        "listen": [f"127.0.0.1:{caddy.http_port}"],
                        "routes": [
                            {
                                "handle": [
                                    {
                                        "handler": "static_response",
                                        "status_code": 200,
                                        "body": HAND_EDITED,
                                    }
                                ]
                            }
                        ],
                    }
                }
            }
        },
    }
    response = httpx.post(f"{caddy.api_url}/load", json=config, timeout=10)
    assert response.status_code == 200, response.text


def node():
    return CaddyNode.objects.get(name="default")


def assert_put_back(caddy, site, app):
    assert live_config(caddy) == database_config()
    assert_serves(caddy, site.host, app)
    site.refresh_from_db()
    assert (site.sync_status, site.sync_error) == ("live", "")


def test_a_config_loaded_by_hand_is_noticed_and_put_back_by_a_reconcile(caddy, served):
    site, app = served
    assert node().last_drift_at is None
    load_by_hand(caddy)
    assert caddy.get("drift.test").text == HAND_EDITED

    (outcome,) = sync_all("reconcile")

    assert (outcome.result, outcome.drift) == ("applied", True)
    assert_put_back(caddy, site, app)
    attempt = SyncAttempt.objects.first()
    assert (attempt.result, attempt.drift, attempt.trigger) == (
        "applied",
        True,
        "reconcile",
    )
    assert node().last_drift_at == attempt.started_at


def test_a_route_deleted_by_hand_is_put_back_by_the_periodic_reconcile(caddy, served):
    site, app = served
    deleted = httpx.delete(f"{caddy.api_url}/id/site-{site.pk}", timeout=10)
    assert deleted.status_code == 200, deleted.text
    assert caddy.get("drift.test").text != f"upstream {app.name}"

    with reconciling(1):
        eventually(lambda: caddy.get("drift.test").text == f"upstream {app.name}")

    assert_put_back(caddy, site, app)
    repair = SyncAttempt.objects.filter(drift=True).get()
    assert (repair.result, repair.trigger) == ("applied", "reconcile")
    assert node().last_drift_at == repair.started_at


def test_a_caddy_restarted_empty_is_put_back_by_the_periodic_reconcile_alone(
    caddy, served
):
    site, app = served
    caddy.stop()
    caddy.start()
    assert "apps" not in live_config(caddy)

    # No save and no command from here on: only the reconcile loop.
    with reconciling(1):
        eventually(lambda: live_config(caddy) == database_config())

    assert_put_back(caddy, site, app)
    repair = SyncAttempt.objects.filter(drift=True).get()
    assert (repair.result, repair.trigger) == ("applied", "reconcile")
    assert node().last_drift_at == repair.started_at
    assert node().last_result in ("applied", "unchanged")


def test_syncing_again_without_a_change_is_unchanged_and_posts_nothing(caddy, served):
    site, app = served
    posts = caddy.config_posts()

    (outcome,) = sync_all("test")

    assert (outcome.result, outcome.drift) == ("unchanged", False)
    assert caddy.config_posts() == posts
    attempt = SyncAttempt.objects.first()
    assert (attempt.result, attempt.drift, attempt.trigger) == (
        "unchanged",
        False,
        "test",
    )
    assert node().last_drift_at is None
    assert_put_back(caddy, site, app)


def test_a_caddy_restarted_with_the_same_config_has_not_drifted(caddy, served):
    same = live_config(caddy)
    caddy.stop()
    caddy.start(config=same)

    [outcome] = sync_all("test")

    assert (outcome.result, outcome.drift) == ("unchanged", False)
    assert CaddyNode.objects.get().last_drift_at is None

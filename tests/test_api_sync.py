"""The sync through the API, against a real Caddy: state, sync now, the
rendered config, the preview of differences, and the history."""

import json

import pytest

from site_management.caddy.client import CaddyClient
from site_management.models import Site, SyncAttempt
from tests.api_support import forget_throttles, operator_user, staff_user, token_client
from tests.conftest import wait_for_sync
from tests.support import assert_serves, create_site, database_config, live_config

pytestmark = [pytest.mark.caddy]


@pytest.fixture(autouse=True)
def fresh_throttles():
    forget_throttles()


def test_sync_now_applies_and_reports(caddy, upstreams):
    app = upstreams("app")
    create_site("now.test", app.address, protocol="http")
    wait_for_sync()
    # Caddy lost its config behind our back; sync now puts it back at once.
    caddy.stop()
    caddy.start()

    response = token_client(staff_user("ops")).post("/api/sync/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is True
    assert body["outcomes"][0]["result"] == "applied"
    assert_serves(caddy, "now.test", app)
    assert SyncAttempt.objects.filter(trigger="sync now by ops").count() == 1


def test_sync_now_with_caddy_down_is_a_502_and_the_site_stays_saved(caddy):
    client = token_client(staff_user())
    caddy.stop()

    created = client.post(
        "/api/sites/", {"host": "down.test", "protocol": "http"}, format="json"
    )
    response = client.post("/api/sync/")

    assert created.status_code == 201
    assert response.status_code == 502
    outcome = response.json()["outcomes"][0]
    assert (response.json()["ok"], outcome["result"]) == (False, "unreachable")
    assert outcome["error"]
    site = Site.objects.get(host="down.test")
    assert site.sync_status == "pending" and site.sync_error
    assert client.get("/api/sync/diff/").status_code == 502
    caddy.start()


def test_state_counts_sites_per_state_and_shows_the_node(caddy, upstreams):
    app = upstreams("app")
    create_site("a.test", app.address, protocol="http")
    create_site("b.test", app.address, protocol="http")
    wait_for_sync()
    Site.objects.filter(host="b.test").update(sync_status="failed")

    body = token_client(operator_user()).get("/api/sync/").json()

    assert body["sites"] == {"pending": 0, "live": 1, "failed": 1, "drifted": 0}
    assert [node["name"] for node in body["nodes"]] == ["default"]
    assert body["nodes"][0]["last_result"] in ("applied", "unchanged")


def test_rendered_config_is_what_the_sync_applies(caddy, upstreams):
    app = upstreams("app")
    create_site("cfg.test", app.address, protocol="http")
    wait_for_sync()

    body = token_client(operator_user()).get("/api/sync/config/").json()

    assert body["config"] == database_config() == live_config(caddy)
    assert body["refused"] == {}
    assert len(body["config_hash"]) == 64


def test_diff_previews_a_hand_edit_without_applying_it(caddy, upstreams):
    app = upstreams("app")
    site = create_site("diff.test", app.address, protocol="http")
    wait_for_sync()
    client = token_client(operator_user())
    assert client.get("/api/sync/diff/").json()["in_step"] is True

    admin = CaddyClient(caddy.api_url, timeout=5)
    edited, etag = admin.get_config()
    edited["apps"]["http"]["servers"].pop(next(iter(edited["apps"]["http"]["servers"])))
    admin.replace_config(json.dumps(edited).encode(), etag)

    body = client.get("/api/sync/diff/").json()

    assert body["in_step"] is False
    assert body["patch"] and {op["op"] for op in body["patch"]} <= {
        "add",
        "remove",
        "replace",
        "move",
        "copy",
    }
    sites = {entry["host"]: entry for entry in body["sites"]}
    assert sites["diff.test"]["id"] == site.pk
    assert sites["diff.test"]["verdict"] == "drifted"
    # A preview only: Caddy still runs the hand edit.
    assert live_config(caddy) == edited


def test_history_lists_attempts_newest_first_and_filters(caddy, upstreams):
    app = upstreams("app")
    create_site("hist.test", app.address, protocol="http")
    wait_for_sync()
    caddy.stop()
    token_client(staff_user()).post("/api/sync/")
    caddy.start()

    client = token_client(operator_user())
    everything = client.get("/api/sync/history/").json()
    unreachable = client.get("/api/sync/history/?result=unreachable").json()

    assert everything["count"] == SyncAttempt.objects.count() >= 2
    assert everything["results"][0]["result"] == "unreachable"
    assert [a["result"] for a in unreachable["results"]] == ["unreachable"]
    one = client.get(f"/api/sync/history/{unreachable['results'][0]['id']}/").json()
    assert one["node"] == "default" and one["error"]


def test_only_sync_now_counts_against_the_sync_rate(caddy, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    rates = {**SimpleRateThrottle.THROTTLE_RATES, "sync": "2/minute"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    client = token_client(staff_user())

    reads = [client.get("/api/sync/").status_code for _ in range(5)]
    runs = [client.post("/api/sync/").status_code for _ in range(3)]

    assert reads == [200] * 5
    assert runs == [200, 200, 429]

"""Operators hear once when a node starts failing and once when it recovers,
by email and webhook, however many syncs fail in between; a notification
that cannot be delivered never breaks the sync."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from site_management.caddy.background import syncer
from site_management.caddy.sync import sync_all
from site_management.models import CaddyNode, Site, SyncAttempt
from tests.conftest import wait_for_sync
from tests.harness import free_port
from tests.support import assert_serves, create_site, eventually

pytestmark = [pytest.mark.caddy]
OPS = "ops@example.test"


class WebhookReceiver:
    """A local HTTP endpoint that keeps every JSON body posted to it."""

    def __init__(self, status=200):
        self.status = status
        self.bodies = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def events(self):
        return [body["event"] for body in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def notify_to(settings):
    """Send notifications to ops by email and to a webhook URL of the test's
    choosing; retries come quickly."""
    settings.CADDY_NOTIFY_EMAILS = [OPS]
    settings.CADDY_RETRY_MAX_SECONDS = 1

    def choose(url):
        settings.CADDY_NOTIFY_WEBHOOK_URL = url

    return choose


@pytest.fixture
def receiver(notify_to):
    receiver = WebhookReceiver()
    notify_to(receiver.url)
    yield receiver
    receiver.close()


def subjects():
    return [message.subject for message in mail.outbox]


def unreachable_attempts():
    return SyncAttempt.objects.filter(result="unreachable").count()


def restart_and_wait_for_the_retry(caddy):
    """Start Caddy and run the pending retry. A retry already under way may
    have started before Caddy was up and fail once more; it is then retried
    again, within CADDY_RETRY_MAX_SECONDS."""
    caddy.start()

    def applied():
        assert syncer.flush()
        return CaddyNode.objects.get(name="default").last_result == "applied"

    eventually(applied)


def fail_several_times(caddy, upstreams):
    """Stop Caddy, then save three sites and let each save's sync and a few
    retries fail."""
    caddy.stop()
    for name in ("one", "two", "three"):
        create_site(f"{name}.test", upstreams(name).address)
        wait_for_sync()
        wait_for_sync()  # runs the scheduled retry now; it fails again
    sync_all("test")
    assert unreachable_attempts() >= 6


def test_an_outage_sends_one_failure_and_one_recovery_notice(
    caddy, upstreams, receiver
):
    app = upstreams("app")
    create_site("app.test", app.address)
    wait_for_sync()
    assert (subjects(), receiver.bodies) == ([], [])

    fail_several_times(caddy, upstreams)

    assert subjects() == ["Caddy sync is failing on node default"]
    assert mail.outbox[0].to == [OPS]
    assert "Connection refused" in mail.outbox[0].body
    assert receiver.events() == ["caddy_sync_failed"]
    failed = receiver.bodies[0]
    assert failed["node"] == "default"
    assert failed["admin_url"] == caddy.api_url
    assert "Connection refused" in failed["detail"]

    restart_and_wait_for_the_retry(caddy)

    assert subjects()[1:] == ["Caddy sync has recovered on node default"]
    assert receiver.events() == ["caddy_sync_failed", "caddy_sync_recovered"]
    assert receiver.bodies[1]["node"] == "default"

    (outcome,) = sync_all("test")
    assert outcome.result == "unchanged"
    assert len(mail.outbox) == 2
    assert len(receiver.bodies) == 2
    assert_serves(caddy, "app.test", app)


def assert_outage_recorded_and_recovered(caddy, upstreams):
    app = upstreams("app")
    caddy.stop()

    site = create_site("app.test", app.address)
    wait_for_sync()

    attempt = SyncAttempt.objects.first()
    assert attempt.result == "unreachable"
    assert "Connection refused" in attempt.error
    site.refresh_from_db()
    assert site.sync_status == "pending"
    node = CaddyNode.objects.get(name="default")
    assert (node.last_result, node.failing_since is not None) == ("unreachable", True)

    restart_and_wait_for_the_retry(caddy)

    assert SyncAttempt.objects.first().result == "applied"
    assert Site.objects.get(host="app.test").sync_status == "live"
    assert CaddyNode.objects.get(name="default").failing_since is None
    assert_serves(caddy, "app.test", app)
    assert subjects() == [
        "Caddy sync is failing on node default",
        "Caddy sync has recovered on node default",
    ]


def test_a_webhook_receiver_that_is_down_does_not_break_the_sync(
    caddy, upstreams, notify_to
):
    notify_to(f"http://127.0.0.1:{free_port()}/hook")  # nothing listens there

    assert_outage_recorded_and_recovered(caddy, upstreams)


def test_a_webhook_receiver_answering_500_does_not_break_the_sync(
    caddy, upstreams, receiver
):
    receiver.status = 500

    assert_outage_recorded_and_recovered(caddy, upstreams)

    assert receiver.events() == ["caddy_sync_failed", "caddy_sync_recovered"]

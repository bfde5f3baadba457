"""The sync through Celery: saves in this process queue a task on the real
Redis broker, a real `celery worker --beat` child applies it to the real Caddy,
and what Caddy serves is checked with real HTTP requests.

The worker is another process, so its work is awaited with `eventually`:
there is nothing to wait on but the outcome.
"""

import logging
import os
import re
import uuid
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import httpx
import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db.models import Max
from django.test import override_settings

from site_management.caddy.render import MAINTENANCE_BODY, NOT_FOUND_BODY
from site_management.models import CaddyNode, Site, SyncAttempt
from tests.harness import CeleryWorker, forget_celery_queue
from tests.support import (
    child_environment,
    create_site,
    database_config,
    eventually,
    live_config,
)
from waf_app.celery import app as celery_app

pytestmark = [pytest.mark.caddy]
BROKER_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"
REFUSED = "Connection refused"


@pytest.fixture(scope="session")
def celery_queue():
    """A queue of this test run's own, so a shared Redis can carry others."""
    try:
        redis.Redis.from_url(BROKER_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"no Redis broker at {BROKER_URL}: {error}")
    queue = f"caddy-test-{uuid.uuid4().hex[:12]}"
    yield queue
    forget_celery_queue(BROKER_URL, queue)


@contextmanager
def publishing_to(broker_url, queue):
    """Saves in this process queue their sync on `broker_url`."""
    try:
        with override_settings(
            CELERY_BROKER_URL=broker_url, CELERY_TASK_DEFAULT_QUEUE=queue
        ):
            reload_celery_settings()
            yield
    finally:
        reload_celery_settings()


def reload_celery_settings():
    """Make Celery read the settings in force now and connect afresh.

    Celery keeps the settings object it found when first used (an earlier
    override_settings, say), and keeps the connection pool and the producer
    pool of that broker; `close()` forgets only the first. (Kombu keeps both
    pools per broker URL, to be found again, so they are not closed here.)
    """
    celery_app.config_from_object(
        "django.conf:settings", namespace="CELERY", force=True
    )
    celery_app.close()
    celery_app.amqp._producer_pool = None


@pytest.fixture
def worker(caddy, celery_queue, tmp_path):
    """A Celery worker with beat for this test's database and Caddy; not
    started yet. Beat reconciles every 2 s and retries wait at most 2 s."""
    environment = child_environment(
        caddy,
        WAF_STATE_DIR=str(settings.STATE_DIR),
        CELERY_BROKER_URL=BROKER_URL,
        CELERY_QUEUE=celery_queue,
        CADDY_RECONCILE_SECONDS="2",
        CADDY_RETRY_MAX_SECONDS="2",
        CADDY_TIMEOUT_SECONDS="5",
    )
    worker = CeleryWorker(celery_queue, environment, tmp_path)
    yield worker
    worker.stop()
    # Tasks still waiting (a retry, say) must not reach the next test's worker.
    forget_celery_queue(BROKER_URL, celery_queue)
    assert "raised unexpected" not in worker.log(), "a task crashed in the worker"


@pytest.fixture
def celery_worker(worker, celery_queue):
    """A running worker, and this process's saves queued for it."""
    with publishing_to(BROKER_URL, celery_queue):
        worker.start()
        yield worker


def serves(caddy, host, upstream):
    try:
        response = caddy.get(host)
    except httpx.HTTPError:
        return False
    return (response.status_code, response.text) == (200, f"upstream {upstream.name}")


def answers(caddy, host):
    try:
        response = caddy.get(host)
    except httpx.HTTPError as error:
        return type(error).__name__
    return response.status_code, response.text


def site_state(site):
    site.refresh_from_db()
    return site.sync_status, site.sync_error


def caddy_matches_the_database(caddy):
    try:
        return live_config(caddy) == database_config()
    except Exception as error:  # Caddy stopped or restarting
        raise AssertionError(f"no config from Caddy: {error}") from None


def change_syncs():
    """The sync attempts that queued tasks ran; beat's have trigger reconcile."""
    return SyncAttempt.objects.exclude(trigger="reconcile")


def failed_syncs():
    return SyncAttempt.objects.filter(result="unreachable").count()


def task_ids(log, outcome):
    """Ids of sync tasks the worker logged with `outcome` (retry, succeeded)."""
    pattern = rf"Task site_management\.tasks\.sync\[([0-9a-f-]+)\] {outcome}"
    return set(re.findall(pattern, log))


def waiting_for_retry(log):
    """Ids of sync tasks whose last word in the log was a retry."""
    pattern = r"Task site_management\.tasks\.sync\[([0-9a-f-]+)\] (retry|succeeded)"
    last = dict(re.findall(pattern, log))
    return {task for task, outcome in last.items() if outcome == "retry"}


def test_a_site_saved_here_is_served_through_the_celery_worker(
    celery_worker, caddy, upstreams
):
    app = upstreams("app")

    site = create_site("celery.test", app.address)

    eventually(lambda: serves(caddy, "celery.test", app), what="served")
    eventually(lambda: site_state(site) == ("live", ""), what="site live")
    # Beat may have got there first; the queued task runs all the same.
    eventually(
        lambda: change_syncs().filter(trigger__endswith=" celery.test").exists(),
        what="the queued sync",
    )
    eventually(lambda: task_ids(celery_worker.log(), "succeeded"), what="a task")


def test_a_burst_of_saves_makes_few_tasks_and_few_config_loads(
    celery_worker, caddy, upstreams
):
    apps = [upstreams(f"app{number}") for number in range(4)]
    hosts = [f"site{number:03d}.burst.test" for number in range(200)]
    posts_before = caddy.config_posts()

    for number, host in enumerate(hosts):
        create_site(host, apps[number % len(apps)].address)
    saves = 2 * len(hosts)  # a site and its address each

    eventually(lambda: caddy_matches_the_database(caddy), what="caddy in step")
    eventually(
        lambda: set(Site.objects.values_list("sync_status", flat=True)) == {"live"},
        what="every site live",
    )
    posts = caddy.config_posts() - posts_before
    syncs = change_syncs().count()
    received = len(task_ids(celery_worker.log(), "received"))
    print(f"\n{saves} saves, {syncs} sync tasks, {posts} config loads")
    assert 1 <= posts <= saves // 10
    assert 1 <= syncs <= saves // 10
    assert received <= saves // 10

    with httpx.Client(
        base_url=f"http://127.0.0.1:{caddy.http_port}", timeout=10
    ) as http:
        got = {host: http.get("/", headers={"Host": host}) for host in hosts}
    wrong = {
        host: (response.status_code, response.text)
        for number, (host, response) in enumerate(got.items())
        if (response.status_code, response.text)
        != (200, f"upstream {apps[number % len(apps)].name}")
    }
    assert wrong == {}


def test_changes_while_caddy_is_down_reach_a_caddy_that_restarted_empty(
    celery_worker, caddy, upstreams
):
    kept, edited, added, deleted = (
        upstreams(name) for name in ("kept", "edited", "added", "deleted")
    )
    create_site("kept.test", kept.address)
    to_edit = create_site("edited.test", edited.address)
    to_delete = create_site("deleted.test", deleted.address)
    eventually(lambda: serves(caddy, "deleted.test", deleted), what="served")
    caddy.stop()

    added_site = create_site("added.test", added.address)
    to_edit.status = Site.Status.MAINTENANCE
    to_edit.save()
    to_delete.delete()

    def failure_recorded():
        node = CaddyNode.objects.get(name="default")
        assert node.last_result == "unreachable" and REFUSED in node.last_error
        for site in (added_site, to_edit):
            site.refresh_from_db()
            assert site.sync_status == "pending", site.host
            assert REFUSED in site.sync_error, site.host
        return True

    eventually(failure_recorded, what="the failure on the rows")
    assert not Site.objects.filter(host="deleted.test").exists()
    # The sync task failed and waits to be retried ("Retry in 0.7s").
    waiting = eventually(
        lambda: waiting_for_retry(celery_worker.log()), what="a task to retry"
    )

    log_before_restart = len(celery_worker.log())
    caddy.start()  # empty, like a fresh process with no --resume

    eventually(lambda: caddy_matches_the_database(caddy), what="caddy in step")
    assert serves(caddy, "kept.test", kept)
    assert serves(caddy, "added.test", added)
    assert answers(caddy, "edited.test") == (503, MAINTENANCE_BODY)
    assert answers(caddy, "deleted.test") == (404, NOT_FOUND_BODY)
    eventually(
        lambda: (
            set(Site.objects.values_list("sync_status", "sync_error")) == {("live", "")}
        ),
        what="every site live",
    )
    # The task that waited succeeds on a later try, once Caddy is back.
    eventually(
        lambda: (
            waiting & task_ids(celery_worker.log()[log_before_restart:], "succeeded")
        ),
        what="the retried task succeeding",
    )


def test_saves_spread_over_an_outage_keep_one_task_retrying(
    celery_worker, caddy, upstreams
):
    app = upstreams("app")
    caddy.stop()
    hosts = [f"outage{number}.test" for number in range(5)]

    for host in hosts:
        failed_before = failed_syncs()
        create_site(host, app.address)
        # The sync this save asked for, or a retry, has failed since.
        eventually(
            lambda before=failed_before: failed_syncs() > before,
            what="a failed sync",
        )

    # One task waits for its retry; a second only for a moment, when a save
    # came between a failed task's start and its retry, and the older task
    # hands over to it.
    waiting = eventually(
        lambda: waiting_for_retry(celery_worker.log()), what="a task to retry"
    )
    assert len(waiting) <= 2, waiting
    caddy.start()
    eventually(lambda: caddy_matches_the_database(caddy), what="caddy in step")
    assert all(serves(caddy, host, app) for host in hosts)


def by_hand(caddy):
    """Another config, as an operator might load it: same admin endpoint, a
    server that answers every host itself."""
    route = {"handle": [{"handler": "static_response", "body": "edited by hand"}]}
    server = {"listen": [f"127.0.0.1:{caddy.http_port}"], "routes": [route]}
    return {
        "admin": live_config(caddy)["admin"],
        "apps": {"http": {"servers": {"by-hand": server}}},
    }


def test_beat_puts_back_a_caddy_edited_by_hand(celery_worker, caddy, upstreams):
    app = upstreams("app")
    site = create_site("drift.test", app.address)
    eventually(lambda: site_state(site) == ("live", ""), what="site live")
    # Once beat has found everything in step, no queued task is left that
    # could undo the edit before beat does.
    last = SyncAttempt.objects.aggregate(last=Max("id"))["last"]
    eventually(
        lambda: SyncAttempt.objects.filter(
            id__gt=last, trigger="reconcile", result="unchanged"
        ).exists(),
        what="a quiet reconcile",
    )

    response = httpx.post(f"{caddy.api_url}/load", json=by_hand(caddy), timeout=10)
    assert response.status_code == 200, response.text

    eventually(lambda: serves(caddy, "drift.test", app), what="served again")
    assert caddy_matches_the_database(caddy)
    # Caddy serves the config a moment before the attempt is recorded.
    drifted = eventually(
        lambda: SyncAttempt.objects.filter(drift=True).first(), what="drift seen"
    )
    assert SyncAttempt.objects.filter(drift=True).count() == 1
    assert (drifted.trigger, drifted.result) == ("reconcile", "applied")
    assert CaddyNode.objects.get(name="default").last_drift_at is not None


def assert_one_at_a_time(attempts):
    """Each attempt started after the one before had finished applying: the
    node's lease kept the command and the worker from interleaving."""
    attempts = list(attempts)
    for before, after in zip(attempts, attempts[1:], strict=False):
        finished = before.started_at + timedelta(milliseconds=before.duration_ms)
        assert finished <= after.started_at, (before.trigger, after.trigger)


def test_caddy_sync_commands_and_the_worker_apply_in_turn(
    celery_worker, caddy, upstreams
):
    apps = [upstreams(f"app{number}") for number in range(3)]

    for turn in range(5):
        for number in range(20):
            create_site(f"r{turn}-{number:02d}.turns.test", apps[number % 3].address)
        Site.objects.filter(host=f"r{turn}-00.turns.test").delete()
        edited = Site.objects.get(host=f"r{turn}-01.turns.test")
        edited.status = Site.Status.MAINTENANCE
        edited.save()
        call_command("caddy_sync", stdout=StringIO())

    eventually(lambda: caddy_matches_the_database(caddy), what="caddy in step")
    eventually(
        lambda: set(Site.objects.values_list("sync_status", flat=True)) == {"live"},
        what="every site live",
    )
    assert change_syncs().filter(trigger="caddy_sync command").count() == 5
    eventually(
        lambda: change_syncs().exclude(trigger="caddy_sync command").exists(),
        what="a sync by the worker",
    )
    assert_one_at_a_time(SyncAttempt.objects.order_by("started_at"))
    assert serves(caddy, "r4-02.turns.test", apps[2])
    assert answers(caddy, "r4-01.turns.test") == (503, MAINTENANCE_BODY)
    assert answers(caddy, "r4-00.turns.test") == (404, NOT_FOUND_BODY)


def test_saving_while_the_broker_is_unreachable_leaves_the_change_to_reconcile(
    worker, caddy, celery_queue, upstreams, caplog
):
    app = upstreams("app")

    with caplog.at_level(logging.WARNING, logger="site_management.caddy.queue"):
        with publishing_to(UNREACHABLE_BROKER_URL, celery_queue):
            site = create_site("no-broker.test", app.address)

    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and "could not queue a sync" in errors[0].getMessage()
    site.refresh_from_db()
    assert site.sync_status == "pending"
    assert not SyncAttempt.objects.exists()

    worker.start()  # with the broker back, beat's reconcile applies it

    eventually(lambda: serves(caddy, "no-broker.test", app), what="served")
    eventually(lambda: site_state(site) == ("live", ""), what="site live")
    assert set(SyncAttempt.objects.values_list("trigger", flat=True)) == {"reconcile"}

"""Coalescing sync requests through the broker.

Many saves in a row must not queue many syncs. A Redis key marks "a sync is
queued"; a request queues a task only when it sets that key, and the task
clears the key once it holds the node, before it reads the database, so a
change committed after that point queues the next sync. A failed sync that
will be retried sets the key again, unless a newer request has set it.
"""

import logging

import redis
from django.conf import settings
from kombu.exceptions import OperationalError

log = logging.getLogger("site_management.caddy.queue")
KEY_TTL_SECONDS = 300


def _queued_key():
    return f"{settings.CELERY_TASK_DEFAULT_QUEUE}:sync-queued"


def _redis():
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_timeout=5, socket_connect_timeout=5
    )


def request(reason):
    from waf_app.celery import app

    delay = settings.CADDY_SYNC_DEBOUNCE_MS / 1000
    try:
        queued = _redis().set(_queued_key(), reason, nx=True, ex=KEY_TTL_SECONDS)
    except (redis.ConnectionError, redis.TimeoutError) as error:
        # The mark lives on the broker: publishing would fail too, but only
        # after Celery's connect timeout and retries, seconds for every save.
        log.error("could not queue a sync (%s); reconcile will apply it", error)
        return
    except redis.RedisError as error:
        # Queue anyway: an extra sync costs little, a lost one leaves the
        # change waiting for the next reconcile.
        log.warning("coalescing unavailable (%s); queueing a sync", error)
        queued = True
    if not queued:
        return
    try:
        app.send_task(
            "site_management.tasks.sync",
            kwargs={"trigger": reason},
            countdown=delay,
            retry=False,
        )
    except OperationalError as error:
        # The save has committed; the periodic reconcile applies it later.
        log.error("could not queue a sync (%s); reconcile will apply it", error)
        claim()


def mark_again(reason):
    """Set the mark for a sync that will be retried; False when a newer
    request has set it, so a sync is queued already and will retry itself."""
    try:
        return bool(_redis().set(_queued_key(), reason, nx=True, ex=KEY_TTL_SECONDS))
    except redis.RedisError as error:
        log.warning("could not set the queued-sync mark: %s", error)
        return True


def claim():
    try:
        _redis().delete(_queued_key())
    except redis.RedisError as error:
        log.warning("could not clear the queued-sync mark: %s", error)

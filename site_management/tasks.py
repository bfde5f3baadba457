"""Celery tasks: thin wrappers around the same service functions that the
in-process trigger, the commands and the tests call."""

import logging

from celery import shared_task

from site_management.caddy import retry
from site_management.caddy.sync import LeaseBusy, prune_history, sync_all

log = logging.getLogger("site_management.tasks")


@shared_task(bind=True, max_retries=None, name="site_management.tasks.sync")
def sync(self, trigger="change"):
    from site_management.caddy import queue

    try:
        # The queued mark is cleared only once the node is ours: while this
        # task waits for the lease it still covers every change saved since.
        outcomes = sync_all(trigger=trigger, on_lease=queue.claim)
    except LeaseBusy:
        raise self.retry(countdown=retry.BUSY_SECONDS) from None
    if not any(outcome.retryable for outcome in outcomes):
        return
    # One queued sync covers every change: while Caddy is down, each save
    # must not leave a task of its own retrying.
    if not queue.mark_again(trigger):
        log.info("sync failed; the sync queued since then will retry")
        return
    delay = retry.backoff_seconds(self.request.retries + 1)
    raise self.retry(countdown=delay)


@shared_task(name="site_management.tasks.reconcile")
def reconcile():
    try:
        sync_all(trigger="reconcile")
    except LeaseBusy:
        log.info("reconcile skipped: a sync is running")
    prune_history()

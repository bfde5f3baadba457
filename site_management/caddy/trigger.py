"""Ask for a sync once the current transaction commits.

Nothing here talks to Caddy, so a save can never fail because Caddy is down;
a rolled-back transaction asks for nothing. With CELERY_BROKER_URL set the
request goes to the Celery workers, otherwise to this process's background
syncer.
"""

from django.conf import settings
from django.db import transaction

from site_management.caddy.background import syncer


def request_sync(reason, host=None):
    transaction.on_commit(lambda: _dispatch(reason, host))


def _dispatch(reason, host):
    if settings.CELERY_BROKER_URL:
        from site_management.caddy import queue

        queue.request(reason)
    else:
        syncer.request(reason, host)

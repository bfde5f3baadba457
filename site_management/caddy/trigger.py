"""Ask for a sync once the current transaction commits.

Nothing here talks to Caddy, so a save can never fail because Caddy is down;
a rolled-back transaction asks for nothing.
"""

from django.db import transaction

from site_management.caddy.background import syncer


def request_sync(reason, host=None):
    transaction.on_commit(lambda: syncer.request(reason, host))
